"""Assemble the build tree: the pristine QEMU base + our overlay + hook patches.

The result (build/tree) is what Meson builds.  It is rewritten incrementally:
only files whose content changes are touched, so an edit to one of our files
or patches rebuilds only what depends on it.

* Our files under OVERLAY_DIRS are symlinked into the tree at the same path.
  They must be new files: replacing a base file is an error (change base files
  with a hook patch instead).  The one exception is ``trace-events``: ours is
  appended to the base file of the same directory, so new models keep their
  trace points beside the base's without a patch.
* Our top-level meson.build becomes ``plugfault/meson.build`` in the tree
  (the base's meson.build includes it through a hook patch).
* Hook patches (scripts/patches/NNNN-*.patch, applied in name order with
  ``patch -p1``) change base files by a few lines each.  A patch that no longer
  applies fails the build naming the patch, the file and the hunk.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

OVERLAY_DIRS = ("hw", "include", "target", "tests", "qapi", "accel", "system", "stubs",
                "docs")
MANIFEST = ".plugfault-overlay"
BASE_STAMP = ".plugfault-base"


class AssembleError(Exception):
    pass


def _patched_files(patch: Path):
    files = []
    for line in patch.read_text().splitlines():
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0].strip()
            if path.startswith("b/"):
                path = path[2:]
            files.append(path)
    if not files:
        raise AssembleError(f"{patch}: no '+++ b/FILE' line; not a unified diff")
    return files


def _write_if_changed(path: Path, data: bytes, mode=None):
    if path.is_symlink():
        path.unlink()
    elif path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".plugfault-tmp")
    tmp.write_bytes(data)
    if mode is not None:
        os.chmod(tmp, mode)
    tmp.replace(path)
    return True


def _link_if_changed(path: Path, target: Path):
    if path.is_symlink() and os.readlink(path) == str(target):
        return False
    if path.is_symlink() or path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return True


def overlay_files(repo: Path):
    for d in OVERLAY_DIRS:
        top = repo / d
        if not top.is_dir():
            continue
        for p in sorted(top.rglob("*")):
            if p.is_file() and not p.name.endswith((".pyc", "~")) and "__pycache__" not in p.parts:
                yield p.relative_to(repo)


def apply_patches(base: Path, patches):
    """Return {relpath: bytes} of base files after applying all hook patches."""
    touched = []
    for p in patches:
        for f in _patched_files(p):
            if f not in touched:
                touched.append(f)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        for f in touched:
            src = base / f
            if not src.exists():
                raise AssembleError(f"hook patches touch {f}, which the base does not have")
            (tmpd / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmpd / f)
        for p in patches:
            res = subprocess.run(["patch", "-p1", "-N", "--fuzz=0", "--no-backup-if-mismatch", "-r", "-",
                                  "-d", str(tmpd), "-i", str(p.resolve())],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                detail = "\n    ".join(l for l in (res.stdout + res.stderr).splitlines()
                                       if "FAILED" in l or "patching file" in l
                                       or "malformed" in l or "Reversed" in l)
                raise AssembleError(f"hook patch {p.name} no longer applies to the base:\n"
                                    f"    {detail}\n  Refresh it as docs/base-update.rst explains.")
        for f in touched:
            result[f] = (tmpd / f).read_bytes()
    return result


def assemble(base: Path, repo: Path, out: Path, verbose=False):
    base = base.resolve()
    repo = repo.resolve()
    stamp = out / BASE_STAMP
    if not stamp.exists() or stamp.read_text() != str(base):
        if out.exists():
            shutil.rmtree(out)
        print(f"plugfault: copying the base tree {base} -> {out}", flush=True)
        shutil.copytree(base, out, symlinks=True)
        stamp.write_text(str(base))

    managed = {}          # relpath -> ("link", target) | ("data", bytes)
    for rel in overlay_files(repo):
        rel_s = str(rel)
        if (base / rel).exists():
            if rel.name == "trace-events":
                managed[rel_s] = ("data", (base / rel).read_bytes()
                                  + b"\n# plugfault (appended from " + rel_s.encode()
                                  + b")\n" + (repo / rel).read_bytes())
                continue
            raise AssembleError(f"{rel} would replace a base file; change base files "
                                f"with a hook patch under scripts/patches instead")
        managed[rel_s] = ("link", repo / rel)
    managed["plugfault/meson.build"] = ("link", repo / "meson.build")

    patches = sorted((repo / "scripts/patches").glob("*.patch"))
    for rel, data in apply_patches(base, patches).items():
        if rel in managed:
            raise AssembleError(f"{rel} is both patched and overlaid")
        managed[rel] = ("data", data)

    changed = []
    man = out / MANIFEST
    previous = set(man.read_text().split("\n")) - {""} if man.exists() else set()
    for rel in sorted(previous - set(managed)):
        dst = out / rel
        if (base / rel).exists():
            if _write_if_changed(dst, (base / rel).read_bytes(), (base / rel).stat().st_mode):
                changed.append(f"restored {rel}")
        elif dst.is_symlink() or dst.exists():
            dst.unlink()
            changed.append(f"removed {rel}")
    for rel, (kind, val) in sorted(managed.items()):
        dst = out / rel
        if kind == "link":
            did = _link_if_changed(dst, val)
        else:
            mode = (base / rel).stat().st_mode if (base / rel).exists() else None
            did = _write_if_changed(dst, val, mode)
        if did:
            changed.append(f"{kind} {rel}")
    man.write_text("\n".join(sorted(managed)) + "\n")
    if verbose or changed:
        for c in changed:
            print(f"plugfault: tree: {c}", flush=True)
    return changed
