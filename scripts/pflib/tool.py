"""Sub-commands used by ./configure and the Makefile (python3 -m pflib.tool CMD)."""

import argparse
import sys
from pathlib import Path

from . import assemble, debfetch

REPO = Path(__file__).resolve().parents[2]


def cmd_base(args):
    print(debfetch.fetch_base(debfetch.read_pins(REPO)))


def cmd_firmware(args):
    """Link the firmware into the build's qemu-bundle data dir.

    QEMU binaries run from a build directory look for data files below
    <builddir>/qemu-bundle/<datadir>, so the links make skiboot, SLOF, SeaBIOS,
    the VGA BIOSes, the iPXE ROMs and the other boards' firmware available
    without -L.
    """
    root = debfetch.fetch_firmware(debfetch.read_pins(REPO))
    dest = Path(args.datadir)
    dest.mkdir(parents=True, exist_ok=True)
    files = debfetch.firmware_paths(root)
    # Data files that ship in the base source but in no Debian firmware
    # package: the PowerNV machine's PNOR flash image (skiboot reads its
    # NVRAM and resources from it) and VOF's NVRAM image (pseries x-vof).
    for name in ("pnv-pnor.bin", "vof-nvram.bin"):
        src = REPO / "build" / "tree" / "pc-bios" / name
        if src.exists():
            files[name] = src.resolve()
    for name, path in sorted(files.items()):
        link = dest / name
        if link.is_symlink() and link.resolve() == path:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)


def cmd_assemble(args):
    assemble.assemble(Path(args.base), REPO, Path(args.out), verbose=args.verbose)


def main():
    ap = argparse.ArgumentParser(prog="pflib.tool")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("base", help="fetch, verify and unpack the QEMU base; print its path")
    f = sub.add_parser("firmware", help="fetch firmware and link it into DATADIR")
    f.add_argument("datadir")
    a = sub.add_parser("assemble", help="assemble the build tree")
    a.add_argument("--base", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    try:
        {"base": cmd_base, "firmware": cmd_firmware, "assemble": cmd_assemble}[args.cmd](args)
    except (debfetch.FetchError, assemble.AssembleError) as e:
        print(f"plugfault: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
