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
    addr: int
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
        self.text_lo = syms.get("_stext", syms.get("_text", 0))
        self.text_hi = syms.get("_etext", 0)

    def is_text(self, addr: int) -> bool:
        """Whether addr (runtime) is in the kernel's text."""
        if self.ends is not None:          # partial: known functions only
            return bool(self.function(addr)[0])
        rel = addr - self.offset
        return bool(self.text_hi) and self.text_lo <= rel < self.text_hi

    def __bool__(self) -> bool:
        return bool(self.addrs)

    def function(self, addr: int) -> Tuple[str, int]:
        """(name, offset) of the symbol at or below pc, or ('', 0)."""
        if not self.addrs:
            return "", 0
        i = bisect.bisect_right(self.addrs, addr - self.offset) - 1
        if i < 0:
            return "", 0
        name = self.names[i]
        if self.ends is not None and not (
                name in self.ends and addr - self.offset < self.ends[name]):
            return "", 0
        return name, addr - self.offset - self.addrs[i]

    def name(self, addr: int) -> str:
        """'func+0x1a' or the raw address."""
        func, off = self.function(addr)
        return f"{func}+0x{off:x}" if func else f"0x{addr:x}"


def kaslr_offset(console_text: str, symbols: Optional[Dict[str, int]]
                 ) -> int:
    """Runtime _text (printed by /init) minus System.map's _text."""
    match = re.search(r"plugfault-init: kallsyms ([0-9a-f]+) \w _text",
                      console_text)
    if not match or not symbols or "_text" not in symbols:
        return 0
    return int(match.group(1), 16) - symbols["_text"]


@dataclass
class Verdict:
    """What the samples say, per vCPU."""
    text: str                      # one line for a verdict
    stuck: Dict[int, str]          # cpu -> function every sample was in
    irqs_off: Dict[int, bool]      # cpu -> interrupts off in every sample


# GCC's clones and split parts of a function keep its name with a suffix:
# qi_submit_sync.cold is qi_submit_sync's unlikely code (in 6.1 the inlined
# qi_check_fault/qi_dump_fault error path), in another section, reached by
# a jump, not a call, so no return address into qi_submit_sync marks it.
CLONE_SUFFIX = re.compile(r"\.(?:cold|part|isra|constprop|lto_priv)\b.*$")


def clone_base(name: str) -> str:
    """The function a (GCC clone or split part) symbol belongs to."""
    return CLONE_SUFFIX.sub("", name)


def frames(smp: CpuSample, sym: Symbolizer) -> List[Tuple[str, int]]:
    """(function, address) for the PC, then for each text address found on
    the top of the stack (callers, and some stale words: a scan, not an
    unwind).  A clone or split part counts as its function."""
    out = [(clone_base(sym.function(smp.addr)[0]) or hex(smp.addr),
            smp.addr)]
    for word in smp.stack:
        if sym.is_text(word):
            func = clone_base(sym.function(word)[0])
            if func and all(func != f for f, _ in out):
                out.append((func, word))
    return out


def summarize(samples: Sequence[Sequence[CpuSample]], sym: Symbolizer,
              seconds: float, want: Optional[str] = None) -> Verdict:
    """Summarize rounds of samples ('vCPU0 stuck in f+0x.. with interrupts
    off for 5 s').  A vCPU is stuck in F when every sample has F as its PC
    function or, for F matching `want`, among the callers on its stack."""
    # pylint: disable=too-many-locals
    per_cpu: Dict[int, List[CpuSample]] = {}
    for rnd in samples:
        for smp in rnd:
            per_cpu.setdefault(smp.cpu, []).append(smp)
    parts, stuck, irqs_off = [], {}, {}
    for cpu, smps in sorted(per_cpu.items()):
        funcs = Counter(clone_base(sym.function(smp.addr)[0]) or
                        hex(smp.addr) for smp in smps)
        off = all(not smp.irqs_on for smp in smps)
        irqs_off[cpu] = off
        irq = "interrupts off" if off else (
            "interrupts on" if all(smp.irqs_on for smp in smps)
            else "interrupts on and off")
        if all(smp.halted for smp in smps):
            parts.append(f"vCPU{cpu} idle (halted)")
            continue
        frms = [frames(smp, sym) for smp in smps]
        common = [f for f, _ in frms[0]
                  if all(any(f == g for g, _ in x) for x in frms)]
        if want:
            common = [f for f in common if re.search(want, f)] or \
                ([next(iter(funcs))] if len(funcs) == 1 else [])
        elif len(funcs) == 1:
            common = [next(iter(funcs))]
        else:
            common = []
        if common:
            func = common[0]
            addr = next(a for f, a in frms[-1] if f == func)
            stuck[cpu] = func
            where = sym.name(addr) if sym else hex(addr)
            pcs = "" if func == funcs.most_common(1)[0][0] else \
                f", PC mostly in {funcs.most_common(1)[0][0]}"
            parts.append(f"vCPU{cpu} stuck in {where} with {irq} for "
                         f"{seconds:.0f} s ({len(smps)} samples{pcs})")
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


# How much of each stack the scan reads: 4 KiB.  A loop that printks to the
# serial console from inside (6.1's ITE retry: qi_dump_fault() on every
# pass) is sampled deep in printk and the 8250 driver, where the loop's own
# return address lies 1-2 KiB up the stack; 512 bytes missed it.
STACK_WORDS = 512


def take(hmp: Hmp, arch: str) -> List[CpuSample]:
    """One round: registers of every vCPU and the top of each stack, read
    with the VM stopped.  A running vCPU moves between the two reads: its
    PC from one place (say _raw_spin_unlock, called by the loop) and its
    stack from another (the loop's own frame, where the loop is not among
    the callers), which made a stuck vCPU look as if it moved."""
    running = "running" in hmp("info status", None)
    if running:
        hmp("stop", None)
    try:
        out = parse_registers(hmp("info registers -a", None))
        sp_reg = "$sp" if arch == "x86_64" else "$r1"
        for smp in out:
            try:
                smp.stack = parse_words(
                    hmp(f"x /{STACK_WORDS}gx {sp_reg}", smp.cpu))
            except Exception:  # pylint: disable=broad-except
                smp.stack = []
    finally:
        if running:
            hmp("cont", None)
    return out


def sample(hmp: Hmp, arch: str, rounds: int, interval: float,
           until: Optional[Callable[[], bool]] = None
           ) -> Tuple[List[List[CpuSample]], float]:
    """`rounds` samples `interval` s apart (stop early when until()); the
    samples and the seconds they span."""
    out: List[List[CpuSample]] = []
    t_start = time.monotonic()
    for i in range(rounds):
        out.append(take(hmp, arch))
        if i + 1 < rounds:
            if until is not None and until():
                break
            time.sleep(interval)
    return out, time.monotonic() - t_start
