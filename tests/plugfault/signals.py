#!/usr/bin/python3
"""SIGTERM / SIGINT / SIGHUP stop the run cleanly: QEMU is gone, the
verdict is "interrupted", the exit status is 125, the artifacts stay.

Each signal is sent to the runner alone (as a CI engine's time-out does),
once QEMU runs (its command line is in the run directory).  Prints TAP.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "vtd-ite-injected"


def qemu_alive(rundir: Path) -> bool:
    """Whether a process still runs with this run directory in its
    command line."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmd and str(rundir).encode() in cmd:
            return True
    return False


def check(sig: signal.Signals, base: Path) -> str:
    """One signal; raises AssertionError on a failure."""
    rundir = base / sig.name
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts/plugfault"),
                             "run", "-q", "--rundir", str(rundir), SCENARIO],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    # QEMU runs once the guest prints on the console (polled: the run
    # directory is all there is to watch from outside)
    deadline = time.monotonic() + 120
    console = rundir / "console.log"
    while not (console.exists() and console.stat().st_size > 0):
        assert time.monotonic() < deadline, "the guest never printed"
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    proc.send_signal(sig)
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 125, f"exit {proc.returncode}: {out[-300:]}"
    verdict = (rundir / "verdict.txt").read_text()
    assert verdict.startswith("INTERRUPTED"), verdict
    assert sig.name in verdict, verdict
    for name in ("console.log", "qmp.log", "steps.log", "qemu-cmdline.txt"):
        assert (rundir / name).exists(), f"{name} missing"
    # the runner waited for QEMU to exit before it exited itself
    assert not qemu_alive(rundir), "QEMU still runs"
    return f"{sig.name}: exit 125, verdict interrupted, QEMU gone"


def check_matrix(base: Path) -> str:
    """SIGTERM to `plugfault matrix` reaches every running cell."""
    out = base / "matrix"
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts/plugfault"),
                             "matrix", "-q", "--kernels", "debian-amd64-6.12",
                             "--scenarios", f"{SCENARIO},q35-strict-removal",
                             "-j", "2", "--artifacts", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len([c for c in out.glob("*/console.log")
               if c.stat().st_size > 0]) < 2:
        assert time.monotonic() < deadline, "the cells never started"
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 125, f"exit {proc.returncode}: {text[-300:]}"
    for cell in out.iterdir():
        verdict = (cell / "verdict.txt").read_text()
        assert verdict.startswith("INTERRUPTED"), verdict
        assert not qemu_alive(cell), f"QEMU of {cell.name} still runs"
    return "matrix: SIGTERM reaches both cells, exit 125, QEMUs gone"


def main() -> int:
    """TAP over the signals."""
    base = REPO / "build" / "artifacts" / f"signals-{os.getpid()}"
    sigs = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
    print(f"1..{len(sigs) + 1}", flush=True)
    bad = 0
    for i, sig in enumerate(sigs, 1):
        try:
            print(f"ok {i} - {check(sig, base)}", flush=True)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            bad += 1
            print(f"not ok {i} - {sig.name}: {exc}", flush=True)
    try:
        print(f"ok {len(sigs) + 1} - {check_matrix(base)}", flush=True)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        bad += 1
        print(f"not ok {len(sigs) + 1} - matrix: {exc}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
