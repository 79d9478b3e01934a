"""plugfault matrix: the kernel x scenario grid, in parallel, sharded.

Each cell is its own ``plugfault run`` process (own run directory, so own
QMP and console sockets; slirp opens no host ports), started in its own
session so a signal to the matrix reaches each cell's runner, which stops
its QEMU and writes "interrupted".  Kernels are resolved (downloaded,
extracted) once, before the cells start.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import List, Optional, Sequence, Tuple

from . import kernels
from .runner import ARCH, INTERRUPTED, Result
from .scenario import Scenario

Cell = Tuple[Scenario, str]


def cells(scenarios: Sequence[Scenario], specs: Sequence[str],
          repo: Path) -> Tuple[List[Cell], List[Cell]]:
    """(cells to run, cells that do not apply: the kernel's arch differs),
    in a deterministic order (scenario, then kernel as given)."""
    run, not_applicable = [], []
    for scen in sorted(scenarios, key=lambda s: s.name):
        for spec in specs:
            arch = kernels.kernel_arch(spec) or kernels.image_arch(spec, repo)
            if arch and arch != ARCH[scen.arch]:
                not_applicable.append((scen, spec))
            else:
                run.append((scen, spec))
    return run, not_applicable


def shard(items: Sequence[Cell], spec: Optional[str]) -> List[Cell]:
    """--shard K/N: every N-th cell from the K-th (1-based)."""
    if not spec:
        return list(items)
    k, _, nstr = spec.partition("/")
    try:
        kth, nth = int(k), int(nstr)
    except ValueError as exc:
        raise ValueError(f"--shard {spec}: want K/N") from exc
    if not 1 <= kth <= nth:
        raise ValueError(f"--shard {spec}: want 1 <= K <= N")
    return [c for i, c in enumerate(items) if i % nth == kth - 1]


class Matrix:
    """Runs cells as child processes, at most `jobs` at once."""

    def __init__(self, plugfault: Path, outdir: Path, jobs: int,
                 extra: Sequence[str], quiet: bool):
        self.plugfault = plugfault
        self.outdir = outdir
        self.jobs = max(1, jobs)
        self.extra = list(extra)
        self.quiet = quiet
        self.procs: List["subprocess.Popen[bytes]"] = []
        self.lock = threading.Lock()
        self.stopping = False

    def run_cell(self, cell: Cell) -> Result:
        """One cell: plugfault run --rundir ... ; its Result."""
        scen, spec = cell
        rundir = self.outdir / f"{scen.name}@{_safe(spec)}"
        if rundir.exists():
            for entry in rundir.iterdir():
                if entry.is_file():
                    entry.unlink()
        rundir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(self.plugfault), "run", "--quiet",
               "--rundir", str(rundir), "--kernel", spec, str(scen.path)] + \
            self.extra
        t_start = time.monotonic()
        with self.lock:
            if self.stopping:
                return Result(scen.name, spec, INTERRUPTED, "interrupted "
                              "(not started)", 0.0, None)
            with open(rundir / "runner.log", "wb") as log:
                proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            self.procs.append(proc)
        proc.wait()
        vjson = rundir / "verdict.json"
        if vjson.exists():
            res = Result.from_json(json.loads(vjson.read_text()))
            res.kernel = spec
        else:
            res = Result(scen.name, spec, "ERROR", f"runner exited "
                         f"{proc.returncode} without a verdict (see "
                         f"runner.log)", time.monotonic() - t_start, rundir)
        if not self.quiet:
            print(f"{res.verdict:11s} {scen.name} [{spec}] "
                  f"({res.elapsed:.1f}s)"
                  f": {res.reason[:100]}", flush=True)
        return res

    def interrupt(self, signum: int, _frame: Optional[FrameType]) -> None:
        """Forward a stop signal to every running cell."""
        with self.lock:
            self.stopping = True
            for proc in self.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        print(f"plugfault matrix: {signal.Signals(signum).name}: stopping "
              f"the cells", file=sys.stderr, flush=True)

    def run(self, todo: Sequence[Cell]) -> List[Result]:
        """All cells, in order of `todo` in the result."""
        old = {sig: signal.signal(sig, self.interrupt)
               for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            with ThreadPoolExecutor(max_workers=self.jobs) as ex:
                return list(ex.map(self.run_cell, todo))
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in text)
