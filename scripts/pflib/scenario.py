"""Scenario files (tests/scenarios/*.toml): loading and validation.

A scenario is data: which machine and guest kernel to boot, which modules the
guest loads, and a list of steps.  See tests/scenarios/README.rst for the
format; this module turns a file into checked Python objects and never runs
anything.
"""

from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Any, Dict, List, Optional

import tomllib  # pylint 2.16 takes it for a third-party module

from . import facts

STEP_KINDS = ("console", "guest", "qmp", "event", "repeat", "note")
# A kernel WARN() fails a run too, unless the scenario lists it in `allow`.
# Up to 6.x it reads "WARNING: CPU: 0 PID: 1 at file:line func"; since 7.0
# "WARNING: file:line at func, CPU#0: comm/pid" (seen with Debian's 7.2.13).
WARN_PATTERN = r"WARNING: (CPU: \d+ PID: \d+ at |[\w./-]+:\d+ at )"
DEFAULT_FAIL_PATTERNS = [
    r"Kernel panic",
    r"\bOops\b",
    r"\bBUG: ",
    r"Unable to handle kernel",
    WARN_PATTERN]
ARCH_OF_KERNEL_ARCH = {"ppc64el": "ppc64", "amd64": "x86_64"}


class ScenarioError(Exception):
    """The scenario file is malformed (a usage error, exit 2)."""


@dataclass
class Step:
    """One step of a scenario (see tests/scenarios/README.rst)."""
    kind: str
    value: Any          # regex / command / qmp name / event name / count
    where: str                      # "file.toml step 3" for messages
    timeout: float = 30.0
    args: Dict[str, Any] = field(default_factory=dict)      # qmp arguments
    data: Dict[str, Any] = field(default_factory=dict)      # event data subset
    expect: Dict[str, Any] = field(default_factory=dict)    # qmp return subset
    error: Optional[str] = None     # qmp: expected error description regex
    status: int = 0                 # guest: expected exit status (rc)
    output: Optional[str] = None    # guest: regex the output must match
    not_output: Optional[str] = None
    hang: bool = False              # guest: command must NOT finish
    name: str = ""
    steps: List["Step"] = field(default_factory=list)       # repeat body
    outcome: List[str] = field(
        default_factory=list)        # runs only for these
    # hang: regex of the function every vCPU is in
    stuck_in: Optional[str] = None
    irqs_off: bool = False          # hang + stuck_in: interrupts off
    samples: int = 5                # hang + stuck_in: samples taken
    absent: bool = False            # event: must NOT arrive within timeout


@dataclass
class Expectation:
    """An [[expect]] table: the outcome for kernels where `when` holds."""
    outcome: str                    # a name the steps use (outcome = ...)
    when: str                       # fact expression
    because: str = ""               # for the verdict: "(expected: ...)"


@dataclass
class Scenario:
    """A loaded, validated scenario file."""
    # pylint: disable=too-many-instance-attributes
    name: str
    path: Path
    description: str
    arch: str                       # qemu-system-ARCH
    machine: str
    kernel: str
    append: str
    modules: List[str]
    qemu: List[str]
    timeout: float
    default: bool
    fail_patterns: List[str]
    setup: Dict[str, str]           # guest setup scripts run by /init
    steps: List[Step]
    report: Dict[str, Any] = field(default_factory=dict)   # soak reporting
    test_modules: List[str] = field(
        default_factory=list)  # tests/guest-modules
    requires: List[str] = field(default_factory=list)      # fact expressions
    facts: Dict[str, str] = field(default_factory=dict)    # named facts
    expect: List[Expectation] = field(default_factory=list)
    settle: float = 1.0             # seconds run on after the last step
    # console lines that never fail
    allow: List[str] = field(default_factory=list)
    # pinned kernels of demo/check
    kernels: List[str] = field(default_factory=list)


_STEP_KEYS = {
    "timeout",
    "args",
    "data",
    "expect",
    "error",
    "rc",
    "output",
    "not_output",
    "name",
    "group",
    "hang",
    "outcome",
    "stuck_in",
    "irqs_off",
    "samples",
    "absent"}


def _compile(regex, where):
    try:
        re.compile(regex)
    except re.error as exc:
        raise ScenarioError(f"{where}: bad regular expression {regex!r}: "
                            f"{exc}") from exc
    return regex


def _bool(raw: dict, key: str, where: str) -> bool:
    val = raw.get(key, False)
    if not isinstance(val, bool):
        raise ScenarioError(f"{where}: {key} must be true or false")
    return val


def _step(raw: dict, where: str, groups: dict, depth=0) -> Step:
    # pylint: disable=too-many-branches  # one check per key
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a step must be a table")
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise ScenarioError(
            f"{where}: a step needs exactly one of {', '.join(STEP_KINDS)}"
            f" (has {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    unknown = set(raw) - _STEP_KEYS - {kind}
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    step = Step(kind=kind, value=raw[kind], where=where,
                timeout=float(raw.get("timeout", 30.0)),
                args=raw.get("args", {}), data=raw.get("data", {}),
                expect=raw.get("expect", {}), error=raw.get("error"),
                status=int(raw.get("rc", 0)), output=raw.get("output"),
                not_output=raw.get("not_output"),
                hang=_bool(raw, "hang", where),
                name=raw.get("name", ""), stuck_in=raw.get("stuck_in"),
                irqs_off=_bool(raw, "irqs_off", where),
                samples=int(raw.get("samples", 5)))
    step.absent = _bool(raw, "absent", where)
    if step.absent and kind != "event":
        raise ScenarioError(f"{where}: 'absent' only goes with event")
    outc = raw.get("outcome", [])
    step.outcome = [outc] if isinstance(outc, str) else list(outc)
    if step.hang and kind != "guest":
        raise ScenarioError(f"{where}: 'hang' only goes with guest")
    if (step.stuck_in is not None or step.irqs_off) and not step.hang:
        raise ScenarioError(
            f"{where}: 'stuck_in'/'irqs_off' only go with hang = true")
    if step.irqs_off and step.stuck_in is None:
        raise ScenarioError(f"{where}: 'irqs_off' needs 'stuck_in'")
    if step.stuck_in is not None:
        _compile(step.stuck_in, where)
    if not 2 <= step.samples <= 100:
        raise ScenarioError(f"{where}: samples must be 2 to 100")
    if step.timeout <= 0 or step.timeout > 3600:
        raise ScenarioError(f"{where}: timeout must be in (0, 3600] seconds")
    if kind in ("console",):
        _compile(step.value, where)
    for regex in (step.output, step.not_output, step.error):
        if regex is not None:
            _compile(regex, where)
    if kind == "repeat":
        if not isinstance(step.value, int) or not 1 <= step.value <= 100000:
            raise ScenarioError(
                f"{where}: repeat must be a count from 1 to 100000")
        grp = raw.get("group")
        if grp not in groups:
            raise ScenarioError(
                f"{where}: repeat needs group = NAME of a [[group.NAME]] list")
        if depth > 3:
            raise ScenarioError(f"{where}: repeat nested too deeply")
        step.steps = [
            _step(
                s,
                f"{where} > group {grp} step {i + 1}",
                groups,
                depth + 1) for i,
            s in enumerate(
                groups[grp])]
    elif "group" in raw:
        raise ScenarioError(f"{where}: 'group' only goes with repeat")
    if kind in (
            "guest",
            "qmp",
            "event",
            "note") and not isinstance(
            step.value,
            str):
        raise ScenarioError(f"{where}: {kind} takes a string")
    return step


def _report(report: Dict[str, Any], path: Path) -> Dict[str, Any]:
    """The [report] table, checked."""
    unknown = set(report) - {"rss", "warmup_cycles", "flush_tcg",
                             "rss_growth", "rss_growth_max_kib",
                             "console_counts"}
    if unknown:
        raise ScenarioError(
            f"{path.name}: unknown [report] key(s) "
            f"{', '.join(sorted(unknown))}")
    if report.get("rss_growth", "ends") not in ("ends", "fit"):
        raise ScenarioError(f"{path.name}: report.rss_growth must be "
                            f"\"ends\" or \"fit\"")
    if not isinstance(report.get("flush_tcg", False), bool):
        raise ScenarioError(f"{path.name}: report.flush_tcg must be true "
                            f"or false")
    for label, spec in report.get("console_counts", {}).items():
        where = f"{path.name} report.console_counts.{label}"
        if isinstance(spec, dict):
            bad = set(spec) - {"pattern", "max"}
            if bad or "pattern" not in spec:
                raise ScenarioError(
                    f"{where}: want {{ pattern = REGEX, max = N }}")
            if "max" in spec and (
                not isinstance(
                    spec["max"],
                    int) or spec["max"] < 0):
                raise ScenarioError(f"{where}: max must be a count")
            spec = spec["pattern"]
        _compile(spec, where)
    return report


def load(path: Path) -> Scenario:
    """Load and validate a scenario file (ScenarioError if it is wrong)."""
    # pylint: disable=too-many-locals,too-many-branches  # one check per key
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ScenarioError(f"{path}: {err}") from err
    known = {
        "description",
        "arch",
        "machine",
        "kernel",
        "append",
        "modules",
        "qemu",
        "timeout",
        "default",
        "fail_patterns",
        "setup",
        "step",
        "group",
        "report",
        "test_modules",
        "requires",
        "facts",
        "expect",
        "settle",
        "allow",
        "kernels"}
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(
            f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}")
    for req in ("description", "arch", "machine", "kernel", "step"):
        if req not in raw:
            raise ScenarioError(f"{path.name}: missing '{req}'")
    if raw["arch"] not in ("ppc64", "x86_64"):
        raise ScenarioError(f"{path.name}: arch must be ppc64 or x86_64")
    groups = raw.get("group", {})
    steps = [_step(s, f"{path.name} step {i + 1}", groups)
             for i, s in enumerate(raw["step"])]
    patterns = raw.get("fail_patterns", DEFAULT_FAIL_PATTERNS)
    for regex in patterns:
        _compile(regex, f"{path.name} fail_patterns")
    report = _report(dict(raw.get("report", {})), path)
    allow = [str(a) for a in raw.get("allow", [])]
    for regex in allow:
        _compile(regex, f"{path.name} allow")
    named = {str(k): str(v) for k, v in raw.get("facts", {}).items()}
    requires = [str(r) for r in raw.get("requires", [])]
    expect = []
    for i, entry in enumerate(raw.get("expect", [])):
        where = f"{path.name} expect {i + 1}"
        if not isinstance(entry, dict) or \
                set(entry) - {"outcome", "when", "because"} or \
                "outcome" not in entry or "when" not in entry:
            raise ScenarioError(
                f"{where}: want {{ outcome = NAME, when = EXPR, "
                f"because = TEXT }}")
        expect.append(Expectation(str(entry["outcome"]), str(entry["when"]),
                                  str(entry.get("because", ""))))
    evaluator = facts.Evaluator(None, named)
    for expr in requires + [e.when for e in expect] + list(named.values()):
        try:
            evaluator.check(expr)
        except facts.FactError as exc:
            raise ScenarioError(f"{path.name}: {exc}") from exc
    outcomes = {e.outcome for e in expect}

    def check_outcomes(steps):
        for step in steps:
            for outc in step.outcome:
                if outc not in outcomes:
                    raise ScenarioError(
                        f"{step.where}: outcome {outc!r} is not in any "
                        f"[[expect]]")
            check_outcomes(step.steps)
    check_outcomes(steps)
    return Scenario(
        report=report,
        name=path.stem,
        path=path,
        description=raw["description"],
        arch=raw["arch"],
        machine=raw["machine"],
        kernel=raw["kernel"],
        append=raw.get(
            "append",
            ""),
        modules=list(
            raw.get(
                "modules",
                [])),
        qemu=[
            str(a) for a in raw.get(
                "qemu",
                [])],
        timeout=float(
            raw.get(
                "timeout",
                600)),
        default=bool(
            raw.get(
                "default",
                False)),
        fail_patterns=list(patterns),
        setup=dict(
            raw.get(
                "setup",
                {})),
        steps=steps,
        test_modules=[
            str(m) for m in raw.get(
                "test_modules",
                [])],
        requires=requires,
        facts=named,
        expect=expect,
        settle=float(
            raw.get(
                "settle",
                1.0)),
        allow=allow,
        kernels=[
            str(k) for k in raw.get(
                "kernels",
                [
                    raw["kernel"]])])


def find(scenario_dir: Path, name: str) -> Path:
    """The file of scenario `name`."""
    path = scenario_dir / f"{name}.toml"
    if not path.exists():
        raise ScenarioError(f"no scenario '{name}' (see 'plugfault list')")
    return path


def all_scenarios(scenario_dir: Path) -> List[Scenario]:
    """Every scenario of a directory, loaded."""
    return [load(p) for p in sorted(scenario_dir.glob("*.toml"))]


def substitute(value, variables: dict):
    """Replace {var} in strings (recursively in tables/lists) with run
    variables."""
    if isinstance(value, str):
        def rep(match):
            k = match.group(1)
            if k not in variables:
                raise ScenarioError(
                    f"unknown variable {{{k}}} (have {', '.join(variables)})")
            return str(variables[k])
        return re.sub(r"\{([a-z_]+)\}", rep, value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value
