"""The guest console: a buffer that steps search, and the shell protocol.

The machine's first serial port is a socket chardev (QEMUMachine's console
socket).  A reader thread copies it into console.log and into a buffer that
steps search with bounded waits.  Guest commands run in the initramfs shell
on that console: each is wrapped in unique begin/end markers, so its output
and exit status are exact.
"""

import base64
import binascii
import re
import socket
import threading
import time
from pathlib import Path
from typing import Callable, IO, Optional, Tuple


class ConsoleClosed(Exception):
    """The console cannot be written to any more (QEMU went away)."""


class ShellError(Exception):
    """A guest command did not run as the protocol expects."""


ToRaw = Callable[[int], int]


class Console:
    """The console's text so far, filled by a reader thread."""

    # A kernel console message: printk's "[ seconds.micros] text" or OPAL's
    # "[ seconds.nanos,level] text".  It is always a whole line, but the
    # kernel may splice it into the middle of a line the shell is writing.
    KMSG = re.compile(r"\[\s*\d+\.\d+(?:,\d)?\] [^\n]*\n")

    def __init__(self, sock: Optional[socket.socket], logpath: Path):
        self.buf = ""
        self.cond = threading.Condition()
        self.closed = False
        self.sock = sock
        # pylint: disable=consider-using-with  # closed in close()
        self.log: IO[str] = open(logpath, "w", buffering=1,
                                 encoding="utf-8", errors="replace")
        self.thread: Optional[threading.Thread] = None
        self.on_output: Optional[Callable[[bytes], None]] = None
        if sock is not None:
            sock.settimeout(0.5)
            self.thread = threading.Thread(target=self._reader, daemon=True)
            self.thread.start()

    def _reader(self) -> None:
        assert self.sock is not None
        while True:
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            echo = self.on_output
            if echo is not None:
                echo(chunk)
            self.feed(chunk.decode("utf-8", "replace"))
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def feed(self, text: str) -> None:
        """Append console output (the reader thread; tests call it too)."""
        text = text.replace("\r\n", "\n").replace("\r", "")
        self.log.write(text)
        with self.cond:
            self.buf += text
            self.cond.notify_all()

    def write(self, data: bytes) -> None:
        """Type into the console."""
        if self.sock is None:
            raise ConsoleClosed("no console")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConsoleClosed("QEMU's console is closed") from exc

    def note(self, text: str) -> None:
        """A line in console.log that the guest did not print."""
        self.log.write(text)

    def wait(self, regex: str, start: int, timeout: float,
             flags: int = re.M) -> Optional[re.Match]:
        """Search the console from `start`; the match, or None on
        timeout/EOF."""
        pat = re.compile(regex, flags)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                match = pat.search(self.buf, start)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 1.0))

    def shell_view(self, start: int) -> Tuple[str, ToRaw]:
        """The console from `start` with kernel messages cut out (which
        also re-joins any shell line they split), and a function mapping
        positions in that view back to positions in the console."""
        raw = self.buf[start:]
        pieces, cuts, pos, removed = [], [], 0, 0
        for kmsg in self.KMSG.finditer(raw):
            pieces.append(raw[pos:kmsg.start()])
            size = kmsg.end() - kmsg.start()
            cuts.append((kmsg.start() - removed, removed + size))
            removed += kmsg.end() - kmsg.start()
            pos = kmsg.end()
        pieces.append(raw[pos:])

        def to_raw(cpos: int) -> int:
            extra = 0
            for cstart, total in cuts:
                if cstart > cpos:
                    break
                extra = total
            return start + cpos + extra
        return "".join(pieces), to_raw

    def wait_shell(self, regex: str, start: int, timeout: float
                   ) -> Tuple[Optional[re.Match], Optional[ToRaw]]:
        """Like wait(), on the shell view; (match, to_raw) or
        (None, None)."""
        pat = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                view, to_raw = self.shell_view(start)
                match = pat.search(view)
                if match:
                    return match, to_raw
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None, None
                self.cond.wait(min(left, 1.0))

    def stop(self) -> None:
        """Wait for the reader (its socket is closed by the machine)."""
        if self.thread:
            self.thread.join(timeout=5)

    def close(self) -> None:
        """Close console.log."""
        self.stop()
        self.log.close()


class Shell:
    """Runs commands in the guest's initramfs shell over the console.

    The command runs in a subshell with its output captured, then replayed
    base64-encoded with a per-line prefix.  Kernel messages share the
    console and may land in the middle of a replayed line; they are cut out
    of the shell's view (Console.shell_view), which base64 makes
    unambiguous: command output can look like dmesg, base64 cannot.
    Separate lines, not ';': a command may end in '&'.  The markers are
    assembled by the shell ("@@pf-""begin"), so an echoed input line can
    never be mistaken for them.
    """

    def __init__(self, console: Console):
        self.console = console
        self.seq = 0
        self.cursor = 0        # console position after the last step

    @staticmethod
    def wrap(cmd: str, num: int) -> str:
        """The text typed into the shell for command number n."""
        return (f"echo \"@@pf-\"\"begin-{num}@@\"\n( {cmd}\n) > /tmp/.pf-out "
                f"2>&1\npf_rc=$?; base64 /tmp/.pf-out | sed 's/^/@@o /'; "
                f"echo \"@@pf-\"\"rc-$pf_rc-{num}@@\"\n")

    def send(self, cmd: str) -> int:
        """Type command `cmd`; its sequence number."""
        self.seq += 1
        self.console.note(f"\n# plugfault> {cmd}\n")
        self.console.write(self.wrap(cmd, self.seq).encode())
        return self.seq

    def wait_begin(self, num: int, timeout: float) -> Optional[int]:
        """Console position after command n's begin marker, or None."""
        begin, to_raw = self.console.wait_shell(rf"@@pf-begin-{num}@@$",
                                                self.cursor, timeout)
        if not begin or to_raw is None:
            return None
        return to_raw(begin.end())

    def wait_end(self, num: int, body: int, timeout: float
                 ) -> Optional[Tuple[int, str]]:
        """(exit status, output) of command n whose output starts at
        `body`, or None if it did not finish within `timeout`.  On success
        the cursor moves past the end marker."""
        end, to_raw = self.console.wait_shell(
            rf"^(.*?)@@pf-rc-(\d+)-{num}@@$", body, timeout)
        if not end or to_raw is None:
            return None
        view, _ = self.console.shell_view(body)
        text = view[:end.start()] + end.group(1)
        b64 = "".join(line[4:].strip() for line in text.split("\n")
                      if line.startswith("@@o "))
        try:
            output = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise ShellError("its replayed output is garbled") from exc
        self.cursor = to_raw(end.end())
        return int(end.group(2)), output.decode("utf-8", "replace")

    def skip_to_end(self) -> None:
        """Later console searches start from what the console shows now."""
        self.cursor = len(self.console.buf)
