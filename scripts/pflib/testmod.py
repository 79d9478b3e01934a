"""Guest test modules (tests/guest-modules/NAME): build them for a pinned
kernel.

Scenario key ``test_modules`` lists them; the runner puts each built module
into the initramfs as /lib/modules/plugfault-test/NAME.ko.  Building uses
Debian's linux-headers and linux-kbuild packages of the guest kernel (pins
``BUILD_*`` in scripts/pins, fetched and checked like every other download),
merged into one tree under the cache, and the cross compiler.  See
tests/guest-modules/README.rst for the two adaptations to a Debian 12 host.
Built modules are cached by the hash of their sources.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from . import debfetch

# guest kernel name -> (headers directory name, ARCH, CROSS_COMPILE, pin
# prefix)
KERNELS = {
    "debian-ppc64el-6.12": ("linux-headers-6.12.107+deb13-powerpc64le",
                            "powerpc",
                            "powerpc64le-linux-gnu-"),
}


class TestModError(Exception):
    """A test module could not be built."""


def _kbuild_tree(kernel: str, repo: Path) -> Path:
    """Merge the pinned headers + kbuild packages into one tree; return
    the headers dir."""
    hdr, _, _ = KERNELS[kernel]
    pins = debfetch.read_pins(repo)
    specs = sorted((k[len("BUILD_"):], v)
                   for k, v in pins.items() if k.startswith("BUILD_"))
    if not specs:
        raise TestModError("no BUILD_* pins in scripts/pins")
    root = debfetch.cache_dir() / "kbuild" / kernel
    stamp = root / ".plugfault-from"
    debs = [debfetch.fetch_deb(*key.split(":"), spec) for key, spec in specs]
    want = "\n".join(deb.name for deb in debs)
    if not (stamp.exists() and stamp.read_text() == want):
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        # the flavour's Makefile includes the common one by absolute path
        makefile = root / "usr/src" / hdr / "Makefile"
        # include /usr/src/...-common/Makefile
        common = makefile.read_text().split()[-1]
        makefile.write_text(f"include {root}{common}\n")
        stamp.write_text(want)
    return root / "usr/src" / hdr


def build(name: str, kernel: str, repo: Path) -> bytes:
    """Build test module `name` for a pinned kernel (cached by the hash of
    its sources); the .ko's bytes."""
    if kernel not in KERNELS:
        raise TestModError(
            f"test module {name}: only {', '.join(KERNELS)} is supported "
            f"(guest kernel {kernel})")
    src = repo / "tests" / "guest-modules" / name
    if not (src / "Kbuild").exists():
        raise TestModError(
            f"no test module '{name}' (tests/guest-modules/{name}/Kbuild)")
    hasher = hashlib.sha256(kernel.encode())
    for entry in sorted(src.iterdir()):
        if entry.is_file():
            hasher.update(entry.name.encode() + b"\0" + entry.read_bytes())
    hasher.update((Path(__file__).parent / "modpost_lite.py").read_bytes())
    out = debfetch.cache_dir() / "testmod" / \
        f"{name}-{hasher.hexdigest()[:16]}"
    kofile = out / f"{name}.ko"
    if kofile.exists():
        return kofile.read_bytes()
    headers = _kbuild_tree(kernel, repo)
    _, arch, cross = KERNELS[kernel]
    if not shutil.which(cross + "gcc"):
        raise TestModError(
            f"{cross}gcc not found (apt-get install gcc-{cross[:-1]})")
    work = out.with_name(out.name + ".tmp")
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(src, work)
    cmd = ["make", "-C", str(headers), f"M={work}", f"ARCH={arch}",
           f"CROSS_COMPILE={cross}", f"CC={cross}gcc",
           "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=",
           # gcc 12 has no -fmin-function-alignment
           "CONFIG_DEBUG_INFO_BTF_MODULES=",              # no pahole needed
           f"MODPOST={Path(__file__).parent / 'modpost_lite.py'}",
           "modules"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env=dict(os.environ, LC_ALL="C"))
    if res.returncode != 0 or not (work / f"{name}.ko").exists():
        tail = (res.stdout + res.stderr).strip().splitlines()[-5:]
        raise TestModError(
            f"building test module {name} failed: " +
            " / ".join(tail))
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    return kofile.read_bytes()
