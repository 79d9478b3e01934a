"""Soak reporting: QEMU's RSS per repeat cycle and counted console lines,
both with limits that fail the run."""

import re
from pathlib import Path
from typing import Any, Dict, IO, List, Optional, Tuple

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


def small_rss_kib(pid: int) -> Optional[int]:
    """RSS outside mappings of 256 MiB or more (guest RAM, TCG code
    buffer): QEMU's own heap and libraries, where a device-model leak would
    show."""
    total, size = 0, 0
    try:
        with open(f"/proc/{pid}/smaps", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Size:"):
                    size = int(line.split()[1])
                elif line.startswith("Rss:"):
                    if size < BIG_MAPPING_KIB:
                        total += int(line.split()[1])
    except OSError:
        return None
    return total


def count_spec(spec: Any) -> Tuple[str, Optional[int]]:
    """A console_counts value: "REGEX" (report only) or
    { pattern = "REGEX", max = N }."""
    if isinstance(spec, dict):
        return spec["pattern"], spec.get("max")
    return spec, None


class Soak:
    """RSS samples (rss.csv) and the verdict's report line."""

    def __init__(self, report: Dict[str, Any], rundir: Path):
        self.report = report
        self.rss: List[Tuple[int, int, int]] = []
        self.missed: List[int] = []
        self.fh: Optional[IO[str]] = None
        if report.get("rss"):
            # pylint: disable=consider-using-with  # closed in close()
            self.fh = open(rundir / "rss.csv", "w", encoding="utf-8")

    def sample(self, cycle: int, pid: Optional[int]) -> None:
        """After a repeat cycle."""
        if not self.report.get("rss"):
            return
        kib = rss_kib(pid) if pid else None
        small = small_rss_kib(pid) if pid else None
        if kib is None or small is None:
            self.missed.append(cycle)
            return
        self.rss.append((cycle, kib, small))
        assert self.fh is not None
        self.fh.write(f"{cycle},{kib},{small}\n")
        self.fh.flush()

    def close(self) -> None:
        """Close rss.csv."""
        if self.fh:
            self.fh.close()

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
            parts.append(
                f"QEMU RSS {first[1]} -> {last[1]} KiB ({growth:+d} KiB), "
                f"outside guest RAM and the TCG code buffer {first[2]} -> "
                f"{last[2]} KiB ({small_growth:+d} KiB), cycles "
                f"{first[0]}..{last[0]}")
            if limit is not None and small_growth > limit:
                raise StepFailed(f"{parts[-1]}: more than the {limit} KiB "
                                 f"allowed")
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
