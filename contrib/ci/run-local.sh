#!/bin/bash
# Run contrib/ci/gitlab-ci.yml locally with gitlab-ci-local (npm package,
# installed under build/ci-tools on first use; 4.65.0 is the last release
# that runs on Debian 12's Node.js 20), shell executor, for a few matrix
# cells (default: two x86 cells, about a minute each), reusing this
# machine's plugfault cache.  Not part of make check.
#   contrib/ci/run-local.sh                      # the two default cells
#   contrib/ci/run-local.sh 'scenario: [debian-ppc64el-6.12,pnv-device-del]'
set -euo pipefail
cd "$(dirname "$0")/../.."
GCL_VERSION=4.65.0
command -v rsync >/dev/null || { echo "run-local: gitlab-ci-local needs rsync (apt-get install rsync)" >&2; exit 2; }
GCL=build/ci-tools/node_modules/.bin/gitlab-ci-local
if ! [[ -x $GCL ]] || [[ $($GCL --version 2>/dev/null | tail -1) != "$GCL_VERSION" ]]; then
    npm install --no-audit --no-fund --prefix build/ci-tools "gitlab-ci-local@$GCL_VERSION"
fi
jobs=("$@")
((${#jobs[@]})) || jobs=('scenario: [debian-amd64-6.12,vtd-ite-injected]'
                        'scenario: [debian-amd64-6.1,vtd-ite-surprise-removal]')
cache=${PLUGFAULT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plugfault}
$GCL --file contrib/ci/gitlab-ci.yml --state-dir build/gitlab-ci-local \
    --variable "PLUGFAULT_CACHE=$cache" --concurrency 1 "${jobs[@]}"
rc=$?
# what each job published: its JUnit and artifacts directory
for j in ci-artifacts/*/junit.xml; do
    [[ -e $j ]] && echo "junit: $j: $(grep -o 'tests="[0-9]*" failures="[0-9]*"' "$j" | head -1)"
done
exit $rc
