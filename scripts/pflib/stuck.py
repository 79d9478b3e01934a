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
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple


@dataclass
class CpuSample:
    """One vCPU at one moment: PC, interrupts, and the words on top of its
    stack (return addresses among them name the callers)."""
    cpu: int
    pc: int
    irqs_on: bool
    halted: bool = False
    stack: List[int] = field(default_factory=list)


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
    """Address -> 'function+0xoff' from text symbols and an offset."""

    def __init__(self, symbols: Optional[Dict[str, int]],
                 offset: int = 0, ends: Optional[Dict[str, int]] = None):
        # `ends`: a partial table (from kallsyms) names only the functions
        # whose end it knows
        self.ends = ends
        items = sorted((a, n) for n, a in (symbols or {}).items())
        self.addrs = [a for a, _ in items]
        self.names = [n for _, n in items]
        self.offset = offset
        syms = symbols or {}
        self.lo = syms.get("_stext", syms.get("_text", 0))
        self.hi = syms.get("_etext", 0)

    def is_text(self, addr: int) -> bool:
        """Whether addr (runtime) is in the kernel's text."""
        if self.ends is not None:          # partial: known functions only
            return bool(self.function(addr)[0])
        a = addr - self.offset
        return bool(self.hi) and self.lo <= a < self.hi

    def __bool__(self) -> bool:
        return bool(self.addrs)

    def function(self, pc: int) -> Tuple[str, int]:
        """(name, offset) of the symbol at or below pc, or ('', 0)."""
        if not self.addrs:
            return "", 0
        i = bisect.bisect_right(self.addrs, pc - self.offset) - 1
        if i < 0:
            return "", 0
        name = self.names[i]
        if self.ends is not None and not (
                name in self.ends and pc - self.offset < self.ends[name]):
            return "", 0
        return name, pc - self.offset - self.addrs[i]

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


def frames(s: CpuSample, sym: Symbolizer) -> List[Tuple[str, int]]:
    """(function, address) for the PC, then for each text address found on
    the top of the stack (callers, and some stale words: a scan, not an
    unwind)."""
    out = [(sym.function(s.pc)[0] or hex(s.pc), s.pc)]
    for w in s.stack:
        if sym.is_text(w):
            fn = sym.function(w)[0]
            if fn and all(fn != f for f, _ in out):
                out.append((fn, w))
    return out


def summarize(samples: Sequence[Sequence[CpuSample]], sym: Symbolizer,
              seconds: float, want: Optional[str] = None) -> Verdict:
    """Summarize rounds of samples ('vCPU0 stuck in f+0x.. with interrupts
    off for 5 s').  A vCPU is stuck in F when every sample has F as its PC
    function or, for F matching `want`, among the callers on its stack."""
    # pylint: disable=too-many-locals
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
        fr = [frames(s, sym) for s in ss]
        common = [f for f, _ in fr[0]
                  if all(any(f == g for g, _ in x) for x in fr)]
        if want:
            common = [f for f in common if re.search(want, f)] or \
                ([next(iter(funcs))] if len(funcs) == 1 else [])
        elif len(funcs) == 1:
            common = [next(iter(funcs))]
        else:
            common = []
        if common:
            fn = common[0]
            addr = next(a for f, a in fr[-1] if f == fn)
            stuck[cpu] = fn
            at = sym.name(addr) if sym else hex(addr)
            pcs = "" if fn == funcs.most_common(1)[0][0] else \
                f", PC mostly in {funcs.most_common(1)[0][0]}"
            parts.append(f"vCPU{cpu} stuck in {at} with {irq} for "
                         f"{seconds:.0f} s ({len(ss)} samples{pcs})")
        else:
            top = ", ".join(f"{f} x{n}" for f, n in funcs.most_common(3))
            parts.append(f"vCPU{cpu} moving ({top}; {irq})")
    text = "; ".join(parts) or "no vCPU samples"
    if not sym:
        text += " (no System.map: addresses not symbolized)"
    elif sym.ends is not None:
        text += " (symbols from kallsyms)"
    return Verdict(text, stuck, irqs_off)


Hmp = Callable[[str, Optional[int]], str]


def parse_words(text: str) -> List[int]:
    """The values of HMP 'x /Ngx' output."""
    return [int(w, 16) for line in text.splitlines() if ":" in line
            for w in re.findall(r"0x([0-9a-f]+)", line.split(":", 1)[1])]


def take(hmp: Hmp, arch: str) -> List[CpuSample]:
    """One round: registers of every vCPU and the top of each stack."""
    out = parse_registers(hmp("info registers -a", None))
    sp = "$sp" if arch == "x86_64" else "$r1"
    for s in out:
        try:
            s.stack = parse_words(hmp(f"x /64gx {sp}", s.cpu))
        except Exception:  # pylint: disable=broad-except
            s.stack = []
    return out


def sample(hmp: Hmp, arch: str, rounds: int, interval: float,
           until: Optional[Callable[[], bool]] = None
           ) -> Tuple[List[List[CpuSample]], float]:
    """`rounds` samples `interval` s apart (stop early when until()); the
    samples and the seconds they span."""
    out: List[List[CpuSample]] = []
    t0 = time.monotonic()
    for i in range(rounds):
        out.append(take(hmp, arch))
        if i + 1 < rounds:
            if until is not None and until():
                break
            time.sleep(interval)
    return out, time.monotonic() - t0
