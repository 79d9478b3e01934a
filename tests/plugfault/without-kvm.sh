#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# without-kvm.sh COMMAND...: run COMMAND as on a host without /dev/kvm.
#
# The base's bios-tables-test starts QEMU with "-accel kvm -accel tcg" and
# adds KVM-only cases when /dev/kvm is usable.  Its expected tables assume
# SMM; a KVM without KVM_CAP_X86_SMM (nested hosts, this CI's) builds a
# FACP with no SMI command port, so the test's verdict would depend on the
# host, the untouched base failing the same.  In a private mount namespace
# /dev is a copy without kvm: the test runs under TCG, as in QEMU's own CI
# containers.  Needs root (unshare); elsewhere COMMAND runs as it is.
set -eu
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    exec "$@"
fi
exec unshare --mount --propagation private sh -eu -c '
    old=$(mktemp -d /tmp/pf-dev.XXXXXX)
    mount --bind /dev "$old"
    mount -t tmpfs -o mode=0755 pf-dev /dev
    for n in null zero full random urandom tty ptmx; do
        [ -e "$old/$n" ] || continue
        : > "/dev/$n"
        mount --bind "$old/$n" "/dev/$n"
    done
    for d in shm pts mqueue hugepages; do
        [ -d "$old/$d" ] || continue
        mkdir "/dev/$d"
        mount --bind "$old/$d" "/dev/$d"
    done
    ln -s /proc/self/fd /dev/fd
    umount -l "$old" && rmdir "$old"
    exec "$@"' without-kvm "$@"
