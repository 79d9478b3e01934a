"""Guest kernels from anywhere, and what the runner knows about them.

A *kernel spec* names a guest kernel:

* a pinned Debian kernel (``debian-amd64-6.12``, see guest.KERNELS);
* ``debian:VERSION[:FLAVOUR]``: Debian's kernel of that version (e.g.
  ``debian:7.2.13-1``, ``debian:7.2.13-1:powerpc64le-64k``), fetched with
  apt-get download through a private apt configuration (sid, trixie,
  bookworm), verified against the signed archive and cached; the SHA-256
  of every package is recorded on first download and checked on every use;
* a directory: a kernel build tree (``vmlinux`` or
  ``arch/x86/boot/bzImage`` with ``System.map``, ``.config``,
  ``modules.builtin`` and the ``.ko`` files in place), or a directory of
  Debian .deb files, or a tree they were extracted to;
* ``.deb`` files (``--kernel-deb FILE...``): linux-image-* or
  linux-binary-* + linux-modules-* + linux-base-*;
* a kernel image file (``--kernel``) with optional ``--modules``.

Kernel facts (``KernelFacts``) come from what is found beside the image:
its version (the banner in the image), its config and its System.map.
Scenarios state requirements and expectations as expressions over them
(see scenario.py and tests/scenarios/README.rst).
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from . import debfetch
from .guest import GuestError, GuestKernel, KERNELS, fetch_debian_kernel

DEFAULT_FLAVOUR = {"amd64": "amd64", "ppc64el": "powerpc64le"}
IMAGE_GLOBS = ("boot/vmlinuz-*", "boot/vmlinux-*", "usr/lib/modules/*/vmlinuz",
               "lib/modules/*/vmlinuz", "usr/lib/modules/*/vmlinux",
               "lib/modules/*/vmlinux", "arch/x86/boot/bzImage", "vmlinux")


class CannotTest(Exception):
    """The kernel cannot run this scenario (verdict SKIP, exit 125)."""


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """An exclusive lock in the cache (parallel runs share downloads)."""
    path = debfetch.cache_dir() / f".lock-{name}"
    with open(path, "w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- facts

@dataclass
class KernelFacts:
    """What can be read about a kernel without booting it."""
    version: Optional[Tuple[int, ...]] = None
    release: str = ""                        # e.g. 6.12.107+deb13-amd64
    config: Optional[Dict[str, str]] = None  # CONFIG_X -> y/m/value
    config_path: Optional[Path] = None
    system_map: Optional[Path] = None
    _symbols: Optional[Dict[str, int]] = field(default=None, repr=False)

    def symbols(self) -> Optional[Dict[str, int]]:
        """name -> address from System.map (None without one)."""
        if self._symbols is None and self.system_map:
            self._symbols = read_system_map(self.system_map)
        return self._symbols

    def text_symbols(self) -> Optional[Dict[str, int]]:
        """Text symbols (and the text bounds) for symbolizing PCs."""
        if not self.system_map:
            return None
        syms = read_system_map(self.system_map, "tTwW")
        for bound in ("_text", "_stext", "_etext"):
            if bound in (self.symbols() or {}):
                syms[bound] = (self.symbols() or {})[bound]
        return syms

    def summary(self) -> str:
        """One line for the log."""
        ver = ".".join(map(str, self.version)) if self.version else "?"
        return (f"version {ver} ({self.release or 'release unknown'}), "
                f"config {'yes' if self.config is not None else 'no'}, "
                f"System.map {'yes' if self.system_map else 'no'}")


def parse_version(text: str) -> Optional[Tuple[int, ...]]:
    """(major, minor, patch) from a release string like 6.12.107+deb13."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(x) for x in match.groups(default="0"))


def image_banner(image: Path) -> str:
    """The version string in a kernel image: bzImage's setup header or
    the 'Linux version' banner (vmlinux)."""
    try:
        with open(image, "rb") as fh:
            head = fh.read(0x10000)
            if head[0x202:0x206] == b"HdrS":
                off = int.from_bytes(head[0x20E:0x210], "little") + 0x200
                fh.seek(off)
                return fh.read(256).split(b"\0")[0].decode(errors="replace")
            fh.seek(0)
            data = fh.read()
    except OSError:
        return ""
    match = re.search(rb"Linux version ([^\0\n]+)", data)
    return match.group(1).decode(errors="replace") if match else ""


def image_release(image: Path) -> str:
    """The release (uname -r) of a kernel image."""
    banner = image_banner(image).split()
    return banner[0] if banner else ""


def image_version(image: Path, release: str) -> Optional[Tuple[int, ...]]:
    """The upstream version: Debian's banner says it ('Debian 6.1.176-1')
    where the release does not (6.1.0-50-amd64)."""
    rel = parse_version(release)
    for match in reversed(list(re.finditer(r"Debian (\d+\.\d+\.\d+)-",
                                           image_banner(image)))):
        ver = parse_version(match.group(1))
        if rel is None or (ver and ver[:2] == rel[:2]):
            return ver
    return rel


def read_config(path: Path) -> Dict[str, str]:
    """CONFIG_X -> value; 'is not set' lines are left out."""
    conf = {}
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"(CONFIG_\w+)=(.*)$", line)
        if match:
            conf[match.group(1)] = match.group(2).strip('"')
    return conf


def read_system_map(path: Path, types: str = "tTwWdDbBrRaA"
                    ) -> Dict[str, int]:
    """Symbols of a System.map (or /proc/kallsyms text) of `types`."""
    syms = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and len(parts[1]) == 1 and parts[1] in types:
            try:
                syms[parts[2]] = int(parts[0], 16)
            except ValueError:
                continue
    return syms


def _first(dirs: Sequence[Path], patterns: Sequence[str]) -> Optional[Path]:
    for base in dirs:
        for pat in patterns:
            hits = sorted(p for p in base.glob(pat) if p.is_file())
            if hits:
                return hits[-1]
    return None


def find_facts(image: Path, dirs: Sequence[Path],
               moddir: Optional[Path]) -> KernelFacts:
    """Facts from the files found in `dirs` (and the modules directory)."""
    look = list(dirs) + ([moddir] if moddir else [])
    release = image_release(image)
    config = _first(look, ("boot/config-*", "usr/lib/modules/*/config",
                           "lib/modules/*/config", "config", ".config"))
    smap = _first(look, ("boot/System.map-*", "usr/lib/modules/*/System.map",
                         "lib/modules/*/System.map", "System.map"))
    if not release and moddir:
        release = moddir.name
    if smap and smap.stat().st_size < 4096 and \
            "The real System.map" in smap.read_text(errors="replace"):
        smap = None               # Debian's stub (the real one is in -dbg)
    facts = KernelFacts(version=image_version(image, release),
                        release=release,
                        config_path=config, system_map=smap)
    if config:
        facts.config = read_config(config)
    return facts


# ---------------------------------------------------------------- specs

def find_moddir(root: Path) -> Optional[Path]:
    """The lib/modules/VERSION directory below `root` (or root itself):
    modules.dep and modules.builtin are optional."""
    def is_moddir(cand: Path) -> bool:
        return any((cand / n).exists() for n in
                   ("modules.dep", "modules.order", "modules.builtin",
                    "kernel"))
    if is_moddir(root) and not (root / "lib/modules").is_dir():
        return root
    cands = [d for base in ("lib/modules", "usr/lib/modules")
             for d in sorted((root / base).glob("*")) if d.is_dir()]
    with_mods = [d for d in cands if is_moddir(d) or any(d.rglob("*.ko*"))]
    return with_mods[-1] if with_mods else (cands[-1] if cands else None)


def user_kernel(image: Path, modules: Optional[Path], arch: str
                ) -> GuestKernel:
    """--kernel IMAGE [--modules TREE]: any image, any modules tree."""
    if image.is_dir():
        return tree_kernel(image, arch)
    if not image.is_file():
        raise GuestError(f"--kernel {image}: no such file")
    moddir = None
    if modules:
        moddir = find_moddir(modules)
        if moddir is None:
            raise GuestError(f"--modules {modules}: no modules below it "
                             f"(give make modules_install's INSTALL_MOD_PATH "
                             f"or a lib/modules/VERSION directory)")
    dirs = [image.parent]
    if image.parent.name == "boot" and image.parent.parent.name == "x86":
        dirs.append(image.parents[3])          # arch/x86/boot/bzImage
    if modules:
        dirs.append(modules)
    k = GuestKernel(f"user:{image.name}", arch, image, moddir,
                    f"user kernel {image}")
    k.facts = find_facts(image, dirs, moddir)
    return k


def tree_kernel(root: Path, arch: str) -> GuestKernel:
    """A build tree, a directory of .debs, or an extracted package tree."""
    debs = sorted(root.glob("*.deb"))
    if debs:
        return deb_kernel(debs, arch)
    image = _first([root], IMAGE_GLOBS)
    if image is None:
        raise GuestError(f"{root}: no kernel image (vmlinux, "
                         f"arch/x86/boot/bzImage, boot/vmlinu[xz]-*)")
    moddir = find_moddir(root)
    if moddir is None and any(root.glob("*/*.ko")) or (root / "vmlinux") \
            .exists():
        moddir = root            # a build tree: modules in place
    k = GuestKernel(f"tree:{root.name}", arch, image, moddir,
                    f"kernel tree {root}")
    k.facts = find_facts(image, [root], moddir)
    return k


def deb_kernel(debs: Sequence[Path], arch: str) -> GuestKernel:
    """Debian kernel packages given as files: extracted once, cached."""
    for deb in debs:
        if not deb.is_file():
            raise GuestError(f"{deb}: no such file")
    digest = hashlib.sha256()
    for deb in sorted(debs):
        digest.update(debfetch.sha256(deb).encode())
    root = debfetch.cache_dir() / "guest" / f"debs-{digest.hexdigest()[:16]}"
    with cache_lock("extract"):
        stamp = root / ".plugfault-from"
        want = "\n".join(sorted(deb.name for deb in debs))
        if not (stamp.exists() and stamp.read_text() == want):
            if root.exists():
                shutil.rmtree(root)
            tmp = root.with_name(root.name + ".tmp")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            for deb in debs:
                subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
            (tmp / ".plugfault-from").write_text(want)
            tmp.rename(root)
    image = _first([root], IMAGE_GLOBS)
    if image is None:
        raise GuestError(f"{', '.join(deb.name for deb in debs)}: no kernel "
                         f"image in these packages (give linux-image-* or "
                         f"linux-binary-*)")
    moddir = find_moddir(root)
    k = GuestKernel(f"deb:{debs[0].name.split('_')[0]}", arch, image, moddir,
                    f"Debian packages {', '.join(deb.name for deb in debs)}")
    k.facts = find_facts(image, [root], moddir)
    return k


def pinned_kernel(name: str, repo: Path) -> GuestKernel:
    """One of the pinned Debian kernels, with its facts."""
    k = fetch_debian_kernel(name, repo)
    root = k.image.parents[1]
    k.facts = find_facts(k.image, [root], k.modules)
    return k


# ------------------------------------------------ Debian kernels on demand

ONDEMAND_SUITES = ("sid", "trixie", "bookworm")


class OnDemandApt(debfetch.PrivateApt):
    """A private apt for kernels of any version (sid too).  sid's Release
    may be older than its Valid-Until: accept it (the signature is still
    checked)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = debfetch.cache_dir() / "apt-kernels"

    def _write_config(self) -> None:
        super()._write_config()
        arch = ",".join(debfetch.ARCHES)
        key = debfetch.KEYRING
        lines = [f"deb [arch={arch} signed-by={key}] {debfetch.MIRROR} "
                 f"{suite} main" for suite in ONDEMAND_SUITES]
        (self.root / "etc/sources.list").write_text("\n".join(lines) + "\n")
        with open(self.root / "apt.conf", "a", encoding="utf-8") as fh:
            fh.write('Acquire::Check-Valid-Until "false";\n')


_ONDEMAND = OnDemandApt()


def _candidates(version: str, arch: str, flavour: str
                ) -> Dict[str, Tuple[str, int]]:
    """package -> (SHA256, size) of Debian's kernel packages of VERSION."""
    out = _ONDEMAND.run(["apt-cache", "search", "--names-only",
                         rf"^linux-(image|binary|modules|base)-[0-9].*-"
                         rf"{re.escape(flavour)}(-unsigned)?$"], capture=True)
    names = [ln.split()[0] for ln in out.splitlines() if ln.strip()]
    found: Dict[str, Tuple[str, int]] = {}
    for name in names:
        res = subprocess.run(["apt-cache", "show", f"{name}:{arch}={version}"],
                             env=_ONDEMAND.env(), capture_output=True,
                             text=True, check=False)
        if res.returncode != 0:
            continue
        sha = re.search(r"^SHA256: (\w+)$", res.stdout, re.M)
        size = re.search(r"^Size: (\d+)$", res.stdout, re.M)
        if sha and size:
            found[name] = (sha.group(1), int(size.group(1)))
    return found


def _choose(found: Dict[str, Tuple[str, int]]) -> List[str]:
    """The packages that make a bootable kernel with modules and facts."""
    binary = [n for n in found if n.startswith("linux-binary-")]
    if binary:
        abi = binary[0][len("linux-binary-"):]
        return [n for n in (f"linux-binary-{abi}", f"linux-modules-{abi}",
                            f"linux-base-{abi}") if n in found]
    images = sorted(n for n in found if n.startswith("linux-image-")
                    and not n.endswith("-dbg"))
    unsigned = [n for n in images if n.endswith("-unsigned")]
    return unsigned[:1] or images[:1]


def debian_kernel(spec: str, arch: str) -> GuestKernel:
    """debian:VERSION[:FLAVOUR] for a Debian architecture."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise GuestError(f"'{spec}': want debian:VERSION[:FLAVOUR]")
    version = parts[1]
    flavour = parts[2] if len(parts) == 3 else DEFAULT_FLAVOUR[arch]
    record = debfetch.cache_dir() / "kernels" / \
        f"{version}-{flavour}-{arch}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    with cache_lock("ondemand"):
        if record.exists():
            pins = json.loads(record.read_text())
        else:
            _ONDEMAND.update()
            found = _candidates(version, arch, flavour)
            names = _choose(found)
            if not names:
                raise GuestError(f"Debian has no {flavour} kernel of version "
                                 f"{version} for {arch} (suites "
                                 f"{', '.join(ONDEMAND_SUITES)})")
            pins = {n: found[n][0] for n in names}
        debs = []
        for name, digest in sorted(pins.items()):
            debs.append(_download(name, arch, version, digest))
        record.write_text(json.dumps(pins, indent=1) + "\n")
    k = deb_kernel(debs, arch)
    k.name = f"debian:{version}:{flavour}"
    k.description = f"Debian {version} {flavour} ({', '.join(pins)})"
    return k


def _download(name: str, arch: str, version: str, digest: str) -> Path:
    dest = debfetch.cache_dir() / "debs" / \
        f"{name}_{version.split(':')[-1]}_{arch}.deb"
    dest.parent.mkdir(exist_ok=True)
    if dest.exists() and debfetch.sha256(dest) == digest:
        return dest
    _ONDEMAND.update()
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        debfetch.log(f"downloading {name}:{arch} {version}")
        _ONDEMAND.run(["apt-get", "-q", "download",
                       f"{name}:{arch}={version}"], cwd=tmp, capture=True)
        got = list(Path(tmp).glob("*.deb"))
        if len(got) != 1 or debfetch.sha256(got[0]) != digest:
            raise GuestError(f"{name} {version}: download does not match "
                             f"the archive's SHA-256 {digest}")
        shutil.move(str(got[0]), dest)
    return dest


# ---------------------------------------------------------------- resolve

DEB_ARCH = {"ppc64": "ppc64el", "x86_64": "amd64"}


def kernel_arch(spec: str) -> Optional[str]:
    """The Debian architecture a spec names, where it says (else None)."""
    if spec in KERNELS:
        return KERNELS[spec].arch
    if spec.startswith("debian:"):
        parts = spec.split(":")
        if len(parts) == 3:
            return "ppc64el" if parts[2].startswith("powerpc") else "amd64"
    return None


def resolve(spec: str, arch: str, repo: Path,
            modules: Optional[Path] = None) -> GuestKernel:
    """A GuestKernel (with facts) for `spec` on Debian architecture
    `arch`."""
    if spec in KERNELS:
        return pinned_kernel(spec, repo)
    if spec.startswith("debian:"):
        return debian_kernel(spec, arch)
    path = Path(spec).expanduser()
    if path.suffix == ".deb" or "," in spec:
        return deb_kernel([Path(p) for p in spec.split(",")], arch)
    if path.exists():
        return user_kernel(path, modules, arch)
    raise GuestError(f"unknown kernel '{spec}' (a pinned name: "
                     f"{', '.join(KERNELS)}; debian:VERSION[:FLAVOUR]; a "
                     f"directory; an image file; .deb files)")


def fact_overrides(pairs: Sequence[str]) -> Dict[str, bool]:
    """--fact NAME=yes|no pairs."""
    out = {}
    for pair in pairs:
        name, sep, val = pair.partition("=")
        if not sep or val.lower() not in ("yes", "no", "true", "false",
                                          "1", "0", "y", "n"):
            raise GuestError(f"--fact {pair}: want NAME=yes or NAME=no")
        out[name] = val.lower() in ("yes", "true", "1", "y")
    return out


def env_flag(name: str) -> bool:
    """A boolean environment variable."""
    return os.environ.get(name, "") not in ("", "0", "no")


def image_arch(spec: str, repo: Path) -> Optional[str]:
    """The Debian architecture of a kernel given as a path (from the
    image's magic), or None when it cannot be told without resolving."""
    # pylint: disable=too-many-return-statements
    del repo
    path = Path(spec).expanduser()
    if path.is_dir():
        debs = sorted(path.glob("*.deb"))
        if debs:
            return "ppc64el" if "ppc64el" in debs[0].name else "amd64"
        img = _first([path], IMAGE_GLOBS)
        if img is None:
            return None
        path = img
    if path.suffix == ".deb":
        return "ppc64el" if "ppc64el" in path.name else "amd64"
    try:
        with open(path, "rb") as fh:
            head = fh.read(0x210)
    except OSError:
        return None
    if head[0x202:0x206] == b"HdrS":
        return "amd64"
    if head[:4] == b"\x7fELF" and len(head) > 20:
        machine = int.from_bytes(head[18:20],
                                 "little" if head[5] == 1 else "big")
        return {21: "ppc64el", 62: "amd64"}.get(machine)
    return None
