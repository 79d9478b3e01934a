"""Step dispatch: run a scenario's steps against a machine and its console.

Every wait is bounded; after each step the console is checked for the
scenario's fail patterns and QEMU for an early exit.  Events are consumed in
order: a step matches the first event at or after the cursor, and the
cursor moves past it, so an event that arrived during an earlier step
counts, and one that an earlier step passed over does not.  (QEMUMachine's
event_match cannot express ``re:`` values or "this list exactly", and its
events_wait leaves passed-over events available: both would be weaker.)
"""

import json
import re
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from qemu.qmp import ExecuteError

from . import stuck
from .console import Console, ConsoleClosed, Shell, ShellError
from .machine import Machine
from .scenario import Scenario, Step, substitute


class StepFailed(Exception):
    """A scenario expectation was not met (verdict FAIL)."""


class Ready(Exception):
    """--until-ready: the guest is up (first console step passed)."""


def _subset(want: Any, have: Any) -> bool:
    """True when every key/value of `want` appears in `have` (recursively).
    Values compare with their types: true is not 1."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and _subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and \
            all(_subset(a, b) for a, b in zip(want, have))
    if isinstance(want, str) and isinstance(have, str) and \
            want.startswith("re:"):
        return re.search(want[3:], have) is not None
    if isinstance(want, bool) or isinstance(have, bool):
        return isinstance(want, bool) and isinstance(have, bool) and \
            want == have
    return bool(want == have)


def match_line(buf: str, pos: int) -> str:
    """The console line that holds position `pos`."""
    line = buf[buf.rfind("\n", 0, pos) + 1:]
    return line.split("\n", 1)[0].strip()


def stuck_names(steps: Sequence[Step]) -> List[str]:
    """Function names the stuck_in regexes of `steps` name (anchors
    dropped), for a kallsyms look-up."""
    out: List[str] = []
    for step in steps:
        if step.stuck_in:
            out += [n.strip("^$()") for n in step.stuck_in.split("|")]
        out += stuck_names(step.steps)
    return [n for n in out if re.fullmatch(r"\w+", n)]


class Health:
    """The checks made after every step: fail patterns, allowed warnings,
    QEMU alive."""

    def __init__(self, scen: Scenario, console: Console,
                 machine: Optional[Machine]):
        self.scen = scen
        self.console = console
        self.machine = machine

    def problems(self) -> Optional[str]:
        """The first problem, or None."""
        buf = self.console.buf
        for regex in self.scen.fail_patterns:
            for match in re.finditer(regex, buf, re.M):
                line = match_line(buf, match.start())
                if any(re.search(a, line) for a in self.scen.allow):
                    continue
                return f"guest console matched fail pattern {regex!r}: {line}"
        if self.machine is not None and not self.machine.is_running():
            code = self.machine.exitcode()
            return (f"QEMU exited with status {code}: "
                    f"{self.machine.stderr_tail()}")
        return None

    def check(self) -> None:
        """StepFailed on the first problem."""
        problem = self.problems()
        if problem:
            raise StepFailed(problem)


class Steps:
    """Runs steps; one instance per run."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, scen: Scenario, machine: Machine, console: Console,
                 say: Callable[[str], None], deadline: float,
                 variables: Dict[str, Any],
                 symbols: Optional[Dict[str, int]] = None,
                 outcome: Optional[str] = None,
                 on_cycle: Optional[Callable[[int], None]] = None,
                 until_ready: bool = False):
        self.scen = scen
        self.machine = machine
        self.console = console
        self.shell = Shell(console)
        self.health = Health(scen, console, machine)
        self.say = say
        self.deadline = deadline
        self.variables = variables
        self.symbols = symbols
        self.outcome = outcome
        self.on_cycle = on_cycle
        self.until_ready = until_ready
        self.log: List[Dict[str, Any]] = []       # for reports
        self.found: List[str] = []                # stuck findings
        # Debian's System.map is a stub: without a real one, the functions
        # the stuck steps name are looked up in the guest's /proc/kallsyms
        # once the shell is up (runtime addresses: no KASLR offset)
        wanted = stuck_names([st for st in scen.steps if self.runs(st)])
        self.kallsyms_want = wanted if wanted and \
            (not symbols or len(symbols) < 100) else []
        self.sym_ends: Optional[Dict[str, int]] = None

    # ------------------------------------------------------------ helpers
    def bounded(self, timeout: float) -> float:
        """`timeout`, cut to what is left of the scenario's bound."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"scenario time limit ({self.scen.timeout:.0f}s) "
                             f"exceeded")
        return min(timeout, left)

    def symbolizer(self) -> stuck.Symbolizer:
        """A Symbolizer with the KASLR offset /init reported."""
        return stuck.Symbolizer(
            self.symbols, stuck.kaslr_offset(self.console.buf, self.symbols),
            self.sym_ends)

    def where_stuck(self, rounds: int = 3, interval: float = 0.5) -> str:
        """A short 'where are the vCPUs' for a failure reason."""
        try:
            samples, secs = stuck.sample(self.machine.hmp, self.scen.arch,
                                         rounds, interval)
        except Exception:  # pylint: disable=broad-except
            return ""
        verdict = stuck.summarize(samples, self.symbolizer(), secs)
        self.dump_samples(samples, self.symbolizer(), verdict.text)
        return verdict.text

    def dump_samples(self, rounds: Sequence[Sequence[stuck.CpuSample]],
                     sym: stuck.Symbolizer, text: str) -> None:
        """vcpu-samples.log in the run directory: every sample, with the
        text addresses found on its stack."""
        with open(self.machine.rundir / "vcpu-samples.log", "a",
                  encoding="utf-8") as fh:
            fh.write(f"# {text}\n")
            for i, rnd in enumerate(rounds):
                for smp in rnd:
                    callers = ", ".join(sym.name(a) for _, a in
                                        stuck.frames(smp, sym)[1:])
                    fh.write(f"round {i} vCPU{smp.cpu} pc "
                             f"{sym.name(smp.addr)} "
                             f"irqs {'on' if smp.irqs_on else 'off'} "
                             f"stack words {len(smp.stack)} callers: "
                             f"{callers or '-'}\n")

    def fail_hung(self, msg: str) -> None:
        """A time-out: first the health check, then where the vCPUs are."""
        self.health.check()
        where = self.where_stuck() if self.machine.is_running() else ""
        raise StepFailed(msg + (f"; {where}" if where else ""))

    # ------------------------------------------------------------ steps
    def do_console(self, step: Step) -> str:
        """Wait for a console line."""
        regex = substitute(step.value, self.variables)
        match = self.console.wait(regex, self.shell.cursor,
                                  self.bounded(step.timeout))
        if not match:
            self.fail_hung(f"console did not show /{regex}/ within "
                           f"{step.timeout:.0f}s")
            raise AssertionError("unreachable")
        self.shell.cursor = match.end()
        return match.group(0).strip()

    def guest_exec(self, cmd: str, timeout: float, hang: bool = False):
        """Run cmd in the guest shell: (rc, output), or (None, '') for a
        command that hung as expected."""
        try:
            num = self.shell.send(cmd)
        except ConsoleClosed as exc:
            raise StepFailed(str(exc)) from exc
        body = self.shell.wait_begin(num, self.bounded(timeout))
        if body is None and hang:
            # locked up so hard that the shell does not even start the
            # command: it certainly did not finish.  Later console steps
            # look at what the console shows from now on.
            self.health.check()
            self.shell.skip_to_end()
            return None, ""
        if body is None:
            self.fail_hung(f"guest shell did not start '{cmd}' within "
                           f"{timeout:.0f}s")
        assert body is not None
        try:
            end = self.shell.wait_end(num, body, self.bounded(timeout))
        except ShellError as exc:
            raise StepFailed(f"guest command '{cmd}': {exc}") from exc
        if hang:
            if end:
                raise StepFailed(f"guest command '{cmd}' finished (rc "
                                 f"{end[0]}) but was expected to hang")
            self.shell.skip_to_end()
            return None, ""
        if end is None:
            self.fail_hung(f"guest command '{cmd}' did not finish within "
                           f"{timeout:.0f}s")
        assert end is not None
        return end[0], end[1].rstrip("\n")

    def hang_sampled(self, cmd: str, step: Step) -> str:
        """hang = true with stuck_in: the command must not finish while
        every sample shows the vCPUs in `stuck_in`."""
        # pylint: disable=too-many-locals
        try:
            num = self.shell.send(cmd)
        except ConsoleClosed as exc:
            raise StepFailed(str(exc)) from exc
        t_start = time.monotonic()
        total = self.bounded(step.timeout)
        rounds: List[List[stuck.CpuSample]] = []
        body: Optional[int] = None
        interval = total / max(step.samples - 1, 1)
        while True:
            rounds.append(stuck.take(self.machine.hmp, self.scen.arch))
            left = total - (time.monotonic() - t_start)
            if left <= 0.05 or len(rounds) >= step.samples:
                break
            # the wait between samples is a wait for the command
            wait = min(interval, left)
            if body is None:
                body = self.shell.wait_begin(num, wait)
            elif self.shell.wait_end(num, body, wait):
                raise StepFailed(f"guest command '{cmd}' finished but was "
                                 f"expected to hang")
            self.health.check()
        secs = time.monotonic() - t_start
        if body is not None and self.shell.wait_end(num, body, 0):
            raise StepFailed(f"guest command '{cmd}' finished but was "
                             f"expected to hang")
        self.shell.skip_to_end()
        sym = self.symbolizer()
        verdict = stuck.summarize(rounds, sym, secs, step.stuck_in)
        self.dump_samples(rounds, sym, verdict.text)
        self.found.append(verdict.text)
        regex = re.compile(step.stuck_in or "")
        cpus = sorted(verdict.irqs_off)
        if not cpus:
            raise StepFailed("no vCPU samples")
        for cpu in cpus:
            func = verdict.stuck.get(cpu, "")
            if not regex.search(func):
                raise StepFailed(f"expected every vCPU stuck in "
                                 f"/{step.stuck_in}/: {verdict.text}")
            if step.irqs_off and not verdict.irqs_off[cpu]:
                raise StepFailed(f"expected interrupts off: {verdict.text}")
        return verdict.text

    def do_guest(self, step: Step) -> str:
        """Run a shell command; check its status and output."""
        cmd = substitute(step.value, self.variables)
        if step.hang and step.stuck_in is not None:
            return self.hang_sampled(cmd, step)
        status, out = self.guest_exec(cmd, step.timeout, step.hang)
        if step.hang:
            return f"no answer within {step.timeout:.0f}s, as expected"
        short = out.strip().splitlines()[-1][:100] if out.strip() else ""
        if status != step.status:
            raise StepFailed(f"guest '{cmd}' exited {status}, expected "
                             f"{step.status}"
                             + (f": {short}" if short else ""))
        if step.output is not None and not re.search(
                substitute(step.output, self.variables), out, re.M):
            raise StepFailed(f"guest '{cmd}' output does not match "
                             f"/{step.output}/: {out.strip()[:200]!r}")
        if step.not_output is not None and re.search(
                substitute(step.not_output, self.variables), out, re.M):
            raise StepFailed(f"guest '{cmd}' output matches "
                             f"/{step.not_output}/: {out.strip()[:200]!r}")
        return f"rc={status}" + (f" {short}" if short else "")

    def do_qmp(self, step: Step) -> str:
        """A QMP command with its expected return or error."""
        name = substitute(step.value, self.variables)
        args = substitute(step.args, self.variables)
        try:
            ret = self.machine.command(name, args)
        except ExecuteError as exc:
            desc = exc.error.error.desc
            if step.error is not None and re.search(step.error, desc):
                return f"error as expected: {desc}"
            raise StepFailed(f"QMP {name} failed: {desc}") from exc
        if step.error is not None:
            raise StepFailed(f"QMP {name} succeeded, expected an error "
                             f"/{step.error}/")
        want = substitute(step.expect, self.variables)
        # an empty list is an expectation too ("returns nothing"); {} is none
        if (want or isinstance(want, list)) and not _subset(want, ret):
            raise StepFailed(f"QMP {name} returned {json.dumps(ret)[:200]}, "
                             f"expected {json.dumps(want)}")
        return json.dumps(ret)[:100]

    def find_event(self, name: str, data: Dict[str, Any]
                   ) -> Optional[Dict[str, Any]]:
        """The first matching event at or after the cursor (consumed)."""
        events = self.machine.events
        for i in range(self.machine.event_cursor, len(events)):
            event = events[i]
            if event.get("event") == name and \
                    _subset(data, event.get("data", {})):
                self.machine.event_cursor = i + 1
                return event
        return None

    def do_event(self, step: Step) -> str:
        """Wait for a QMP event with matching data."""
        name = substitute(step.value, self.variables)
        data = substitute(step.data, self.variables)
        deadline = time.monotonic() + self.bounded(step.timeout)
        if step.absent:
            return self.no_event(name, data, deadline)
        while True:
            event = self.find_event(name, data)
            if event is not None:
                return json.dumps(event.get("data", {}))[:100]
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail_hung(f"no QMP event {name} "
                               f"{json.dumps(data) if data else ''}"
                               f" within {step.timeout:.0f}s")
            self.machine.pump_events(wait=min(left, 0.5))
            self.health.check()

    def no_event(self, name: str, data: Dict[str, Any],
                 deadline: float) -> str:
        """absent = true: no matching event at or after the cursor until
        the deadline (the cursor does not move)."""
        while True:
            self.machine.pump_events()
            events = self.machine.events[self.machine.event_cursor:]
            hit = next((ev for ev in events if ev.get("event") == name and
                        _subset(data, ev.get("data", {}))), None)
            if hit is not None:
                raise StepFailed(f"QMP event {name} "
                                 f"{json.dumps(hit.get('data', {}))[:100]} "
                                 f"arrived, expected none")
            left = deadline - time.monotonic()
            if left <= 0:
                return f"no {name} within the bound, as expected"
            self.machine.pump_events(wait=min(left, 0.5))

    # ------------------------------------------------------------ driver
    def runs(self, step: Step) -> bool:
        """Whether a step applies to the expected outcome."""
        return not step.outcome or self.outcome in step.outcome

    def run(self, steps: Sequence[Step], prefix: str = "") -> None:
        """Run steps (and repeat groups) in order."""
        for i, step in enumerate(steps, 1):
            label = f"{prefix}{i}"
            if not self.runs(step):
                continue
            if step.kind == "repeat":
                for c in range(1, step.value + 1):
                    self.variables["cycle"] = c
                    self.say(f"step {label}: repeat {c}/{step.value}")
                    self.run(step.steps, f"{label}.{c}.")
                    if self.on_cycle:
                        self.on_cycle(c)
                continue
            if step.kind == "note":
                self.say(f"step {label}: "
                         f"{substitute(step.value, self.variables)}")
                continue
            self.one(step, label)

    def one(self, step: Step, label: str) -> None:
        """One step, logged; StepFailed names it."""
        desc = step.name or \
            f"{step.kind} {substitute(step.value, self.variables)}"
        t_start = time.monotonic()
        entry = {"label": label, "name": desc, "t": t_start, "ok": False}
        self.log.append(entry)
        try:
            result = getattr(self, f"do_{step.kind}")(step)
            self.machine.pump_events()
            self.health.check()
        except StepFailed as exc:
            entry["error"] = str(exc)
            raise StepFailed(f"step {label} ({desc}): {exc}") from exc
        entry["ok"] = True
        entry["secs"] = time.monotonic() - t_start
        entry["result"] = result
        self.say(f"step {label} ok ({time.monotonic() - t_start:.2f}s): "
                 f"{desc} "
                 f"-> {result}")
        if step.kind == "console" and self.kallsyms_want:
            self.load_kallsyms()
        if self.until_ready and step.kind == "console":
            raise Ready()

    def load_kallsyms(self) -> None:
        """The start and end of each wanted function, from /proc/kallsyms
        (sorted by address, so the next line ends a function)."""
        wanted = set(self.kallsyms_want)
        pats = " ".join(f"-e ' {n}'" for n in self.kallsyms_want + ["_stext"])
        cmd = f"grep -F -A1 {pats} /proc/kallsyms"     # -F: fast under TCG
        self.kallsyms_want = []
        t_start = time.monotonic()
        status, out = self.guest_exec(cmd, 60)
        syms: Dict[str, int] = {}
        ends: Dict[str, int] = {}
        rows = [ln.split() for ln in out.splitlines()]
        for i, parts in enumerate(rows):
            # NAME.cold and other GCC parts of NAME count as NAME
            if len(parts) < 3 or len(parts[1]) != 1 or \
                    (stuck.clone_base(parts[2]) not in wanted and
                     parts[2] != "_stext"):
                continue
            try:
                syms.setdefault(parts[2], int(parts[0], 16))
            except ValueError:
                continue
            nxt = rows[i + 1] if i + 1 < len(rows) else []
            if parts[2] != "_stext" and len(nxt) >= 3:
                ends[parts[2]] = int(nxt[0], 16)
        self.symbols, self.sym_ends = syms, ends
        self.say(f"kallsyms: {', '.join(sorted(syms))} for the stuck checks "
                 f"(rc {status}, {time.monotonic() - t_start:.1f}s)")

    def settle(self, seconds: float) -> None:
        """After the last step: let the guest run on a little, then check
        health once more (a guest that oopses as the last step's teardown
        runs must fail)."""
        if seconds <= 0:
            return
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.machine.pump_events(wait=min(left, 0.5))
            self.health.check()
        self.health.check()
