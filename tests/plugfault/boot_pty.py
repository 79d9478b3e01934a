#!/usr/bin/python3
"""plugfault boot, driven through a pseudo-terminal as a person would.

For each preset: start `plugfault boot PRESET` on a pty, wait for the
banner with the QMP socket, type a shell command and read its answer, run
`plugfault qmp SOCKET ...` (a query and a fault command) from outside,
press Ctrl-a x, and check the exit status (0), the verdict and that
console.log kept the session.  Prints TAP.
"""

import argparse
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[2]
PLUGFAULT = REPO / "scripts" / "plugfault"

FAULTS = {
    "powernv": ["x-pcie-link-set", "port=pcie.0", "up=false"],
    "pseries": ["device_del", "id=nic1"],
    "q35": ["x-pcie-surprise-remove", "id=nic1"],
}


class Pty:
    """A child process on a pseudo-terminal."""

    def __init__(self, argv: List[str]):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(argv[0], argv)
        self.pid, self.fd, self.out = pid, fd, b""

    def expect(self, regex: bytes, timeout: float) -> re.Match:
        """Read until `regex` shows (TimeoutError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(regex, self.out)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {regex!r} in {timeout:.0f}s; last "
                                   f"output: {self.out[-400:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:          # the child closed the pty
                    time.sleep(0.1)

    def send(self, data: bytes) -> None:
        """Type."""
        os.write(self.fd, data)

    def wait(self, timeout: float) -> int:
        """The exit status (TimeoutError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if ready:
                    self.out += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 15)
        raise TimeoutError("plugfault boot did not exit after Ctrl-a x")


def qmp(sock: str, words: List[str]) -> Tuple[int, str]:
    """plugfault qmp SOCK WORDS...: (exit status, output)."""
    res = subprocess.run([sys.executable, str(PLUGFAULT), "qmp", sock]
                         + words, capture_output=True, text=True,
                         timeout=60, check=False)
    return res.returncode, res.stdout + res.stderr


def check(preset: str) -> str:
    """One preset; raises AssertionError/TimeoutError on a failure."""
    term = Pty([sys.executable, str(PLUGFAULT), "boot", preset, "--quiet"])
    sock = term.expect(rb"QMP socket: (\S+)", 400).group(1).decode()
    rundir = Path(sock).parent
    term.expect(rb"Ctrl-a x quits", 10)
    term.send(b"echo pf-$((6*7))\r")
    term.expect(rb"pf-42", 60)
    status, out = qmp(sock, ["query-status"])
    assert status == 0 and '"running"' in out, f"query-status: {status} {out}"
    status, out = qmp(sock, FAULTS[preset])
    assert status == 0 and '"return": {}' in out, \
        f"{FAULTS[preset]}: {status} {out}"
    status, out = qmp(sock, ["hmp", "info", "status"])
    assert status == 0 and "running" in out, f"hmp info status: {status} {out}"
    term.send(b"\x01x")
    code = term.wait(60)
    assert code == 0, f"exit status {code}: {term.out[-300:]!r}"
    verdict = (rundir / "verdict.txt").read_text()
    assert verdict.startswith("PASS"), verdict
    console = (rundir / "console.log").read_text(errors="replace")
    assert "pf-42" in console, "console.log lacks the session"
    qlog = (rundir / "qmp.log").read_text()
    assert '"quit"' in qlog, "QEMU was not shut down through QMP"
    return f"{preset}: booted, shell and QMP answered, Ctrl-a x -> exit 0"


def main() -> int:
    """TAP over the presets."""
    argp = argparse.ArgumentParser()
    argp.add_argument("presets", nargs="*", default=["q35", "powernv",
                                                     "pseries"])
    args = argp.parse_args()
    print(f"1..{len(args.presets)}", flush=True)
    bad = 0
    for i, preset in enumerate(args.presets, 1):
        try:
            print(f"ok {i} - {check(preset)}", flush=True)
        except (AssertionError, TimeoutError, OSError) as exc:
            bad += 1
            print(f"not ok {i} - {preset}: {exc}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
