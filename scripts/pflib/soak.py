"""Soak reporting: QEMU's RSS per repeat cycle and counted console lines,
both with limits that fail the run."""

import re
from pathlib import Path
from typing import Any, Callable, Dict, IO, List, Optional, Tuple

from .steps import StepFailed

BIG_MAPPING_KIB = 256 * 1024


def rss_kib(pid: int) -> Optional[int]:
    """VmRSS of a process."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def small_mappings(pid: int) -> Optional[Dict[str, int]]:
    """RSS (KiB) of each mapping smaller than 256 MiB (so not guest RAM nor
    the TCG code buffer: QEMU's own heap, malloc arenas, stacks and
    libraries, where a device-model leak would show), keyed by start
    address and name."""
    maps: Dict[str, int] = {}
    key, size = "", 0
    try:
        with open(f"/proc/{pid}/smaps", encoding="utf-8") as fh:
            for line in fh:
                field = line.split(None, 1)[0]
                if field.endswith(":"):
                    if field == "Size:":
                        size = int(line.split()[1])
                    elif field == "Rss:" and size < BIG_MAPPING_KIB:
                        maps[key] = int(line.split()[1])
                    continue
                # a mapping's header: start-end perms offset dev inode [name]
                parts = line.split()
                start = parts[0].split("-")[0]
                name = parts[5] if len(parts) > 5 else "[anon]"
                key = f"{start} {parts[1]} {name}"
    except (OSError, IndexError, ValueError):
        return None
    return maps


def growth_by_mapping(first: Dict[str, int],
                      last: Dict[str, int]) -> List[Tuple[int, str]]:
    """(KiB, mapping) for each mapping whose RSS changed, largest growth
    first; a mapping that came or went counts from or to 0."""
    rows = [(last.get(k, 0) - first.get(k, 0), k)
            for k in set(first) | set(last)]
    return sorted((r for r in rows if r[0]), key=lambda r: (-r[0], r[1]))


def fitted_growth(points: List[Tuple[int, int]]) -> float:
    """Growth over the span of `points` ((cycle, KiB)) by a least-squares
    line: the slope times (last cycle - first cycle).  0 for fewer than two
    distinct cycles."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    if not sxx:
        return 0.0
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
    return slope * (points[-1][0] - points[0][0])


def count_spec(spec: Any) -> Tuple[str, Optional[int]]:
    """A console_counts value: "REGEX" (report only) or
    { pattern = "REGEX", max = N }."""
    if isinstance(spec, dict):
        return spec["pattern"], spec.get("max")
    return spec, None


class Soak:
    """RSS samples (rss.csv) and the verdict's report line.

    With ``flush_tcg`` in the report, each sample is taken between
    `flush` (the guest stopped, then x-tcg-flush: TCG's translation cache
    and its heap bookkeeping flushed, the heap trimmed) and `resume` (the
    guest continues), so that what the samples compare is QEMU's memory
    outside the translation cache, not the cache's growth, and no block is
    translated again before the sample."""

    def __init__(self, report: Dict[str, Any], rundir: Path,
                 flush: Optional[Callable[[], Any]] = None,
                 resume: Optional[Callable[[], Any]] = None):
        self.report = report
        self.flush = flush if report.get("flush_tcg") else None
        self.resume = resume if report.get("flush_tcg") else None
        if report.get("flush_tcg") and (flush is None or resume is None):
            raise ValueError("flush_tcg set but no way to flush given")
        self.rss: List[Tuple[int, int, int]] = []
        self.missed: List[int] = []
        self.rundir = rundir
        # the mappings at the first cycle after the warm-up and now, for
        # rss-growth.txt: where the growth the verdict reports lies
        self.warm_maps: Optional[Dict[str, int]] = None
        self.last_maps: Optional[Dict[str, int]] = None
        self.fh: Optional[IO[str]] = None
        if report.get("rss"):
            # pylint: disable=consider-using-with  # closed in close()
            self.fh = open(rundir / "rss.csv", "w", encoding="utf-8")

    def sample(self, cycle: int, pid: Optional[int]) -> None:
        """After a repeat cycle."""
        if not self.report.get("rss"):
            return
        if not pid:
            self.missed.append(cycle)
            return
        if self.flush:
            self.flush()
        try:
            kib, maps = rss_kib(pid), small_mappings(pid)
        finally:
            if self.resume:
                self.resume()
        if kib is None or maps is None:
            self.missed.append(cycle)
            return
        small = sum(maps.values())
        if self.warm_maps is None and \
                cycle >= int(self.report.get("warmup_cycles", 0)):
            self.warm_maps = maps
        self.last_maps = maps
        self.rss.append((cycle, kib, small))
        assert self.fh is not None
        self.fh.write(f"{cycle},{kib},{small}\n")
        self.fh.flush()

    def close(self) -> None:
        """Close rss.csv; write rss-growth.txt."""
        if self.fh:
            self.fh.close()
            self.fh = None
        if self.warm_maps is not None and self.last_maps is not None:
            rows = growth_by_mapping(self.warm_maps, self.last_maps)
            with open(self.rundir / "rss-growth.txt", "w",
                      encoding="utf-8") as out:
                out.write("# RSS change (KiB) of each mapping under 256 MiB "
                          "from the first cycle after the warm-up to the "
                          "last; start perms name\n")
                for kib, key in rows:
                    out.write(f"{kib:+8d} {key}\n")
                out.write(f"{sum(r[0] for r in rows):+8d} total\n")

    def verdict_line(self, console_text: str) -> str:
        """One line for the verdict; StepFailed when a limit is exceeded."""
        # pylint: disable=too-many-locals
        parts = []
        rep = self.report
        limit = rep.get("rss_growth_max_kib")
        if rep.get("rss") and not self.rss and limit is not None:
            raise StepFailed(f"RSS limit {limit} KiB set but no RSS sample "
                             f"was taken (no repeat cycle ran, or /proc of "
                             f"QEMU was unreadable)")
        if rep.get("rss") and self.rss:
            warm = int(rep.get("warmup_cycles", 0))
            first = next((r for r in self.rss if r[0] >= warm), self.rss[0])
            last = self.rss[-1]
            growth, small_growth = last[1] - first[1], last[2] - first[2]
            fit = fitted_growth([(r[0], r[2]) for r in self.rss
                                 if r[0] >= first[0]])
            parts.append(
                f"QEMU RSS {first[1]} -> {last[1]} KiB ({growth:+d} KiB), "
                f"outside guest RAM and the TCG code buffer {first[2]} -> "
                f"{last[2]} KiB ({small_growth:+d} KiB; fitted "
                f"{fit:+.0f} KiB), cycles {first[0]}..{last[0]}"
                + (", each sample after a TCG cache flush"
                   if self.flush else ""))
            use_fit = rep.get("rss_growth") == "fit"
            if limit is not None and \
                    (fit if use_fit else small_growth) > limit:
                raise StepFailed(f"{parts[-1]}: more than the {limit} KiB "
                                 f"allowed" + (" (fitted)" if use_fit else ""))
        over = []
        for label, spec in rep.get("console_counts", {}).items():
            regex, most = count_spec(spec)
            count = len(re.findall(regex, console_text, re.M))
            parts.append(f"{count} {label}" + (f" (max {most})"
                                               if most is not None else ""))
            if most is not None and count > most:
                over.append(f"{count} {label}, at most {most} allowed")
        if over:
            raise StepFailed("; ".join(over))
        return "; ".join(parts)
