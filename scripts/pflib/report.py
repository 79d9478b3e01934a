"""--report DIR: one self-contained HTML page over a set of runs.

DIR/index.html holds the verdict grid (scenario x kernel), one section per
run (reason, steps with the failing one highlighted, links to its logs)
and inline SVG plots where a table would read worse: QEMU's RSS per soak
cycle (rss.csv) and the count of VT-d ITEs over time (X_VTD_QI_ERROR in
qmp.log).  The logs are copied next to the page (DIR/runs/N/), so the
directory can be archived or served as it is: no script, no external
resource.
"""

import html
import json
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .runner import Result

LOGS = ("console.log", "qmp.log", "steps.log", "verdict.txt",
        "qemu-cmdline.txt", "qemu-stderr.log", "vcpu-samples.log",
        "rss.csv")

CSS = """
body { font: 14px/1.4 sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: .25em .6em; text-align: left;
         vertical-align: top; }
th { background: #eee; }
td.verdict a { display: block; font-weight: bold; text-decoration: none; }
.PASS { background: #c8efc8; } .FAIL { background: #f6b8b8; }
.SKIP { background: #e4e4e4; } .ERROR { background: #f7dc9c; }
.INTERRUPTED { background: #f7dc9c; } .NA { background: #fafafa; }
tr.failed td { background: #f6b8b8; font-weight: bold; }
.reason { font-family: monospace; white-space: pre-wrap; }
svg { border: 1px solid #ccc; background: #fff; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _plot(title: str, points: Sequence[Tuple[float, float]], xlabel: str,
          ylabel: str, cls: str) -> str:
    """A small line plot as inline SVG."""
    if len(points) < 2:
        return ""
    w, h, m = 480, 200, 40
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y1 = y0 + 1
    if x1 == x0:
        x1 = x0 + 1

    def sx(x: float) -> float:
        return m + (x - x0) / (x1 - x0) * (w - 2 * m)

    def sy(y: float) -> float:
        return h - m + (y0 - y) / (y1 - y0) * (h - 2 * m)
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    return (f'<figure><svg class="plot {cls}" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" '
            f'role="img" aria-label="{_e(title)}">'
            f'<polyline fill="none" stroke="#2463b0" stroke-width="2" '
            f'points="{path}"/>'
            f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" '
            f'stroke="#555"/><line x1="{m}" y1="{m}" x2="{m}" '
            f'y2="{h - m}" stroke="#555"/>'
            f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" '
            f'font-size="12">{_e(xlabel)} ({x0:g} .. {x1:g})</text>'
            f'<text x="12" y="{m - 12}" font-size="12">{_e(ylabel)} '
            f'({y0:g} .. {y1:g})</text></svg>'
            f'<figcaption>{_e(title)}</figcaption></figure>')


def rss_points(rundir: Path) -> List[Tuple[float, float]]:
    """(cycle, RSS outside the big mappings, KiB) from rss.csv."""
    out = []
    try:
        for line in (rundir / "rss.csv").read_text().splitlines():
            c, _, small = line.split(",")
            out.append((float(c), float(small)))
    except (OSError, ValueError):
        pass
    return out


def ite_points(rundir: Path) -> List[Tuple[float, float]]:
    """(seconds, ITEs so far) from qmp.log."""
    out, n = [], 0
    try:
        with open(rundir / "qmp.log", encoding="utf-8") as fh:
            for line in fh:
                if "X_VTD_QI_ERROR" not in line:
                    continue
                ev = json.loads(line)
                if ev.get("event", {}).get("data", {}).get("kind") == "ite":
                    n += 1
                    out.append((float(ev["t"]), float(n)))
    except (OSError, ValueError):
        pass
    return out


def _copy_logs(r: Result, dest: Path) -> List[str]:
    names = []
    if r.rundir is None:
        return names
    dest.mkdir(parents=True, exist_ok=True)
    for name in LOGS:
        src = r.rundir / name
        if src.is_file():
            shutil.copyfile(src, dest / (name + ".txt"
                                         if not name.endswith(".txt")
                                         else name))
            names.append(name)
    return names


def _section(i: int, r: Result, outdir: Path) -> str:
    logs = _copy_logs(r, outdir / "runs" / str(i))
    links = " | ".join(
        f'<a href="runs/{i}/{_e(n if n.endswith(".txt") else n + ".txt")}" '
        f'class="log-{_e(n.split(".")[0])}">{_e(n)}</a>' for n in logs)
    rows = []
    for st in r.steps:
        failed = not st.get("ok")
        rows.append(
            f'<tr class="{"failed" if failed else "ok"}">'
            f'<td>{_e(st.get("label", ""))}</td><td>{_e(st.get("name", ""))}'
            f'</td><td>{"FAILED" if failed else "ok"}</td>'
            f'<td class="reason">{_e(st.get("error") or st.get("result", ""))}'
            f'</td></tr>')
    steps = ("<table class=\"steps\"><tr><th>step</th><th>name</th>"
             "<th></th><th>result</th></tr>" + "".join(rows) + "</table>"
             if rows else "<p>(no steps ran)</p>")
    plots = ""
    if r.rundir is not None:
        plots += _plot("QEMU RSS outside guest RAM and the TCG buffer, per "
                       "soak cycle", rss_points(r.rundir), "cycle", "KiB",
                       "rss")
        plots += _plot("VT-d invalidation time-outs (ITE) over time",
                       ite_points(r.rundir), "seconds", "ITEs", "ite")
    return (f'<section id="run-{i}" class="run {r.verdict}">'
            f'<h2>{_e(r.scenario)} on {_e(r.kernel)}: '
            f'<span class="{r.verdict}">{r.verdict}</span> '
            f'({r.elapsed:.1f} s)</h2>'
            f'<p class="reason">{_e(r.reason)}</p>'
            f'<p>logs: {links or "(none)"}</p>{steps}{plots}</section>')


def render(res: Sequence[Result], outdir: Path,
           na: Optional[Sequence[Tuple[str, str]]] = None) -> str:
    """The page."""
    kernels = list(dict.fromkeys(r.kernel for r in res))
    scens = sorted({r.scenario for r in res})
    index: Dict[Tuple[str, str], int] = {}
    for i, r in enumerate(res):
        index[(r.scenario, r.kernel)] = i
    head = "".join(f"<th>{_e(k)}</th>" for k in kernels)
    rows = []
    for s in scens:
        cells = []
        for k in kernels:
            i = index.get((s, k), -1)
            if i < 0:
                n_a = na and (s, k) in na
                cells.append(f'<td class="verdict NA" data-scenario="{_e(s)}"'
                             f' data-kernel="{_e(k)}">'
                             f'{"n/a" if n_a else "-"}</td>')
                continue
            r = res[i]
            cells.append(f'<td class="verdict {r.verdict}" '
                         f'data-scenario="{_e(s)}" data-kernel="{_e(k)}" '
                         f'title="{_e(r.reason[:200])}"><a href="#run-{i}">'
                         f'{r.verdict}</a></td>')
        rows.append(f"<tr><th>{_e(s)}</th>{''.join(cells)}</tr>")
    counts = {v: sum(r.verdict == v for r in res)
              for v in ("PASS", "FAIL", "SKIP", "ERROR", "INTERRUPTED")}
    summary = ", ".join(f"{n} {v.lower()}" for v, n in counts.items() if n)
    sections = "".join(_section(i, r, outdir) for i, r in enumerate(res))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>plugfault report</title>"
            f"<style>{CSS}</style></head><body>"
            f"<h1>plugfault report</h1><p id=\"summary\">{len(res)} runs: "
            f"{summary}</p>"
            f"<table id=\"grid\"><tr><th>scenario \\ kernel</th>{head}</tr>"
            f"{''.join(rows)}</table>{sections}</body></html>\n")


def write(outdir: Path, res: Sequence[Result],
          na: Optional[Sequence[Tuple[str, str]]] = None) -> Path:
    """Write DIR/index.html (and the copied logs); its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    page = outdir / "index.html"
    page.write_text(render(res, outdir, na), encoding="utf-8")
    return page
