"""Guest images: pinned Debian kernels and busybox, and the scenario initramfs.

A *guest kernel* is either one of the pinned Debian kernels (KERNELS below,
fetched with apt-get download and cached) or any other (kernels.py: Debian
versions on demand, .deb files, build trees, an image with a modules tree).

The initramfs is built per run, in pure Python (newc cpio): busybox-static,
the modules the scenario lists together with their dependencies (resolved
from modules.dep, decompressed for busybox insmod, in load order) and our
/init, which loads them, prints a readiness line and runs a shell on the
console for the scenario's guest steps.  A user --initrd is appended after
ours: Linux unpacks concatenated archives, later files win.
"""

import lzma
import gzip
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

from . import debfetch


class GuestError(Exception):
    """The guest image cannot be built (a setup error, not a test failure)."""


@dataclass
class KernelSpec:
    """A pinned Debian kernel package."""
    name: str
    arch: str            # Debian architecture: ppc64el / amd64
    package: str         # pins key suffix: NAME:ARCH
    image: str           # path of the kernel inside the package
    description: str


KERNELS = {
    "debian-ppc64el-6.12": KernelSpec(
        "debian-ppc64el-6.12", "ppc64el",
        "linux-image-6.12.107+deb13-powerpc64le:ppc64el",
        "boot/vmlinux-6.12.107+deb13-powerpc64le",
        "Debian trixie 6.12.107 ppc64el (pnv-php.ko, rpaphp.ko as modules)"),
    "debian-amd64-6.12": KernelSpec(
        "debian-amd64-6.12", "amd64",
        "linux-image-6.12.107+deb13-amd64-unsigned:amd64",
        "boot/vmlinuz-6.12.107+deb13-amd64",
        "Debian trixie 6.12.107 amd64 (carries the 6.9 ITE handling)"),
    "debian-amd64-6.1": KernelSpec(
        "debian-amd64-6.1", "amd64",
        "linux-image-6.1.0-50-amd64-unsigned:amd64",
        "boot/vmlinuz-6.1.0-50-amd64",
        "Debian bookworm 6.1.176 amd64 (no ITESID-based ITE handling)"),
}

BUSYBOX = {
    "ppc64el": "busybox-static:ppc64el",
    "amd64": "busybox-static:amd64"}


@dataclass
class GuestKernel:
    """A kernel ready to boot: image path and (optional) modules directory."""
    name: str
    arch: str
    image: Path
    modules: Optional[Path]       # .../lib/modules/VERSION
    description: str = ""
    facts: Any = None             # kernels.KernelFacts


def _pin(pins, key):
    k = "GUEST_" + key
    if k not in pins:
        raise GuestError(f"scripts/pins has no {k}")
    return pins[k]


def fetch_debian_kernel(name: str, repo: Path) -> GuestKernel:
    """A pinned Debian kernel, downloaded, verified and extracted once."""
    if name not in KERNELS:
        raise GuestError(
            f"unknown kernel '{name}' (known: {', '.join(KERNELS)})")
    spec = KERNELS[name]
    pins = debfetch.read_pins(repo)
    pkg, arch = spec.package.rsplit(":", 1)
    deb = debfetch.fetch_deb(pkg, arch, _pin(pins, spec.package))
    root = debfetch.extract_deb(deb, debfetch.cache_dir() / "guest" / pkg)
    image = root / spec.image
    if not image.exists():
        raise GuestError(f"{deb.name} has no {spec.image}")
    # bookworm packages use lib/modules, trixie's merged /usr uses
    # usr/lib/modules
    mods = sorted(root.glob("lib/modules/*/modules.order")) + \
        sorted(root.glob("usr/lib/modules/*/modules.order"))
    return GuestKernel(
        name,
        spec.arch,
        image,
        mods[0].parent if mods else None,
        spec.description)


def fetch_busybox(arch: str, repo: Path) -> Path:
    """busybox-static for a Debian architecture (pinned)."""
    pins = debfetch.read_pins(repo)
    key = BUSYBOX[arch]
    deb = debfetch.fetch_deb("busybox-static", arch, _pin(pins, key))
    root = debfetch.extract_deb(
        deb,
        debfetch.cache_dir() /
        "guest" /
        f"busybox-static-{arch}")
    busybox = root / "bin/busybox"
    if not busybox.exists():
        busybox = root / "usr/bin/busybox"          # trixie: merged /usr
    if not busybox.exists():
        raise GuestError(f"{deb.name} has no bin/busybox")
    return busybox


# --------------------------------------------------------------- modules

_KO = re.compile(r"\.ko(\.xz|\.gz|\.zst)?$")


def _modname(path: str) -> str:
    return _KO.sub("", os.path.basename(path)).replace("-", "_")


def _modinfo_depends(data: bytes):
    """The depends= list from a module's .modinfo (NUL-separated key=value)."""
    match = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
    if not match or not match.group(1):
        return []
    return [d.decode() for d in match.group(1).split(b",") if d]


def resolve_modules(
        moddir: Optional[Path],
        names: List[str],
        builtin_files=()):
    """Return (load-ordered list of module paths, names that are built in).

    Dependencies come from each module's own .modinfo "depends=" field, so
    no modules.dep (and no depmod) is needed: Debian's packages ship none.
    Built-in modules are read from modules.builtin in `moddir` or any of
    `builtin_files` (Debian ships it in the image package, not beside the
    modules).
    """
    if not names:
        return [], []
    if moddir is None:
        raise GuestError(
            f"the scenario needs modules {names} but the kernel has no "
            f"modules tree"
            f" (give --modules)")
    byname = {_modname(str(p)): p for p in moddir.rglob(
        "*.ko*") if _KO.search(p.name)}
    builtin = set()
    for bfile in [moddir / "modules.builtin"] + list(builtin_files):
        if bfile.exists():
            builtin |= {_modname(w) for w in bfile.read_text().split()}
    order, seen, inbuilt = [], set(), []

    def visit(key, chain):
        if key in seen:
            return
        if key not in byname:
            if key in builtin:
                if not chain:
                    inbuilt.append(key)
                return
            via = f" (needed by {chain[-1]})" if chain else ""
            raise GuestError(
                f"module '{key}'{via} is neither in {moddir} nor built in")
        seen.add(key)
        for dep in _modinfo_depends(read_module(byname[key])):
            visit(dep.replace("-", "_"), chain + [key])
        order.append(byname[key])

    for mod in names:
        visit(mod.replace("-", "_"), [])
    return order, inbuilt


def read_module(path: Path) -> bytes:
    """A module file's contents, decompressed."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        raise GuestError(
            f"{path.name}: zstd-compressed modules are not supported; "
            f"install them uncompressed (INSTALL_MOD_STRIP, no "
            f"MODULE_COMPRESS)")
    return data


# --------------------------------------------------------------- cpio

class Newc:
    """Minimal writer for the newc ("070701") cpio format the kernel
    unpacks."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b""):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.out += hdr.encode() + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name):
        """A directory entry."""
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data: bytes, mode=0o644):
        """A regular file."""
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target: str):
        """A symbolic link."""
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        """The archive, with its trailer, padded to 512 bytes."""
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


INIT = r"""#!/bin/busybox sh
# plugfault guest init: generated by scripts/pflib/guest.py
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "plugfault-init: kernel $(uname -r) on $(uname -m)"
# where the kernel runs (KASLR): the runner symbolizes vCPU PCs with it
echo "plugfault-init: kallsyms $(grep -m1 ' _text$' /proc/kallsyms)"
fail=0
for m in $(cat /etc/plugfault/modules); do
    if insmod /lib/modules/plugfault/$m; then
        echo "plugfault-init: loaded $m"
    else
        echo "plugfault-init: insmod $m FAILED"; fail=1
    fi
done
ip link set lo up 2>/dev/null
for s in /etc/plugfault/setup.d/*; do [ -f "$s" ] && . "$s"; done
# No echo and no prompts before announcing readiness: the runner types
# commands as soon as it sees the ready line.
stty -echo 2>/dev/null
export PS1='' PS2=''
if [ $fail = 0 ]; then echo "plugfault-init: ready"
else echo "plugfault-init: modules failed"; fi
exec setsid cttyhack sh
"""


def builtin_candidates(image: Path) -> List[Path]:
    """Where modules.builtin may be besides the modules directory: next to
    the image, or in the tree the image package was extracted to (Debian
    ships it in linux-image-* / linux-base-*, not in linux-modules-*)."""
    out = [image.parent / "modules.builtin"]
    for root in (image.parent, image.parent.parent):
        for pat in ("lib/modules/*/modules.builtin",
                    "usr/lib/modules/*/modules.builtin"):
            out += sorted(root.glob(pat))
    return out


def build_initramfs(
        kernel: GuestKernel,
        busybox: Path,
        modules: List[str],
        setup_scripts: Optional[dict] = None,
        extra_initrd: Optional[Path] = None,
        files: Optional[dict] = None) -> bytes:
    """The run's initramfs: busybox, our /init, the modules, setup
    scripts, extra files, and the user's --initrd appended."""
    # pylint: disable=too-many-locals
    paths, builtin = resolve_modules(kernel.modules, modules,
                                     builtin_candidates(kernel.image))
    c = Newc()
    made = {
        "bin",
        "sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "run",
        "etc",
        "etc/plugfault",
        "etc/plugfault/setup.d",
        "lib",
        "lib/modules",
        "lib/modules/plugfault"}
    for dname in sorted(made):
        c.dir(dname)
    c.file("bin/busybox", busybox.read_bytes(), 0o755)
    c.file("init", INIT.encode(), 0o755)
    names = []
    for i, mpath in enumerate(paths):
        mname = f"{i:02d}-{_KO.sub('', mpath.name)}.ko"
        c.file(f"lib/modules/plugfault/{mname}", read_module(mpath))
        names.append(mname)
    c.file("etc/plugfault/modules", ("\n".join(names) + "\n").encode())
    c.file("etc/plugfault/builtin", ("\n".join(builtin) + "\n").encode())
    for i, (name, text) in enumerate(sorted((setup_scripts or {}).items())):
        c.file(f"etc/plugfault/setup.d/{i:02d}-{name}", text.encode())
    for name, data in sorted((files or {}).items()):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dname = "/".join(parts[:i])
            if dname not in made:
                c.dir(dname)
                made.add(dname)
        c.file(name, data, 0o755)
    img = c.finish()
    if extra_initrd:
        img += extra_initrd.read_bytes()
    return img
