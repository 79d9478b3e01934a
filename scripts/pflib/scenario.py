"""Scenario files (tests/scenarios/*.toml): loading and validation.

A scenario is data: which machine and guest kernel to boot, which modules the
guest loads, and a list of steps.  See tests/scenarios/README.rst for the
format; this module turns a file into checked Python objects and never runs
anything.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import facts

STEP_KINDS = ("console", "guest", "qmp", "event", "repeat", "note")
# A kernel WARN() ("WARNING: CPU: 0 PID: 1 at file:line func") fails a run
# too, unless the scenario lists it in `allow`.
WARN_PATTERN = r"WARNING: CPU: \d+ PID: \d+ at "
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
    kind: str
    value: Any          # regex / command / qmp name / event name / count
    where: str                      # "file.toml step 3" for messages
    timeout: float = 30.0
    args: Dict[str, Any] = field(default_factory=dict)      # qmp arguments
    data: Dict[str, Any] = field(default_factory=dict)      # event data subset
    expect: Dict[str, Any] = field(default_factory=dict)    # qmp return subset
    error: Optional[str] = None     # qmp: expected error description regex
    rc: int = 0                     # guest: expected exit status
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
    outcome: str                    # a name the steps use (outcome = ...)
    when: str                       # fact expression
    because: str = ""               # for the verdict: "(expected: ...)"


@dataclass
class Scenario:
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


def _compile(rx, where):
    try:
        re.compile(rx)
    except re.error as e:
        raise ScenarioError(f"{where}: bad regular expression {rx!r}: {e}")
    return rx


def _bool(raw: dict, key: str, where: str) -> bool:
    v = raw.get(key, False)
    if not isinstance(v, bool):
        raise ScenarioError(f"{where}: {key} must be true or false")
    return v


def _step(raw: dict, where: str, groups: dict, depth=0) -> Step:
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
    st = Step(kind=kind, value=raw[kind], where=where,
              timeout=float(raw.get("timeout", 30.0)),
              args=raw.get("args", {}), data=raw.get("data", {}),
              expect=raw.get("expect", {}), error=raw.get("error"),
              rc=int(raw.get("rc", 0)), output=raw.get("output"),
              not_output=raw.get("not_output"), hang=_bool(raw, "hang", where),
              name=raw.get("name", ""), stuck_in=raw.get("stuck_in"),
              irqs_off=_bool(raw, "irqs_off", where),
              samples=int(raw.get("samples", 5)))
    st.absent = _bool(raw, "absent", where)
    if st.absent and kind != "event":
        raise ScenarioError(f"{where}: 'absent' only goes with event")
    oc = raw.get("outcome", [])
    st.outcome = [oc] if isinstance(oc, str) else list(oc)
    if st.hang and kind != "guest":
        raise ScenarioError(f"{where}: 'hang' only goes with guest")
    if (st.stuck_in is not None or st.irqs_off) and not st.hang:
        raise ScenarioError(
            f"{where}: 'stuck_in'/'irqs_off' only go with hang = true")
    if st.irqs_off and st.stuck_in is None:
        raise ScenarioError(f"{where}: 'irqs_off' needs 'stuck_in'")
    if st.stuck_in is not None:
        _compile(st.stuck_in, where)
    if not 2 <= st.samples <= 100:
        raise ScenarioError(f"{where}: samples must be 2 to 100")
    if st.timeout <= 0 or st.timeout > 3600:
        raise ScenarioError(f"{where}: timeout must be in (0, 3600] seconds")
    if kind in ("console",):
        _compile(st.value, where)
    for rx in (st.output, st.not_output, st.error):
        if rx is not None:
            _compile(rx, where)
    if kind == "repeat":
        if not isinstance(st.value, int) or not 1 <= st.value <= 100000:
            raise ScenarioError(
                f"{where}: repeat must be a count from 1 to 100000")
        g = raw.get("group")
        if g not in groups:
            raise ScenarioError(
                f"{where}: repeat needs group = NAME of a [[group.NAME]] list")
        if depth > 3:
            raise ScenarioError(f"{where}: repeat nested too deeply")
        st.steps = [
            _step(
                s,
                f"{where} > group {g} step {i + 1}",
                groups,
                depth + 1) for i,
            s in enumerate(
                groups[g])]
    elif "group" in raw:
        raise ScenarioError(f"{where}: 'group' only goes with repeat")
    if kind in (
            "guest",
            "qmp",
            "event",
            "note") and not isinstance(
            st.value,
            str):
        raise ScenarioError(f"{where}: {kind} takes a string")
    return st


def load(path: Path) -> Scenario:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError(f"{path}: {e}")
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
    fp = raw.get("fail_patterns", DEFAULT_FAIL_PATTERNS)
    for rx in fp:
        _compile(rx, f"{path.name} fail_patterns")
    report = dict(raw.get("report", {}))
    unknown = set(report) - {"rss", "warmup_cycles",
                             "rss_growth_max_kib", "console_counts"}
    if unknown:
        raise ScenarioError(
            f"{path.name}: unknown [report] key(s) "
            f"{', '.join(sorted(unknown))}")
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
    allow = [str(a) for a in raw.get("allow", [])]
    for rx in allow:
        _compile(rx, f"{path.name} allow")
    named = {str(k): str(v) for k, v in raw.get("facts", {}).items()}
    requires = [str(r) for r in raw.get("requires", [])]
    expect = []
    for i, e in enumerate(raw.get("expect", [])):
        where = f"{path.name} expect {i + 1}"
        if not isinstance(e, dict) or \
                set(e) - {"outcome", "when", "because"} or \
                "outcome" not in e or "when" not in e:
            raise ScenarioError(
                f"{where}: want {{ outcome = NAME, when = EXPR, "
                f"because = TEXT }}")
        expect.append(Expectation(str(e["outcome"]), str(
            e["when"]), str(e.get("because", ""))))
    ev = facts.Evaluator(None, named)
    for expr in requires + [e.when for e in expect] + list(named.values()):
        try:
            ev.check(expr)
        except facts.FactError as exc:
            raise ScenarioError(f"{path.name}: {exc}")
    outcomes = {e.outcome for e in expect}

    def check_outcomes(steps):
        for st in steps:
            for o in st.outcome:
                if o not in outcomes:
                    raise ScenarioError(
                        f"{st.where}: outcome {o!r} is not in any [[expect]]")
            check_outcomes(st.steps)
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
        fail_patterns=list(fp),
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
    p = scenario_dir / f"{name}.toml"
    if not p.exists():
        raise ScenarioError(f"no scenario '{name}' (see 'plugfault list')")
    return p


def all_scenarios(scenario_dir: Path) -> List[Scenario]:
    return [load(p) for p in sorted(scenario_dir.glob("*.toml"))]


def substitute(value, variables: dict):
    """Replace {var} in strings (recursively in tables/lists) with run
    variables."""
    if isinstance(value, str):
        def rep(m):
            k = m.group(1)
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
