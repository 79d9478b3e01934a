"""Results for CI engines and people: the verdict table, JUnit XML, TAP.

JUnit follows the common JUnit XSD (Apache Ant's, as published by Windy
Road): <testsuites> of <testsuite package= id= name= timestamp= hostname=
tests= failures= errors= skipped= time=>, each with <properties> first and
<system-out>/<system-err> last; a <testcase name= classname= time=> holds at
most one <skipped/>, <error type=> or <failure type=>.  One testsuite per
kernel, one testcase per scenario.
"""

import socket
import time
from pathlib import Path
from typing import Dict, List, Sequence
from xml.sax.saxutils import escape, quoteattr

from .runner import ERROR, FAIL, INTERRUPTED, PASS, SKIP, Result


def table(results: Sequence[Result]) -> str:
    """The verdict table printed after several runs."""
    lines = [f"{'scenario':28s} {'kernel':32s} {'verdict':11s} "
             f"{'time':>8s}  reason"]
    for r in results:
        lines.append(f"{r.scenario:28s} {r.kernel[:32]:32s} "
                     f"{r.verdict:11s} {r.elapsed:7.1f}s  {r.reason[:110]}")
    return "\n".join(lines)


def grid(results: Sequence[Result]) -> str:
    """kernel x scenario grid of verdicts (matrix)."""
    kernels = sorted({r.kernel for r in results})
    scens = sorted({r.scenario for r in results})
    cell = {(r.scenario, r.kernel): r.verdict for r in results}
    w = max([len(s) for s in scens] + [8])
    cw = max([len(k) for k in kernels] + [6])
    lines = [" " * w + "  " + "  ".join(f"{k:{cw}s}" for k in kernels)]
    for s in scens:
        lines.append(f"{s:{w}s}  " + "  ".join(
            f"{cell.get((s, k), '-'):{cw}s}" for k in kernels))
    return "\n".join(lines)


def _case(r: Result) -> str:
    name = quoteattr(r.scenario)
    cls = quoteattr(f"plugfault.{_token(r.kernel)}")
    head = f'    <testcase name={name} classname={cls} time="{r.elapsed:.2f}"'
    where = f"artifacts: {r.rundir}" if r.rundir else ""
    text = escape(f"{r.reason}\n{where}".strip())
    if r.verdict == PASS:
        return head + "/>"
    if r.verdict == FAIL:
        step = f" (step {r.failed_step})" if r.failed_step else ""
        return (head + f">\n      <failure type=\"scenario\" message="
                f"{quoteattr(r.reason[:300] + step)}>{text}</failure>\n"
                f"    </testcase>")
    if r.verdict == SKIP:
        return head + ">\n      <skipped/>\n    </testcase>"
    kind = "interrupted" if r.verdict == INTERRUPTED else "setup"
    return (head + f">\n      <error type=\"{kind}\" message="
            f"{quoteattr(r.reason[:300])}>{text}</error>\n    </testcase>")


def _token(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def junit(results: Sequence[Result]) -> str:
    """A JUnit XML document (one testsuite per kernel)."""
    by_kernel: Dict[str, List[Result]] = {}
    for r in results:
        by_kernel.setdefault(r.kernel, []).append(r)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname() or "localhost"
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for i, (kernel, rs) in enumerate(sorted(by_kernel.items())):
        fails = sum(r.verdict == FAIL for r in rs)
        errs = sum(r.verdict in (ERROR, INTERRUPTED) for r in rs)
        skips = sum(r.verdict == SKIP for r in rs)
        total = sum(r.elapsed for r in rs)
        name = quoteattr(_token(kernel))
        out.append(f'  <testsuite package="plugfault" id="{i}" name={name} '
                   f'timestamp="{stamp}" hostname={quoteattr(host)} '
                   f'tests="{len(rs)}" failures="{fails}" errors="{errs}" '
                   f'skipped="{skips}" time="{total:.2f}">')
        out.append("    <properties>")
        out.append(f'      <property name="kernel" value={quoteattr(kernel)}'
                   f'/>')
        out.append("    </properties>")
        out.extend(_case(r) for r in rs)
        lines = "\n".join(f"{r.verdict} {r.scenario}: {r.reason}"
                          for r in rs)
        out.append(f"    <system-out>{escape(lines)}</system-out>")
        out.append("    <system-err></system-err>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def tap(results: Sequence[Result]) -> str:
    """TAP version 13: one line per run."""
    out = ["TAP version 13", f"1..{len(results)}"]
    for i, r in enumerate(results, 1):
        desc = f"{r.scenario} [{r.kernel}]"
        reason = r.reason.replace("\n", " ").replace("#", "\\#")
        if r.verdict == PASS:
            out.append(f"ok {i} - {desc}")
        elif r.verdict == SKIP:
            out.append(f"ok {i} - {desc} # SKIP {reason}")
        else:
            out.append(f"not ok {i} - {desc}")
            out.append("  ---")
            out.append(f"  verdict: {r.verdict}")
            out.append(f"  reason: {_yaml(reason)}")
            if r.rundir:
                out.append(f"  artifacts: {_yaml(str(r.rundir))}")
            out.append("  ...")
    return "\n".join(out) + "\n"


def _yaml(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write(path: Path, text: str) -> None:
    """Write a results file, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
