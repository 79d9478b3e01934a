#!/usr/bin/env python3
"""Static migration compatibility of our build against the untouched base.

For one machine type: dump our binary's VMState descriptions
(-dump-vmstate) and run the base's scripts/vmstate-static-checker.py with
the untouched base's dump (tests/plugfault/migration/vmstate/MACHINE.json.xz,
made by scripts/vmstate-refs) as the source and ours as the destination:
everything the base sends, ours must accept (fields unchanged, versions not
raised past what the base sends, new state only in subsections).

The reverse direction (ours as the source) is printed too, for information:
it lists what only we have (new sections and subsections), each of which must
stay unsent with our features off; the live migration check
(compat_migration.py) proves that for q35.

  vmstate_check.py --qemu BINARY --machine M --ref FILE.json.xz --checker PY

exit 0: compatible; 1: the checker reported something (its report printed).
"""

import argparse
import lzma
import os
import subprocess
import sys
import tempfile


def dump(qemu, machine, out):
    res = subprocess.run([qemu, "-M", machine, "-nodefaults", "-display", "none",
                          "-dump-vmstate", out],
                         capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0 or not os.path.getsize(out):
        sys.exit(f"vmstate-check: {qemu} -M {machine} -dump-vmstate failed "
                 f"(exit {res.returncode}): {res.stderr.strip()}")


def checker(script, src, dst):
    res = subprocess.run([sys.executable, script, "-s", src, "-d", dst],
                         capture_output=True, text=True, timeout=120, check=False)
    return res.returncode, (res.stdout + res.stderr).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--checker", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-vmstate-") as tmp:
        ref = os.path.join(tmp, "base.json")
        ours = os.path.join(tmp, "ours.json")
        with lzma.open(args.ref) as f, open(ref, "wb") as out:
            out.write(f.read())
        dump(args.qemu, args.machine, ours)
        rc, report = checker(args.checker, ref, ours)
        _, back = checker(args.checker, ours, ref)
    print(f"vmstate {args.machine}: untouched base -> ours: "
          + ("compatible" if rc == 0 else f"{rc} problem(s)"))
    if report:
        print("  " + report.replace("\n", "\n  "))
    print(f"vmstate {args.machine}: ours -> base (information: state only ours has, "
          "which must stay unsent with our features off):")
    print("  " + (back.replace("\n", "\n  ") if back else "(nothing)"))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
