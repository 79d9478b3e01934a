"""Pinned, verified and cached downloads from Debian.

Everything plugfault downloads (the QEMU base source package, firmware,
guest kernels, busybox) comes through here:

* apt runs with a private configuration under the cache directory (its own
  sources list, lists and archive dirs), so the system's apt sources are never
  touched and a newer suite is only ever used for source packages and
  ``apt-get download``, never as an install source;
* apt checks the signed Release/Sources/Packages hashes, and we check the
  SHA-256 pinned in scripts/pins again before anything is used;
* results are cached outside the build tree, so a second run makes no network
  traffic at all (apt is not even started when the cache is complete).
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR = os.environ.get(
    "PLUGFAULT_DEBIAN_MIRROR",
    "http://deb.debian.org/debian")
SUITES = ("trixie", "bookworm")
ARCHES = ("amd64", "ppc64el")


class FetchError(Exception):
    """A download could not be made or did not verify."""


def log(msg):
    """A progress line on stderr."""
    print(f"plugfault: {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """$PLUGFAULT_CACHE or ~/.cache/plugfault (created)."""
    if os.environ.get("PLUGFAULT_CACHE"):
        path = Path(os.environ["PLUGFAULT_CACHE"])
    else:
        base = os.environ.get(
            "XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        path = Path(base) / "plugfault"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_pins(repo: Path) -> dict:
    """scripts/pins as a dict."""
    pins = {}
    for lineno, line in enumerate(
            (repo / "scripts/pins").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise FetchError(f"scripts/pins:{lineno}: expected KEY=VALUE")
        key, value = line.split("=", 1)
        pins[key.strip()] = value.strip()
    return pins


def sha256(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PrivateApt:
    """apt with its own configuration and state below the cache directory."""

    def __init__(self):
        self.root = cache_dir() / "apt"
        self.updated = False

    def _write_config(self):
        rdir = self.root
        for sub in (
            "lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/preferences.d",
                "etc/apt.conf.d"):
            (rdir / sub).mkdir(parents=True, exist_ok=True)
        (rdir / "status").touch()
        arch = ",".join(ARCHES)
        lines = [f"deb-src [signed-by={KEYRING}] {MIRROR} trixie main"]
        for suite in SUITES:
            lines.append(
                f"deb [arch={arch} signed-by={KEYRING}] {MIRROR} {suite} main")
        (rdir / "etc/sources.list").write_text("\n".join(lines) + "\n")
        (rdir / "apt.conf").write_text(
            f'Dir::Etc::sourcelist "{rdir}/etc/sources.list";\n'
            f'Dir::Etc::sourceparts "{rdir}/etc/sources.list.d";\n'
            f'Dir::Etc::preferencesparts "{rdir}/etc/preferences.d";\n'
            f'Dir::Etc::parts "{rdir}/etc/apt.conf.d";\n'
            f'Dir::State::Lists "{rdir}/lists";\n'
            f'Dir::State::status "{rdir}/status";\n'
            f'Dir::Cache "{rdir}/cache";\n'
            'APT::Architectures { "amd64"; "ppc64el"; };\n'
            'APT::Sandbox::User "root";\n')

    def env(self):
        """The environment apt runs in (APT_CONFIG: ours)."""
        envv = dict(os.environ)
        envv["APT_CONFIG"] = str(self.root / "apt.conf")
        envv["LC_ALL"] = "C"
        return envv

    def run(self, args, cwd=None, capture=False):
        """Run an apt command; FetchError when it fails."""
        res = subprocess.run(args, cwd=cwd, env=self.env(), text=True,
                             check=False,
                             stdout=subprocess.PIPE if capture else None,
                             stderr=subprocess.PIPE if capture else None)
        if res.returncode != 0:
            detail = (res.stderr or "").strip(
            ).splitlines()[-3:] if capture else []
            raise FetchError(
                f"'{' '.join(args)}' failed (exit {res.returncode})" + (
                    ": " + " / ".join(detail) if detail else ""))
        return res.stdout if capture else None

    def update(self):
        """apt-get update, once per process."""
        if self.updated:
            return
        self._write_config()
        log(f"apt-get update (private configuration in {self.root})")
        self.run(["apt-get", "-q", "update"], capture=True)
        self.updated = True


_APT = PrivateApt()


def fetch_deb(name: str, arch: str, spec: str) -> Path:
    """Download one binary package pinned as 'SUITE VERSION SHA256'."""
    try:
        suite, version, digest = spec.split()
    except ValueError as exc:
        raise FetchError(
            f"bad pin for {name}: '{spec}' (want SUITE VERSION SHA256)"
        ) from exc
    debs = cache_dir() / "debs"
    debs.mkdir(exist_ok=True)
    fname = f"{name}_{version.split(':')[-1]}_{arch}.deb"
    dest = debs / fname
    if dest.exists():
        if sha256(dest) == digest:
            return dest
        log(f"{dest} does not match its pin; downloading again")
        dest.unlink()
    _APT.update()
    with tempfile.TemporaryDirectory(dir=debs) as tmp:
        target = f"{name}:{arch}" if arch != "all" else name
        log(f"downloading {target} {version} ({suite})")
        _APT.run(["apt-get", "-q", "download",
                 f"{target}={version}"], cwd=tmp, capture=True)
        got = list(Path(tmp).glob("*.deb"))
        if len(got) != 1:
            raise FetchError(
                f"apt-get download {target}={version} gave {len(got)} files")
        actual = sha256(got[0])
        if actual != digest:
            raise FetchError(
                f"{got[0].name}: SHA-256 {actual} does not match the pin "
                f"{digest}")
        shutil.move(str(got[0]), dest)
    return dest


def extract_deb(deb: Path, dest: Path) -> Path:
    """dpkg -x a package once; a stamp file records which .deb it came from."""
    stamp = dest / ".plugfault-from"
    if stamp.exists() and stamp.read_text() == deb.name:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    stamp.write_text(deb.name)
    return dest


def _source_versions(upstream: str):
    out = _APT.run(["apt-cache", "showsrc", "qemu"], capture=True)
    versions = re.findall(r"^Version: (\S+)$", out, re.M)
    same = [v for v in versions if re.match(
        rf"^(\d+:)?{re.escape(upstream)}\+", v)]
    return versions, same


def fetch_base(pins: dict) -> Path:
    """The unpacked (Debian patches applied) QEMU base source tree."""
    upstream = pins["BASE_UPSTREAM"]
    want = pins["BASE_DEBIAN_VERSION"]
    orig_sha = pins["BASE_ORIG_SHA256"]
    root = cache_dir() / "base"
    root.mkdir(exist_ok=True)
    for tree in sorted(root.glob(f"qemu-{upstream}-*")):
        if (tree / ".plugfault-verified").exists():
            return tree
    orig = root / pins["BASE_ORIG"]
    if orig.exists() and sha256(orig) != orig_sha:
        log(f"{orig.name} in the cache does not match the pin; fetching again")
        orig.unlink()
    _APT.update()
    all_versions, same = _source_versions(upstream)
    if want in same:
        version = want
    elif same:
        version = sorted(same, key=_debver_key)[-1]
        log(f"pinned {want} is gone from the mirror; using {version}, "
            f"which must carry "
            f"the same upstream tarball (checked below)")
    else:
        raise FetchError(
            f"no qemu {upstream} source on the mirror (have: "
            f"{', '.join(all_versions) or 'none'}); see docs/base-update.rst")
    log(f"apt-get source qemu={version}")
    _APT.run(["apt-get", "-q", "source", "--download-only", f"qemu={version}"],
             cwd=root, capture=True)
    if sha256(orig) != orig_sha:
        raise FetchError(
            f"{orig.name}: SHA-256 does not match BASE_ORIG_SHA256 in "
            f"scripts/pins")
    noepoch = version.split(":")[-1]
    dsc = root / f"qemu_{noepoch}.dsc"
    tree = root / f"qemu-{upstream}-{noepoch.split('-', 1)[-1]}"
    tmp = root / (tree.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    log(f"unpacking {dsc.name} with Debian's patches")
    subprocess.run(["dpkg-source", "-q", "--no-check", "-x",
                   str(dsc), str(tmp)], check=True, stdout=subprocess.DEVNULL)
    (tmp / ".plugfault-verified").write_text(f"{version} {orig_sha}\n")
    if tree.exists():
        shutil.rmtree(tree)
    tmp.rename(tree)
    return tree


def _debver_key(ver):
    # Good enough for revisions of one upstream version: compare numeric runs.
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", ver)]


def fetch_firmware(pins: dict) -> Path:
    """Extract the arch:all firmware packages; returns their usr/share root."""
    root = cache_dir() / "firmware"
    for key, spec in pins.items():
        if key.startswith("FW_"):
            name = key[3:]
            extract_deb(fetch_deb(name, "all", spec), root / name)
    return root


# Where each firmware package keeps the files QEMU loads.  Every regular file
# there is linked (the packages are taken whole: the base's qtests look up
# firmware of machines our scenarios never boot, e.g. bios-microvm.bin,
# vgabios-cirrus.bin, pxe-eepro100.rom, u-boot.e500); the first package
# listed wins where two ship the same name.
FIRMWARE_DIRS = {
    "qemu-system-data": "usr/share/qemu",
    "seabios": "usr/share/seabios",
    "ipxe-qemu": "usr/share/qemu",
}
# Not firmware: QEMU's data dir has these from the build itself.
FIRMWARE_SKIP = {"keymaps", "linux-user-vdso.tar.gz"}


def firmware_paths(root: Path) -> dict:
    """Map of firmware file name -> real path inside the extracted packages."""
    found = {}
    for pkg, sub in FIRMWARE_DIRS.items():
        pkg_dir = root / pkg / sub
        if not pkg_dir.is_dir():
            raise FetchError(f"firmware package {pkg} has no {sub}/")
        for path in sorted(pkg_dir.iterdir()):
            if path.name in FIRMWARE_SKIP or path.name in found \
                    or not path.is_file():
                continue
            found[path.name] = path.resolve()
    return found
