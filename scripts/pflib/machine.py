"""The QEMU process of a run, on the base's python/qemu QEMUMachine.

QEMUMachine launches QEMU, connects QMP (here a server socket in the run
directory, so ``qmp.sock`` is where a person expects it), gives the console
socket and shuts QEMU down gracefully (``quit``, then a kill after a bound).
This class adds what a scenario run needs on top: every QMP command, reply
and event written to qmp.log, and an ordered event list with a cursor
(events are consumed in order: see steps.py).
"""

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from qemu.machine import QEMUMachine
from qemu.machine.machine import AbnormalShutdown, VMLaunchFailure
from qemu.qmp import ExecuteError, QMPError


class MachineError(Exception):
    """QEMU could not be started or talked to."""


class Machine(QEMUMachine):
    """A QEMUMachine whose QMP traffic is logged to the run directory."""

    def __init__(self, binary: Path, args: Sequence[str], rundir: Path,
                 t_start: float, extra_monitor: Optional[Path] = None):
        self.rundir = rundir
        self.t_start = t_start
        self.qmp_sock = rundir / "qmp.sock"
        if self.qmp_sock.exists():
            self.qmp_sock.unlink()
        args = list(args)
        self.user_sock = extra_monitor
        if extra_monitor is not None:
            # a second QMP monitor for a person (plugfault boot / qmp)
            args += ["-chardev",
                     f"socket,id=qmpuser,path={extra_monitor},"
                     f"server=on,wait=off",
                     "-mon", "chardev=qmpuser,mode=control"]
        # QEMU's stdout and stderr go to log_dir/name.log
        super().__init__(str(binary), args=args, name="qemu-stderr",
                         monitor_address=str(self.qmp_sock),
                         log_dir=str(rundir), qmp_timer=30.0)
        self.set_console()
        # pylint: disable=consider-using-with  # closed in close_log()
        self.qmpf = open(rundir / "qmp.log", "w", encoding="utf-8")
        self.events: List[Dict[str, Any]] = []
        self.event_cursor = 0

    # ------------------------------------------------------------ logging
    def log(self, direction: str, obj: Any) -> None:
        """One line of qmp.log."""
        if self.qmpf.closed:
            return
        stamp = round(time.monotonic() - self.t_start, 3)
        self.qmpf.write(json.dumps({"t": stamp,
                                    direction: obj}, default=str) + "\n")
        self.qmpf.flush()

    def close_log(self) -> None:
        """Close qmp.log."""
        self.qmpf.close()

    def full_args(self) -> List[str]:
        """The QEMU command line (after launch)."""
        return list(self._qemu_full_args)

    # ------------------------------------------------------------ process
    def start(self) -> None:
        """Launch QEMU and connect QMP; MachineError on failure."""
        try:
            self.launch()
        except VMLaunchFailure as exc:
            raise MachineError(
                f"QEMU did not start or connect to QMP "
                f"({type(exc.__cause__).__name__}); "
                f"stderr: {last_line(exc.output)}") from exc
        self.log("greeting", "connected")

    def stderr_tail(self) -> str:
        """The last line QEMU printed on stdout/stderr."""
        try:
            text = (self.rundir / "qemu-stderr.log").read_text(
                encoding="utf-8", errors="replace")
        except OSError:
            return "(no stderr)"
        return last_line(text)

    def stop(self, timeout: int = 10) -> None:
        """Quit QEMU gracefully, or kill it after `timeout` seconds."""
        if self.is_running() and not self._quit_issued:
            self.log("cmd", {"execute": "quit"})
        try:
            self.shutdown(timeout=timeout)
        except (AbnormalShutdown, QMPError, OSError):
            pass
        except Exception:  # pylint: disable=broad-except
            # QMP may be half-way through a command that a signal
            # interrupted: make sure the process is gone anyway.
            self.kill_now()
        self.kill_now()

    def kill_now(self) -> None:
        """SIGKILL QEMU if it still runs (last resort)."""
        pid = self._popen.pid if self._popen else None
        if pid and self._popen is not None and self._popen.poll() is None:
            os.kill(pid, signal.SIGKILL)
            self._popen.wait(timeout=10)

    # ------------------------------------------------------------ QMP
    def command(self, name: str, args: Dict[str, Any]) -> Any:
        """Run a QMP command; its return value.  ExecuteError on error."""
        self.log("cmd", {"execute": name, "arguments": args})
        try:
            ret = self.cmd(name, args_dict=args)
        except ExecuteError as exc:
            self.log("error", {"class": exc.error_class,
                               "desc": exc.error.error.desc})
            raise
        self.log("return", ret)
        return ret

    def hmp(self, command_line: str, cpu: Optional[int] = None) -> str:
        """An HMP command through QMP (not logged: samples are many)."""
        args: Dict[str, Any] = {"command-line": command_line}
        if cpu is not None:
            args["cpu-index"] = cpu
        return str(self.cmd("human-monitor-command", args_dict=args))

    def pump_events(self, wait: float = 0.0) -> None:
        """Move QMP events into self.events (waiting up to `wait` s for
        the first one)."""
        try:
            event = self.get_qmp_event(wait=wait) if wait else \
                self.get_qmp_event()
        except TimeoutError:
            event = None
        while event is not None:
            self.events.append(event)
            self.log("event", event)
            event = self.get_qmp_event()

    def qemu_pid(self) -> Optional[int]:
        """The QEMU process id while it runs."""
        return self.get_pid()


def last_line(text: Optional[str]) -> str:
    """The last non-empty line of `text`."""
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "(no stderr)"
