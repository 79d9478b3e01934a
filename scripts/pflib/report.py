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
    # pylint: disable=too-many-locals
    if len(points) < 2:
        return ""
    width, height, margin = 480, 200, 40
    xvals, yvals = [p[0] for p in points], [p[1] for p in points]
    xmin, xmax = min(xvals), max(xvals) or 1
    ymin, ymax = min(yvals), max(yvals)
    if ymax == ymin:
        ymax = ymin + 1
    if xmax == xmin:
        xmax = xmin + 1

    def scale_x(xval: float) -> float:
        return margin + (xval - xmin) / (xmax - xmin) * (width - 2 * margin)

    def scale_y(yval: float) -> float:
        span = height - 2 * margin
        return height - margin + (ymin - yval) / (ymax - ymin) * span
    path = " ".join(f"{scale_x(x):.1f},{scale_y(y):.1f}" for x, y in points)
    return (f'<figure><svg class="plot {cls}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" '
            f'role="img" aria-label="{_e(title)}">'
            f'<polyline fill="none" stroke="#2463b0" stroke-width="2" '
            f'points="{path}"/>'
            f'<line x1="{margin}" y1="{height - margin}" '
            f'x2="{width - margin}" y2="{height - margin}" '
            f'stroke="#555"/><line x1="{margin}" y1="{margin}" x2="{margin}" '
            f'y2="{height - margin}" stroke="#555"/>'
            f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" '
            f'font-size="12">{_e(xlabel)} ({xmin:g} .. {xmax:g})</text>'
            f'<text x="12" y="{margin - 12}" font-size="12">{_e(ylabel)} '
            f'({ymin:g} .. {ymax:g})</text></svg>'
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
    out, count = [], 0
    try:
        with open(rundir / "qmp.log", encoding="utf-8") as fh:
            for line in fh:
                if "X_VTD_QI_ERROR" not in line:
                    continue
                event = json.loads(line)
                if event.get("event", {}).get("data", {}).get("kind") == "ite":
                    count += 1
                    out.append((float(event["t"]), float(count)))
    except (OSError, ValueError):
        pass
    return out


def _copy_logs(res: Result, dest: Path) -> List[str]:
    names = []
    if res.rundir is None:
        return names
    dest.mkdir(parents=True, exist_ok=True)
    for name in LOGS:
        src = res.rundir / name
        if src.is_file():
            shutil.copyfile(src, dest / (name + ".txt"
                                         if not name.endswith(".txt")
                                         else name))
            names.append(name)
    return names


def _section(i: int, res: Result, outdir: Path) -> str:
    logs = _copy_logs(res, outdir / "runs" / str(i))
    links = " | ".join(
        f'<a href="runs/{i}/{_e(n if n.endswith(".txt") else n + ".txt")}" '
        f'class="log-{_e(n.split(".")[0])}">{_e(n)}</a>' for n in logs)
    rows = []
    for step in res.steps:
        failed = not step.get("ok")
        rows.append(
            f'<tr class="{"failed" if failed else "ok"}">'
            f'<td>{_e(step.get("label", ""))}</td>'
            f'<td>{_e(step.get("name", ""))}'
            f'</td><td>{"FAILED" if failed else "ok"}</td>'
            f'<td class="reason">'
            f'{_e(step.get("error") or step.get("result", ""))}'
            f'</td></tr>')
    steps = ("<table class=\"steps\"><tr><th>step</th><th>name</th>"
             "<th></th><th>result</th></tr>" + "".join(rows) + "</table>"
             if rows else "<p>(no steps ran)</p>")
    plots = ""
    if res.rundir is not None:
        plots += _plot("QEMU RSS outside guest RAM and the TCG buffer, per "
                       "soak cycle", rss_points(res.rundir), "cycle", "KiB",
                       "rss")
        plots += _plot("VT-d invalidation time-outs (ITE) over time",
                       ite_points(res.rundir), "seconds", "ITEs", "ite")
    return (f'<section id="run-{i}" class="run {res.verdict}">'
            f'<h2>{_e(res.scenario)} on {_e(res.kernel)}: '
            f'<span class="{res.verdict}">{res.verdict}</span> '
            f'({res.elapsed:.1f} s)</h2>'
            f'<p class="reason">{_e(res.reason)}</p>'
            f'<p>logs: {links or "(none)"}</p>{steps}{plots}</section>')


def render(res: Sequence[Result], outdir: Path,
           not_appl: Optional[Sequence[Tuple[str, str]]] = None) -> str:
    """The page."""
    # pylint: disable=too-many-locals
    kernels = list(dict.fromkeys(run.kernel for run in res))
    scens = sorted({run.scenario for run in res})
    index: Dict[Tuple[str, str], int] = {}
    for i, run in enumerate(res):
        index[(run.scenario, run.kernel)] = i
    head = "".join(f"<th>{_e(k)}</th>" for k in kernels)
    rows = []
    for scen in scens:
        cells = []
        for k in kernels:
            i = index.get((scen, k), -1)
            if i < 0:
                n_a = not_appl and (scen, k) in not_appl
                cells.append(f'<td class="verdict NA" '
                             f'data-scenario="{_e(scen)}"'
                             f' data-kernel="{_e(k)}">'
                             f'{"n/a" if n_a else "-"}</td>')
                continue
            run = res[i]
            cells.append(f'<td class="verdict {run.verdict}" '
                         f'data-scenario="{_e(scen)}" data-kernel="{_e(k)}" '
                         f'title="{_e(run.reason[:200])}"><a href="#run-{i}">'
                         f'{run.verdict}</a></td>')
        rows.append(f"<tr><th>{_e(scen)}</th>{''.join(cells)}</tr>")
    counts = {v: sum(run.verdict == v for run in res)
              for v in ("PASS", "FAIL", "SKIP", "ERROR", "INTERRUPTED")}
    summary = ", ".join(f"{n} {v.lower()}" for v, n in counts.items() if n)
    sections = "".join(_section(i, run, outdir) for i, run in enumerate(res))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>plugfault report</title>"
            f"<style>{CSS}</style></head><body>"
            f"<h1>plugfault report</h1><p id=\"summary\">{len(res)} runs: "
            f"{summary}</p>"
            f"<table id=\"grid\"><tr><th>scenario \\ kernel</th>{head}</tr>"
            f"{''.join(rows)}</table>{sections}</body></html>\n")


def write(outdir: Path, res: Sequence[Result],
          not_appl: Optional[Sequence[Tuple[str, str]]] = None) -> Path:
    """Write DIR/index.html (and the copied logs); its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    page = outdir / "index.html"
    page.write_text(render(res, outdir, not_appl), encoding="utf-8")
    return page
