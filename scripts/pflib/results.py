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
    for res in results:
        lines.append(f"{res.scenario:28s} {res.kernel[:32]:32s} "
                     f"{res.verdict:11s} {res.elapsed:7.1f}s  "
                     f"{res.reason[:110]}")
    return "\n".join(lines)


def grid(results: Sequence[Result]) -> str:
    """kernel x scenario grid of verdicts (matrix)."""
    kernels = sorted({r.kernel for r in results})
    scens = sorted({r.scenario for r in results})
    cell = {(r.scenario, r.kernel): r.verdict for r in results}
    width = max([len(scen) for scen in scens] + [8])
    colw = max([len(k) for k in kernels] + [6])
    lines = [" " * width + "  " + "  ".join(f"{k:{colw}s}" for k in kernels)]
    for scen in scens:
        lines.append(f"{scen:{width}s}  " + "  ".join(
            f"{cell.get((scen, k), '-'):{colw}s}" for k in kernels))
    return "\n".join(lines)


def _case(res: Result) -> str:
    name = quoteattr(res.scenario)
    cls = quoteattr(f"plugfault.{_token(res.kernel)}")
    head = (f'    <testcase name={name} classname={cls} '
            f'time="{res.elapsed:.2f}"')
    where = f"artifacts: {res.rundir}" if res.rundir else ""
    text = escape(f"{res.reason}\n{where}".strip())
    if res.verdict == PASS:
        return head + "/>"
    if res.verdict == FAIL:
        step = f" (step {res.failed_step})" if res.failed_step else ""
        return (head + f">\n      <failure type=\"scenario\" message="
                f"{quoteattr(res.reason[:300] + step)}>{text}</failure>\n"
                f"    </testcase>")
    if res.verdict == SKIP:
        return head + ">\n      <skipped/>\n    </testcase>"
    kind = "interrupted" if res.verdict == INTERRUPTED else "setup"
    return (head + f">\n      <error type=\"{kind}\" message="
            f"{quoteattr(res.reason[:300])}>{text}</error>\n    </testcase>")


def _token(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def junit(results: Sequence[Result]) -> str:
    """A JUnit XML document (one testsuite per kernel)."""
    by_kernel: Dict[str, List[Result]] = {}
    for res in results:
        by_kernel.setdefault(res.kernel, []).append(res)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname() or "localhost"
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for i, (kernel, runs) in enumerate(sorted(by_kernel.items())):
        fails = sum(res.verdict == FAIL for res in runs)
        errs = sum(res.verdict in (ERROR, INTERRUPTED) for res in runs)
        skips = sum(res.verdict == SKIP for res in runs)
        total = sum(res.elapsed for res in runs)
        name = quoteattr(_token(kernel))
        out.append(f'  <testsuite package="plugfault" id="{i}" name={name} '
                   f'timestamp="{stamp}" hostname={quoteattr(host)} '
                   f'tests="{len(runs)}" failures="{fails}" errors="{errs}" '
                   f'skipped="{skips}" time="{total:.2f}">')
        out.append("    <properties>")
        out.append(f'      <property name="kernel" value={quoteattr(kernel)}'
                   f'/>')
        out.append("    </properties>")
        out.extend(_case(res) for res in runs)
        lines = "\n".join(f"{res.verdict} {res.scenario}: {res.reason}"
                          for res in runs)
        out.append(f"    <system-out>{escape(lines)}</system-out>")
        out.append("    <system-err></system-err>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def tap(results: Sequence[Result]) -> str:
    """TAP version 13: one line per run."""
    out = ["TAP version 13", f"1..{len(results)}"]
    for i, res in enumerate(results, 1):
        desc = f"{res.scenario} [{res.kernel}]"
        reason = res.reason.replace("\n", " ").replace("#", "\\#")
        if res.verdict == PASS:
            out.append(f"ok {i} - {desc}")
        elif res.verdict == SKIP:
            out.append(f"ok {i} - {desc} # SKIP {reason}")
        else:
            out.append(f"not ok {i} - {desc}")
            out.append("  ---")
            out.append(f"  verdict: {res.verdict}")
            out.append(f"  reason: {_yaml(reason)}")
            if res.rundir:
                out.append(f"  artifacts: {_yaml(str(res.rundir))}")
            out.append("  ...")
    return "\n".join(out) + "\n"


def _yaml(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write(path: Path, text: str) -> None:
    """Write a results file, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
