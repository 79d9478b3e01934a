"""Where is it stuck: sample every vCPU's PC and interrupt state, symbolize.

QMP has no PC in query-cpus-fast, so the samples come from HMP
``info registers -a`` (through human-monitor-command): RIP and RFLAGS.IF on
x86, NIP and MSR.EE on POWER.  Addresses are symbolized with the kernel's
System.map, shifted by the KASLR offset that /init prints (the runtime
address of ``_text`` from /proc/kallsyms).
"""

import bisect
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple


@dataclass
class CpuSample:
    """One vCPU at one moment."""
    cpu: int
    pc: int
    irqs_on: bool
    halted: bool = False


def parse_registers(text: str) -> List[CpuSample]:
    """CpuSamples from HMP 'info registers -a' (x86 or POWER)."""
    out = []
    parts = re.split(r"^CPU#(\d+)\s*$", text.replace("\r", ""), flags=re.M)
    for i in range(1, len(parts) - 1, 2):
        cpu, body = int(parts[i]), parts[i + 1]
        rip = re.search(r"\b[RE]IP=([0-9a-f]+)", body)
        if rip:
            rfl = re.search(r"\b[RE]FL=([0-9a-f]+)", body)
            hlt = re.search(r"\bHLT=(\d)", body)
            out.append(CpuSample(cpu, int(rip.group(1), 16),
                                 bool(rfl and int(rfl.group(1), 16) & 0x200),
                                 bool(hlt and hlt.group(1) == "1")))
            continue
        nip = re.search(r"\bNIP ([0-9a-f]+)", body)
        if nip:
            msr = re.search(r"\bMSR ([0-9a-f]+)", body)
            out.append(CpuSample(cpu, int(nip.group(1), 16),
                                 bool(msr and int(msr.group(1), 16) & 0x8000)))
    return out


class Symbolizer:
    """Address -> 'function+0xoff' from a symbol table and an offset."""

    def __init__(self, symbols: Optional[Dict[str, int]],
                 offset: int = 0):
        items = sorted((a, n) for n, a in (symbols or {}).items())
        self.addrs = [a for a, _ in items]
        self.names = [n for _, n in items]
        self.offset = offset

    def __bool__(self) -> bool:
        return bool(self.addrs)

    def function(self, pc: int) -> Tuple[str, int]:
        """(name, offset) of the symbol at or below pc, or ('', 0)."""
        if not self.addrs:
            return "", 0
        i = bisect.bisect_right(self.addrs, pc - self.offset) - 1
        if i < 0:
            return "", 0
        return self.names[i], pc - self.offset - self.addrs[i]

    def name(self, pc: int) -> str:
        """'func+0x1a' or the raw address."""
        fn, off = self.function(pc)
        return f"{fn}+0x{off:x}" if fn else f"0x{pc:x}"


def kaslr_offset(console_text: str, symbols: Optional[Dict[str, int]]
                 ) -> int:
    """Runtime _text (printed by /init) minus System.map's _text."""
    m = re.search(r"plugfault-init: kallsyms ([0-9a-f]+) \w _text",
                  console_text)
    if not m or not symbols or "_text" not in symbols:
        return 0
    return int(m.group(1), 16) - symbols["_text"]


@dataclass
class Verdict:
    """What the samples say, per vCPU."""
    text: str                      # one line for a verdict
    stuck: Dict[int, str]          # cpu -> function every sample was in
    irqs_off: Dict[int, bool]      # cpu -> interrupts off in every sample


def summarize(samples: Sequence[Sequence[CpuSample]], sym: Symbolizer,
              seconds: float) -> Verdict:
    """Summarize rounds of samples ('vCPU0 stuck in f+0x.. with interrupts
    off for 5 s')."""
    per_cpu: Dict[int, List[CpuSample]] = {}
    for rnd in samples:
        for s in rnd:
            per_cpu.setdefault(s.cpu, []).append(s)
    parts, stuck, irqs_off = [], {}, {}
    for cpu, ss in sorted(per_cpu.items()):
        funcs = Counter(sym.function(s.pc)[0] or hex(s.pc) for s in ss)
        off = all(not s.irqs_on for s in ss)
        irqs_off[cpu] = off
        irq = "interrupts off" if off else (
            "interrupts on" if all(s.irqs_on for s in ss)
            else "interrupts on and off")
        if all(s.halted for s in ss):
            parts.append(f"vCPU{cpu} idle (halted)")
            continue
        if len(funcs) == 1:
            fn = next(iter(funcs))
            stuck[cpu] = fn
            last = sym.name(ss[-1].pc) if sym else hex(ss[-1].pc)
            parts.append(f"vCPU{cpu} stuck in {last} with {irq} for "
                         f"{seconds:.0f} s ({len(ss)} samples)")
        else:
            top = ", ".join(f"{f} x{n}" for f, n in funcs.most_common(3))
            parts.append(f"vCPU{cpu} moving ({top}; {irq})")
    text = "; ".join(parts) or "no vCPU samples"
    if not sym:
        text += " (no System.map: addresses not symbolized)"
    return Verdict(text, stuck, irqs_off)


def sample(hmp: Callable[[str], str], rounds: int, interval: float,
           until: Optional[Callable[[], bool]] = None
           ) -> Tuple[List[List[CpuSample]], float]:
    """`rounds` samples `interval` s apart (stop early when until()); the
    samples and the seconds they span."""
    out: List[List[CpuSample]] = []
    t0 = time.monotonic()
    for i in range(rounds):
        out.append(parse_registers(hmp("info registers -a")))
        if i + 1 < rounds:
            if until is not None and until():
                break
            time.sleep(interval)
    return out, time.monotonic() - t0
