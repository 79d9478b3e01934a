#!/usr/bin/env python3
"""compat_migration.py fails a run whose QEMU exits non-zero when told to
quit (what a LeakSanitizer report at exit does to a sanitizer build), even
though the migration itself succeeded: the destination here is our QEMU
behind a wrapper that exits 23, LeakSanitizer's exit code.

  exit_checked.py --qemu BINARY
"""

import argparse
import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--qemu", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-exit-checked-") as tmp:
        wrapper = os.path.join(tmp, "qemu-exits-23")
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\n"{args.qemu}" "$@"\nexit 23\n')
        os.chmod(wrapper, stat.S_IRWXU)
        res = subprocess.run([sys.executable, os.path.join(HERE, "compat_migration.py"),
                              "--name", "exit-checked", "--src", args.qemu, "--dst", wrapper],
                             capture_output=True, text=True, timeout=100, check=False)
    want = "destination exited with 23 when told to quit"
    if res.returncode == 1 and want in res.stderr:
        print(f"exit-checked: ok: {want}")
        return 0
    print(f"exit-checked: FAIL: compat_migration.py exit {res.returncode}, "
          f"wanted 1 and '{want}'\n{res.stdout}{res.stderr}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
