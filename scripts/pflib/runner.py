"""Run one scenario: boot the guest on QEMU, drive it, decide a verdict.

QEMU's console (the machine's first serial port) is a stdio chardev on a pipe;
a reader thread copies it to console.log and into a buffer that steps search
with bounded waits.  QMP goes through the base's own client library
(python/qemu/qmp), and every command, reply and event is written to qmp.log.
Guest commands run in the initramfs shell on the console: each is wrapped in
unique begin/end markers, so its output and exit status are exact.
"""

import base64
import binascii
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from . import guest as guestmod
from . import testmod
from .scenario import Scenario, ScenarioError, Step, substitute

PASS, FAIL, SETUP = 0, 1, 2
VERDICT_NAMES = {PASS: "PASS", FAIL: "FAIL", SETUP: "ERROR"}


class StepFailed(Exception):
    """A scenario expectation was not met (verdict FAIL)."""


class SetupFailed(Exception):
    """The run could not be set up or the harness broke (verdict ERROR)."""


@dataclass
class Options:
    repo: Path
    qemu: Optional[Path] = None          # override the QEMU binary
    kernel: Optional[Path] = None        # user kernel image
    modules: Optional[Path] = None       # user modules tree
    initrd: Optional[Path] = None        # appended initramfs
    artifacts: Optional[Path] = None     # base dir for run directories
    until_ready: bool = False            # stop after the first console step
    quiet: bool = False
    extra_qemu: tuple = ()


class Console:
    def __init__(self, stream, logpath: Path):
        self.buf = ""
        self.cond = threading.Condition()
        self.closed = False
        self.log = open(logpath, "w", buffering=1, errors="replace")
        self.t = threading.Thread(target=self._reader, args=(stream,), daemon=True)
        self.t.start()

    def _reader(self, stream):
        while True:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")
            self.log.write(text)
            with self.cond:
                self.buf += text
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait(self, rx: str, start: int, timeout: float, flags=re.M):
        """Search the console from `start`; return the match or None on timeout/EOF."""
        pat = re.compile(rx, flags)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = pat.search(self.buf, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 1.0))

    # A kernel console message: printk's "[ seconds.micros] text" or OPAL's
    # "[ seconds.nanos,level] text".  It is always a whole line, but the
    # kernel may splice it into the middle of a line the shell is writing.
    KMSG = re.compile(r"\[\s*\d+\.\d+(?:,\d)?\] [^\n]*\n")

    def shell_view(self, start: int):
        """The console from `start` with kernel messages cut out (which also
        re-joins any shell line they split), and a function mapping positions
        in that view back to positions in the console."""
        raw = self.buf[start:]
        pieces, cuts, pos, removed = [], [], 0, 0
        for m in self.KMSG.finditer(raw):
            pieces.append(raw[pos:m.start()])
            cuts.append((m.start() - removed, removed + m.end() - m.start()))
            removed += m.end() - m.start()
            pos = m.end()
        pieces.append(raw[pos:])

        def to_raw(cpos):
            extra = 0
            for cstart, total in cuts:
                if cstart > cpos:
                    break
                extra = total
            return start + cpos + extra
        return "".join(pieces), to_raw

    def wait_shell(self, rx: str, start: int, timeout: float):
        """Like wait(), on the shell view; returns (match, to_raw) or (None, None)."""
        pat = re.compile(rx, re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                view, to_raw = self.shell_view(start)
                m = pat.search(view)
                if m:
                    return m, to_raw
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None, None
                self.cond.wait(min(left, 1.0))

    def close(self):
        self.log.close()


class Run:
    def __init__(self, sc: Scenario, opts: Options):
        self.sc = sc
        self.opts = opts
        self.seq = 0
        self.cursor = 0              # console position after the last console step
        self.events: List[dict] = []
        self.event_cursor = 0
        self.proc = None
        self.qmp = None
        self.steplog = None
        self.t0 = time.monotonic()
        self.deadline = self.t0 + sc.timeout
        self.variables = {}

    # ------------------------------------------------------------ helpers
    def say(self, msg):
        line = f"[{time.monotonic() - self.t0:7.2f}s] {msg}"
        if self.steplog:
            self.steplog.write(line + "\n")
            self.steplog.flush()
        if not self.opts.quiet:
            print(line, flush=True)

    def qmplog(self, direction, obj):
        self.qmpf.write(json.dumps({"t": round(time.monotonic() - self.t0, 3),
                                    direction: obj}, default=str) + "\n")
        self.qmpf.flush()

    def bounded(self, timeout):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"scenario time limit ({self.sc.timeout:.0f}s) exceeded")
        return min(timeout, left)

    def check_health(self):
        for rx in self.sc.fail_patterns:
            m = re.search(rx, self.console.buf)
            if m:
                line = self.console.buf[self.console.buf.rfind("\n", 0, m.start()) + 1:]
                line = line.split("\n", 1)[0]
                raise StepFailed(f"guest console matched fail pattern {rx!r}: {line.strip()}")
        if self.proc.poll() is not None:
            raise StepFailed(f"QEMU exited with status {self.proc.returncode}: "
                             f"{self.stderr_tail()}")

    def stderr_tail(self):
        try:
            lines = (self.rundir / "qemu-stderr.log").read_text().strip().splitlines()
            return lines[-1] if lines else "(no stderr)"
        except OSError:
            return "(no stderr)"

    def pump_events(self, wait: float = 0.0):
        import asyncio
        try:
            ev = self.qmp.pull_event(wait=wait) if wait else self.qmp.pull_event()
        except asyncio.TimeoutError:
            ev = None
        while ev is not None:
            self.events.append(ev)
            self.qmplog("event", ev)
            ev = self.qmp.pull_event()

    # ------------------------------------------------------------ setup
    def qemu_binary(self):
        if self.opts.qemu:
            return self.opts.qemu
        b = self.opts.repo / "build" / f"qemu-system-{self.sc.arch}"
        if not b.exists():
            raise SetupFailed(f"{b} is not built (run make)")
        return b

    def build_guest(self):
        arch = {"ppc64": "ppc64el", "x86_64": "amd64"}[self.sc.arch]
        try:
            if self.opts.kernel:
                k = guestmod.user_kernel(self.opts.kernel, self.opts.modules, arch)
            else:
                k = guestmod.fetch_debian_kernel(self.sc.kernel, self.opts.repo)
            if k.arch != arch:
                raise SetupFailed(f"kernel {k.name} is {k.arch}, scenario needs {arch}")
            bb = guestmod.fetch_busybox(arch, self.opts.repo)
            files = {}
            for m in self.sc.test_modules:
                if self.opts.kernel:
                    raise SetupFailed(f"test module {m} is built for {self.sc.kernel}, "
                                      f"not for --kernel")
                files[f"lib/modules/plugfault-test/{m}.ko"] = \
                    testmod.build(m, self.sc.kernel, self.opts.repo)
            img = guestmod.build_initramfs(k, bb, self.sc.modules, self.sc.setup,
                                           self.opts.initrd, files=files)
        except guestmod.GuestError as e:
            raise SetupFailed(str(e))
        except testmod.TestModError as e:
            raise SetupFailed(str(e))
        initrd = self.rundir / "initramfs.cpio"
        initrd.write_bytes(img)
        self.say(f"guest: {k.description}; initramfs {len(img) // 1024} KiB, "
                 f"modules {', '.join(self.sc.modules) or 'none'}")
        return k, initrd

    def start(self):
        from qemu.qmp.legacy import QEMUMonitorProtocol
        kernel, initrd = self.build_guest()
        qsock = self.rundir / "qmp.sock"
        if qsock.exists():
            qsock.unlink()
        self.qmp = QEMUMonitorProtocol(str(qsock), server=True)
        args = [str(self.qemu_binary()), "-M", self.sc.machine, "-display", "none",
                "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
                "-chardev", f"socket,id=qmp0,path={qsock}",
                "-mon", "chardev=qmp0,mode=control",
                "-kernel", str(kernel.image), "-initrd", str(initrd),
                "-append", self.sc.append] + self.sc.qemu + list(self.opts.extra_qemu)
        (self.rundir / "qemu-cmdline.txt").write_text(shlex.join(args) + "\n")
        self.say(f"qemu: {shlex.join(args[:3])} ... (full line in qemu-cmdline.txt)")
        self.stderr = open(self.rundir / "qemu-stderr.log", "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, start_new_session=True)
        self.console = Console(self.proc.stdout, self.rundir / "console.log")
        try:
            greeting = self.qmp.accept(timeout=30.0)
        except Exception as e:  # noqa: BLE001 -- any failure here is a setup error
            self.proc.poll()
            raise SetupFailed(f"QEMU did not connect to QMP ({type(e).__name__}); "
                              f"stderr: {self.stderr_tail()}")
        self.qmplog("greeting", greeting)

    def stop(self):
        if self.qmp and self.proc and self.proc.poll() is None:
            try:
                self.qmplog("cmd", {"execute": "quit"})
                self.qmp.cmd("quit")
            except Exception:  # noqa: BLE001 -- QEMU may already be gone
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.qmp:
            try:
                self.qmp.close()
            except Exception:  # noqa: BLE001
                pass
        if getattr(self, "console", None):
            self.console.t.join(timeout=5)
            self.console.close()

    # ------------------------------------------------------------ steps
    def do_console(self, st: Step):
        rx = substitute(st.value, self.variables)
        m = self.console.wait(rx, self.cursor, self.bounded(st.timeout))
        if not m:
            self.check_health()
            raise StepFailed(f"console did not show /{rx}/ within {st.timeout:.0f}s")
        self.cursor = m.end()
        return m.group(0).strip()

    def guest_exec(self, cmd: str, timeout: float, hang: bool = False):
        self.seq += 1
        n = self.seq
        # The command runs in a subshell with its output captured, then
        # replayed base64-encoded with a per-line prefix.  Kernel messages
        # share the console and may land in the middle of a replayed line;
        # they are cut out of the shell's view (Console.shell_view), which
        # base64 makes unambiguous: command output can look like dmesg,
        # base64 cannot.  Separate lines, not ';': a command may end in '&'.
        # The markers are assembled by the shell ("@@pf-""begin"), so an
        # echoed input line can never be mistaken for them.
        line = (f"echo \"@@pf-\"\"begin-{n}@@\"\n( {cmd}\n) > /tmp/.pf-out 2>&1\n"
                f"pf_rc=$?; base64 /tmp/.pf-out | sed 's/^/@@o /'; "
                f"echo \"@@pf-\"\"rc-$pf_rc-{n}@@\"\n")
        self.console.log.write(f"\n# plugfault> {cmd}\n")
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise StepFailed("QEMU's console is closed")
        begin, to_raw = self.console.wait_shell(rf"@@pf-begin-{n}@@$", self.cursor,
                                                self.bounded(timeout))
        if not begin and hang:
            # locked up so hard that the shell does not even start the
            # command: it certainly did not finish.  Later console steps
            # look at what the console shows from now on.
            self.check_health()
            self.cursor = len(self.console.buf)
            return None, ""
        if not begin:
            self.check_health()
            raise StepFailed(f"guest shell did not start '{cmd}' within {timeout:.0f}s")
        body = to_raw(begin.end())
        end, to_raw = self.console.wait_shell(rf"^(.*?)@@pf-rc-(\d+)-{n}@@$", body,
                                              self.bounded(timeout))
        if hang:
            if end:
                raise StepFailed(f"guest command '{cmd}' finished (rc {end.group(2)}) "
                                 f"but was expected to hang")
            self.cursor = len(self.console.buf)
            return None, ""
        if not end:
            self.check_health()
            raise StepFailed(f"guest command '{cmd}' did not finish within {timeout:.0f}s")
        view, _ = self.console.shell_view(body)
        text = view[:end.start()] + end.group(1)
        b64 = "".join(l[4:].strip() for l in text.split("\n") if l.startswith("@@o "))
        try:
            output = base64.b64decode(b64, validate=True).decode("utf-8", "replace")
        except binascii.Error:
            raise StepFailed(f"guest command '{cmd}': its replayed output is garbled")
        self.cursor = to_raw(end.end())
        return int(end.group(2)), output.rstrip("\n")

    def do_guest(self, st: Step):
        cmd = substitute(st.value, self.variables)
        rc, out = self.guest_exec(cmd, st.timeout, st.hang)
        if st.hang:
            return f"no answer within {st.timeout:.0f}s, as expected"
        short = out.strip().splitlines()[-1][:100] if out.strip() else ""
        if rc != st.rc:
            raise StepFailed(f"guest '{cmd}' exited {rc}, expected {st.rc}"
                             + (f": {short}" if short else ""))
        if st.output is not None and not re.search(substitute(st.output, self.variables), out, re.M):
            raise StepFailed(f"guest '{cmd}' output does not match /{st.output}/: "
                             f"{out.strip()[:200]!r}")
        if st.not_output is not None and re.search(substitute(st.not_output, self.variables),
                                                   out, re.M):
            raise StepFailed(f"guest '{cmd}' output matches /{st.not_output}/: "
                             f"{out.strip()[:200]!r}")
        return f"rc={rc}" + (f" {short}" if short else "")

    def do_qmp(self, st: Step):
        from qemu.qmp import ExecuteError
        name = substitute(st.value, self.variables)
        args = substitute(st.args, self.variables)
        self.qmplog("cmd", {"execute": name, "arguments": args})
        try:
            ret = self.qmp.cmd(name, **args)
        except ExecuteError as e:
            desc = e.error.error.desc
            self.qmplog("error", {"class": e.error_class, "desc": desc})
            if st.error is not None and re.search(st.error, desc):
                return f"error as expected: {desc}"
            raise StepFailed(f"QMP {name} failed: {desc}")
        self.qmplog("return", ret)
        if st.error is not None:
            raise StepFailed(f"QMP {name} succeeded, expected an error /{st.error}/")
        want = substitute(st.expect, self.variables)
        # an empty list is an expectation too ("returns nothing"); {} is none
        if (want or isinstance(want, list)) and not _subset(want, ret):
            raise StepFailed(f"QMP {name} returned {json.dumps(ret)[:200]}, "
                             f"expected {json.dumps(want)}")
        return json.dumps(ret)[:100]

    def do_event(self, st: Step):
        name = substitute(st.value, self.variables)
        data = substitute(st.data, self.variables)
        deadline = time.monotonic() + self.bounded(st.timeout)
        while True:
            for i in range(self.event_cursor, len(self.events)):
                ev = self.events[i]
                if ev.get("event") == name and _subset(data, ev.get("data", {})):
                    self.event_cursor = i + 1
                    return json.dumps(ev.get("data", {}))[:100]
            left = deadline - time.monotonic()
            if left <= 0:
                self.check_health()
                raise StepFailed(f"no QMP event {name} {json.dumps(data) if data else ''}"
                                 f" within {st.timeout:.0f}s")
            self.pump_events(wait=min(left, 0.5))
            self.check_health()

    def run_steps(self, steps, prefix=""):
        for i, st in enumerate(steps, 1):
            label = f"{prefix}{i}"
            if st.kind == "repeat":
                for c in range(1, st.value + 1):
                    self.variables["cycle"] = c
                    self.say(f"step {label}: repeat {c}/{st.value}")
                    self.run_steps(st.steps, f"{label}.{c}.")
                    self.sample_rss(c)
                    if self.opts.until_ready:
                        return
                continue
            if st.kind == "note":
                self.say(f"step {label}: {substitute(st.value, self.variables)}")
                continue
            desc = st.name or f"{st.kind} {substitute(st.value, self.variables)}"
            t = time.monotonic()
            try:
                result = getattr(self, f"do_{st.kind}")(st)
            except StepFailed as e:
                raise StepFailed(f"step {label} ({desc}): {e}")
            self.pump_events()
            self.check_health()
            self.say(f"step {label} ok ({time.monotonic() - t:.2f}s): {desc} -> {result}")
            if self.opts.until_ready and st.kind == "console":
                raise _Ready()

    # ------------------------------------------------------------ soak report
    def qemu_rss_kib(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    BIG_MAPPING_KIB = 256 * 1024

    def qemu_small_rss_kib(self):
        """RSS outside mappings of 256 MiB or more (guest RAM, TCG code buffer):
        QEMU's own heap and libraries, where a device-model leak would show."""
        total, size, rss = 0, 0, 0
        try:
            for line in open(f"/proc/{self.proc.pid}/smaps"):
                if line.startswith("Size:"):
                    size = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
                    if size < self.BIG_MAPPING_KIB:
                        total += rss
        except OSError:
            return None
        return total

    def sample_rss(self, cycle):
        if not self.sc.report.get("rss"):
            return
        kib, small = self.qemu_rss_kib(), self.qemu_small_rss_kib()
        if kib is not None and small is not None:
            self.rss.append((cycle, kib, small))
            self.rssf.write(f"{cycle},{kib},{small}\n")
            self.rssf.flush()

    def soak_report(self):
        """One line for the verdict, and an assertion on RSS growth."""
        parts = []
        rep = self.sc.report
        if rep.get("rss") and self.rss:
            warm = int(rep.get("warmup_cycles", 0))
            first = next((r for r in self.rss if r[0] >= warm), self.rss[0])
            last = self.rss[-1]
            growth, small_growth = last[1] - first[1], last[2] - first[2]
            parts.append(f"QEMU RSS {first[1]} -> {last[1]} KiB ({growth:+d} KiB), "
                         f"outside guest RAM and the TCG code buffer {first[2]} -> {last[2]} "
                         f"KiB ({small_growth:+d} KiB), cycles {first[0]}..{last[0]}")
            limit = rep.get("rss_growth_max_kib")
            if limit is not None and small_growth > limit:
                raise StepFailed(f"{parts[-1]}: more than the {limit} KiB allowed")
        for label, rx in rep.get("console_counts", {}).items():
            n = len(re.findall(rx, self.console.buf, re.M))
            parts.append(f"{n} {label}")
        return "; ".join(parts)

    def execute(self):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = self.opts.artifacts or (self.opts.repo / "build" / "artifacts")
        self.rundir = base / f"{self.sc.name}-{stamp}-{os.getpid()}"
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.steplog = open(self.rundir / "steps.log", "w")
        self.qmpf = open(self.rundir / "qmp.log", "w")
        self.rss = []
        self.rssf = open(self.rundir / "rss.csv", "w") if self.sc.report.get("rss") else None
        verdict, reason = PASS, "all steps passed"
        try:
            self.say(f"scenario {self.sc.name}: {self.sc.description}")
            self.say(f"artifacts: {self.rundir}")
            self.start()
            try:
                self.run_steps(self.sc.steps)
                report = self.soak_report()
                if report:
                    reason += f"; {report}"
                    self.say(f"report: {report}")
            except _Ready:
                reason = "guest ready (--until-ready)"
        except StepFailed as e:
            verdict, reason = FAIL, str(e)
        except (SetupFailed, ScenarioError) as e:
            verdict, reason = SETUP, str(e)
        finally:
            self.stop()
        elapsed = time.monotonic() - self.t0
        (self.rundir / "verdict.txt").write_text(
            f"{VERDICT_NAMES[verdict]} {self.sc.name} {elapsed:.1f}s: {reason}\n")
        self.steplog.close()
        self.qmpf.close()
        if self.rssf:
            self.rssf.close()
        return verdict, reason, elapsed, self.rundir


class _Ready(Exception):
    pass


def _subset(want, have) -> bool:
    """True when every key/value of `want` appears in `have` (recursively)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _subset(v, have[k])
                                              for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and \
            all(_subset(a, b) for a, b in zip(want, have))
    if isinstance(want, str) and isinstance(have, str) and want.startswith("re:"):
        return re.search(want[3:], have) is not None
    return want == have
