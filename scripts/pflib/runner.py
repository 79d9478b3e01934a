"""Run one scenario: boot the guest on QEMU, drive it, decide a verdict.

The pieces, one job each: machine.py (the QEMU process, on the base's
QEMUMachine, and QMP logging), console.py (the console buffer and the
shell protocol), steps.py (step dispatch and health checks), soak.py (RSS
and console counts), stuck.py (where the vCPUs are on a hang), kernels.py
and facts.py (which kernel, and what the scenario expects of it).  This
module ties them together: run directory, kernel and expectation, guest
image, the run itself, signals, and the verdict.
"""

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, IO, List, Optional, Tuple

from . import facts as factsmod
from . import guest as guestmod
from . import kernels, testmod
from .console import Console
from .kernels import CannotTest
from .machine import Machine, MachineError
from .scenario import Scenario, ScenarioError
from .soak import Soak
from .steps import Ready, StepFailed, Steps

PASS, FAIL, SKIP, ERROR, INTERRUPTED = "PASS", "FAIL", "SKIP", "ERROR", \
    "INTERRUPTED"
EXIT = {PASS: 0, FAIL: 1, SKIP: 125, ERROR: 125, INTERRUPTED: 125}
ARCH = {"ppc64": "ppc64el", "x86_64": "amd64"}


class SetupFailed(Exception):
    """The run could not be set up or the harness broke (ERROR)."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP: stop QEMU, keep artifacts, exit 125."""


@dataclass
class Options:
    """How to run (command-line options)."""
    # pylint: disable=too-many-instance-attributes
    repo: Path
    qemu: Optional[Path] = None          # override the QEMU binary
    kernel: Optional[str] = None         # kernel spec (kernels.resolve)
    modules: Optional[Path] = None       # user modules tree
    initrd: Optional[Path] = None        # appended initramfs
    artifacts: Optional[Path] = None     # base dir for run directories
    rundir: Optional[Path] = None        # exact run directory (matrix)
    until_ready: bool = False            # stop after the first console step
    quiet: bool = False
    extra_qemu: Tuple[str, ...] = ()
    facts: Dict[str, bool] = field(default_factory=dict)  # --fact overrides
    interactive: Optional[Callable[["Run"], None]] = None  # plugfault boot


@dataclass
class Result:
    """A run's verdict, as the reports read it."""
    # pylint: disable=too-many-instance-attributes
    scenario: str
    kernel: str
    verdict: str
    reason: str
    elapsed: float
    rundir: Optional[Path]
    steps: List[Dict[str, Any]] = field(default_factory=list)
    failed_step: str = ""
    outcome: str = ""

    @property
    def code(self) -> int:
        """The exit status for this verdict."""
        return EXIT[self.verdict]

    def to_json(self) -> Dict[str, Any]:
        """For verdict.json."""
        data = dict(self.__dict__)
        data["rundir"] = str(self.rundir) if self.rundir else None
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Result":
        """From verdict.json."""
        data = dict(data)
        data["rundir"] = Path(data["rundir"]) if data.get("rundir") else None
        return cls(**data)


def exit_code(results: List[Result]) -> int:
    """0 all passed, 1 any failed, else 125 (cannot test)."""
    codes = {r.code for r in results}
    if 1 in codes:
        return 1
    return 125 if 125 in codes else 0


class Run:
    """One scenario on one kernel."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, scen: Scenario, opts: Options):
        self.scen = scen
        self.opts = opts
        self.t_start = time.monotonic()
        self.deadline = self.t_start + scen.timeout
        self.rundir = Path()
        self.steplog: Optional[IO[str]] = None
        self.machine: Optional[Machine] = None
        self.console: Optional[Console] = None
        self.steps: Optional[Steps] = None
        self.kernel: Optional[guestmod.GuestKernel] = None
        self.outcome = ""
        self.because = ""
        self.kernel_name = opts.kernel or scen.kernel

    # ------------------------------------------------------------ helpers
    def say(self, msg: str) -> None:
        """A line in steps.log (and on stdout unless quiet)."""
        line = f"[{time.monotonic() - self.t_start:7.2f}s] {msg}"
        if self.steplog and not self.steplog.closed:
            self.steplog.write(line + "\n")
            self.steplog.flush()
        if not self.opts.quiet:
            print(line, flush=True)

    def qemu_binary(self) -> Path:
        """The QEMU binary for the scenario's arch."""
        if self.opts.qemu:
            return self.opts.qemu
        binary = self.opts.repo / "build" / f"qemu-system-{self.scen.arch}"
        if not binary.exists():
            raise SetupFailed(f"{binary} is not built (run make)")
        return binary

    # ------------------------------------------------------------ kernel
    def resolve_kernel(self) -> guestmod.GuestKernel:
        """The kernel to boot, with its facts."""
        arch = ARCH[self.scen.arch]
        spec = self.opts.kernel or self.scen.kernel
        want = kernels.kernel_arch(spec)
        if want and want != arch:
            raise CannotTest(f"cannot test: kernel {spec} is {want}, the "
                             f"scenario needs {arch}")
        try:
            k = kernels.resolve(spec, arch, self.opts.repo, self.opts.modules)
        except guestmod.GuestError as exc:
            raise SetupFailed(str(exc)) from exc
        self.kernel_name = k.name
        if k.arch != arch:
            raise CannotTest(f"cannot test: kernel {k.name} is {k.arch}, "
                             f"scenario needs {arch}")
        return k

    def expectation(self, k: guestmod.GuestKernel) -> None:
        """Check `requires`; choose the expected outcome."""
        evaluator = factsmod.Evaluator(k.facts, self.scen.facts,
                                       self.opts.facts)
        self.say(f"kernel facts: {k.facts.summary()}")
        for expr in self.scen.requires:
            try:
                holds = evaluator.eval(expr)
            except factsmod.Unknown as exc:
                self.say(f"requirement {expr!r} not checked: {exc}")
                continue
            if not holds:
                raise CannotTest(
                    "cannot test: "
                    f"{factsmod.describe_missing(expr, evaluator)}")
        for exp in self.scen.expect:
            try:
                hit = evaluator.eval(exp.when)
            except factsmod.Unknown as exc:
                raise CannotTest(f"cannot test: the expected outcome depends "
                                 f"on {exp.when!r}: {exc} (give --fact)"
                                 ) from exc
            if hit:
                self.outcome, self.because = exp.outcome, exp.because
                self.say(f"expected outcome: {exp.outcome}"
                         + (f" ({exp.because})" if exp.because else ""))
                return
        if self.scen.expect:
            raise CannotTest("cannot test: no [[expect]] matches this kernel")

    def build_guest(self, k: guestmod.GuestKernel) -> Path:
        """The run's initramfs."""
        arch = ARCH[self.scen.arch]
        try:
            busybox = guestmod.fetch_busybox(arch, self.opts.repo)
            files = {}
            for mod in self.scen.test_modules:
                if self.opts.kernel and self.opts.kernel != self.scen.kernel:
                    raise CannotTest(f"cannot test: test module {mod} is "
                                     f"built "
                                     f"for {self.scen.kernel} only")
                files[f"lib/modules/plugfault-test/{mod}.ko"] = \
                    testmod.build(mod, self.scen.kernel, self.opts.repo)
            img = guestmod.build_initramfs(k, busybox, self.scen.modules,
                                           self.scen.setup, self.opts.initrd,
                                           files=files)
        except guestmod.GuestError as exc:
            if "neither in" in str(exc) or "no modules tree" in str(exc):
                raise CannotTest(f"cannot test: {exc}") from exc
            raise SetupFailed(str(exc)) from exc
        except testmod.TestModError as exc:
            raise SetupFailed(str(exc)) from exc
        initrd = self.rundir / "initramfs.cpio"
        initrd.write_bytes(img)
        self.say(f"guest: {k.description}; initramfs {len(img) // 1024} "
                 f"KiB, modules {', '.join(self.scen.modules) or 'none'}")
        return initrd

    # ------------------------------------------------------------ process
    def start(self) -> None:
        """Kernel, expectation, image, QEMU."""
        k = self.resolve_kernel()
        self.kernel = k
        self.expectation(k)
        initrd = self.build_guest(k)
        args = ["-M", self.scen.machine, "-kernel", str(k.image),
                "-initrd", str(initrd), "-append", self.scen.append] + \
            self.scen.qemu + list(self.opts.extra_qemu)
        user = self.rundir / "qmp-user.sock" if self.opts.interactive \
            else None
        self.machine = Machine(self.qemu_binary(), args, self.rundir,
                               self.t_start, extra_monitor=user)
        try:
            self.machine.start()
        except MachineError as exc:
            raise SetupFailed(str(exc)) from exc
        full = self.machine.full_args()
        (self.rundir / "qemu-cmdline.txt").write_text(
            " ".join(_quote(a) for a in full) + "\n")
        self.say(f"qemu: {' '.join(full[:1])} -M {self.scen.machine} ... "
                 f"(full line in qemu-cmdline.txt)")
        self.console = Console(self.machine.console_socket,
                               self.rundir / "console.log")

    def stop(self) -> None:
        """Stop QEMU (gracefully, bounded) and close the logs."""
        if self.machine is not None:
            self.machine.stop(timeout=10)
        if self.console is not None:
            self.console.close()
        if self.machine is not None:
            self.machine.close_log()

    # ------------------------------------------------------------ run
    def body(self) -> str:
        """Start, run the steps, settle, report; the PASS reason."""
        self.start()
        assert self.machine and self.console
        machine = self.machine

        def flush() -> None:
            machine.command("stop", {})
            machine.command("x-tcg-flush", {})

        soak = Soak(self.scen.report, self.rundir, flush=flush,
                    resume=lambda: machine.command("cont", {}))
        self.steps = Steps(
            self.scen, machine, self.console, self.say, self.deadline,
            {}, symbols=(self.kernel.facts.text_symbols()
                         if self.kernel else None),
            outcome=self.outcome or None,
            on_cycle=lambda c: soak.sample(c, machine.qemu_pid()),
            until_ready=self.opts.until_ready or bool(self.opts.interactive))
        try:
            try:
                self.steps.run(self.scen.steps)
            except Ready:
                if self.opts.interactive:
                    self.opts.interactive(self)
                    return "interactive session ended"
                return "guest ready (--until-ready)"
            self.steps.settle(self.scen.settle)
            report = soak.verdict_line(self.console.buf)
        finally:
            soak.close()
        reason = "all steps passed"
        if self.outcome:
            reason = self.outcome + (f" (expected: {self.because})"
                                     if self.because else "")
            if self.steps.found:
                reason += ": " + "; ".join(self.steps.found)
        if report:
            reason += f"; {report}"
            self.say(f"report: {report}")
        return reason

    def execute(self) -> Result:
        """The whole run, whatever happens; the Result."""
        # pylint: disable=too-many-branches  # one branch per verdict
        if self.opts.rundir:
            self.rundir = self.opts.rundir
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = self.opts.artifacts or (self.opts.repo / "build" /
                                           "artifacts")
            self.rundir = base / f"{self.scen.name}-{stamp}-{os.getpid()}"
        self.rundir.mkdir(parents=True, exist_ok=True)
        verdict, reason = PASS, ""
        old = _install_signals()
        try:
            # pylint: disable=consider-using-with  # closed below
            self.steplog = open(self.rundir / "steps.log", "w",
                                encoding="utf-8")
            self.say(f"scenario {self.scen.name}: {self.scen.description}")
            self.say(f"artifacts: {self.rundir}")
            try:
                reason = self.body()
            except StepFailed as exc:
                verdict, reason = FAIL, str(exc)
                if self.outcome:
                    reason = f"expected {self.outcome}" + (
                        f" ({self.because})" if self.because else "") + \
                        f", but {reason}"
            except CannotTest as exc:
                verdict, reason = SKIP, str(exc)
            except (SetupFailed, ScenarioError, kernels.GuestError) as exc:
                verdict, reason = ERROR, f"set-up error: {exc}"
            except Interrupted as exc:
                verdict, reason = INTERRUPTED, f"interrupted ({exc})"
            finally:
                try:
                    self.stop()
                except Interrupted:
                    if self.machine:
                        self.machine.kill_now()
        except Interrupted as exc:
            verdict, reason = INTERRUPTED, f"interrupted ({exc})"
        finally:
            _restore_signals(old)
        return self.finish(verdict, reason)

    def finish(self, verdict: str, reason: str) -> Result:
        """Write verdict.txt / verdict.json; the Result."""
        elapsed = time.monotonic() - self.t_start
        log = self.steps.log if self.steps else []
        failed = next((e["label"] for e in log if not e.get("ok")), "")
        res = Result(self.scen.name, self.kernel_name, verdict, reason,
                     round(elapsed, 2), self.rundir, steps=_plain(log),
                     failed_step=failed, outcome=self.outcome)
        (self.rundir / "verdict.txt").write_text(
            f"{verdict} {self.scen.name} {elapsed:.1f}s: {reason}\n")
        (self.rundir / "verdict.json").write_text(
            json.dumps(res.to_json(), indent=1) + "\n")
        self.say(f"verdict: {verdict}: {reason}")
        if self.steplog:
            self.steplog.close()
        return res


def _plain(log: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "t"} for e in log]


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_=,./:+@%" for c in arg) \
        else "'" + arg.replace("'", "'\\''") + "'"


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


_STOPPING: List[int] = []


def _on_signal(signum: int, _frame: Optional[FrameType]) -> None:
    # once: a CI engine's time-out may signal the runner and then its
    # process group; the second must not interrupt the cleanup
    if _STOPPING:
        return
    _STOPPING.append(signum)
    raise Interrupted(signal.Signals(signum).name)


def _install_signals() -> Dict[int, Any]:
    _STOPPING.clear()
    old = {}
    for sig in _SIGNALS:
        old[sig] = signal.getsignal(sig)
        signal.signal(sig, _on_signal)
    return old


def _restore_signals(old: Dict[int, Any]) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)
