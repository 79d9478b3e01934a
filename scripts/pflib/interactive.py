"""plugfault boot: the guest's console on this terminal, QMP on a socket.

Once the guest is ready (the scenario's or preset's first console step),
the terminal is put in raw mode and relayed to the console socket; the
console goes on into console.log and QMP events into qmp.log as in a run.
A second QMP monitor, ``qmp-user.sock`` in the run directory, is for the
person (``plugfault qmp SOCKET COMMAND key=value``, or the base's
qmp-shell).  Ctrl-a x ends the session (QEMU is shut down gracefully and
the artifacts are kept), Ctrl-a h prints help, Ctrl-a a sends Ctrl-a.
"""

import os
import select
import sys
import termios
import tty
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    from .runner import Run

ESCAPE = 0x01          # Ctrl-a

HELP = """\r
plugfault boot: Ctrl-a x  quit (QEMU shut down, artifacts kept)\r
                Ctrl-a s  show the QMP socket again\r
                Ctrl-a a  send Ctrl-a to the guest\r
                Ctrl-a h  this help\r
"""


def _out(data: bytes) -> None:
    os.write(sys.stdout.fileno(), data)


def banner(run: "Run") -> str:
    """What a person needs to poke the machine."""
    sock = run.rundir / "qmp-user.sock"
    return (f"\r\nplugfault boot: {run.scen.name} ({run.scen.machine}, "
            f"{run.kernel_name}) ready\r\n"
            f"  QMP socket: {sock}\r\n"
            f"  e.g. scripts/plugfault qmp {sock} query-pci\r\n"
            f"  artifacts: {run.rundir}\r\n"
            f"  Ctrl-a x quits, Ctrl-a h help\r\n")


class Keys:
    """The Ctrl-a escapes: what to send to the guest, and whether to quit."""

    def __init__(self, run: "Run"):
        self.run = run
        self.escape = False
        self.quit = False

    def feed(self, data: bytes) -> bytes:
        """The bytes for the guest out of what was typed."""
        send = bytearray()
        for byte in data:
            if self.quit:
                break
            if self.escape:
                self.escape = False
                self.command(byte, send)
            elif byte == ESCAPE:
                self.escape = True
            else:
                send.append(byte)
        return bytes(send)

    def command(self, byte: int, send: bytearray) -> None:
        """The key after Ctrl-a."""
        if byte in (ord("x"), ord("X")):
            self.quit = True
        elif byte == ord("a"):
            send.append(ESCAPE)
        elif byte == ord("s"):
            _out(banner(self.run).encode())
        else:
            _out(HELP.encode())


def session(run: "Run") -> None:
    """Relay the terminal and the console until Ctrl-a x or QEMU exits."""
    assert run.console is not None and run.machine is not None
    console, machine = run.console, run.machine
    tail = console.buf[-2000:].split("\n")[-15:]
    _out("\r\n".join(tail).encode(errors="replace"))
    _out(banner(run).encode())
    # the scenario shell runs without echo or prompt: a person wants both
    console.write(b"stty echo 2>/dev/null; PS1='(guest) # '; export PS1\n")
    console.on_output = _out
    fd = sys.stdin.fileno()
    saved: Optional[List] = None          # type: ignore[type-arg]
    if os.isatty(fd):
        saved = termios.tcgetattr(fd)
        # TCSANOW, not setraw's default TCSAFLUSH: that would drop what
        # was typed while the guest booted (a line typed ahead is kept)
        tty.setraw(fd, termios.TCSANOW)
    keys = Keys(run)
    try:
        while machine.is_running() and not console.closed and not keys.quit:
            machine.pump_events()
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            data = os.read(fd, 1024)
            if not data:
                break                     # stdin closed: end the session
            send = keys.feed(data)
            if send:
                console.write(send)
        if keys.quit:
            run.say("boot: Ctrl-a x")
            return
        run.say("boot: QEMU exited or the console closed")
    finally:
        console.on_output = None
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        _out(b"\r\n")
