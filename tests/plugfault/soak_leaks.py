#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Copyright (c) 2026 plugfault developers
"""soak-leaks: heap that stays allocated per hot-plug cycle, by call site.

The soak (pnv-hotplug-soak) reports QEMU's RSS outside guest RAM and the
TCG code buffer, but RSS cannot tell a leak from the heap's free chunks
being reused, nor a device model's leak from TCG's own translation cache:
TCG keeps, per translated block, a node in the region tree and a slot in
the TB hash outside the code buffer, and the guest translates ~120-160 new
blocks per cycle (more kernel text runs as devices come and go; blocks of
patched text are retranslated and the stale ones stay listed until the
code buffer is flushed).  That part grows with the code buffer and is
dropped with it, so it is not a leak.

This test runs the soak's cycle twice under heaptrack (Debian's
heaptrack), SHORT and LONG cycles, and compares what each left allocated at
exit, call site by call site (heaptrack_print --diff): the difference is
what LONG - SHORT more cycles left behind.  Sites inside TCG's translation
cache (TCG_SITES) are reported, not counted; everything else (device models,
PCI, the memory API, QMP, our slot and translation-tracking code) must stay
under --limit-kib in total.  An e1000e that left one 1 KiB record behind
per cycle would fail it.

With --qtest, the two runs are of one qtest subtest instead
(--qtest-path; PF_LT_CYCLES tells it how many hot-plug cycles to do), QEMU
wrapped in heaptrack the same way (the qtest's "-machine none" probes run
unwrapped).  --only counts the sites with a function of the given name
prefixes in their backtrace and reports the rest: live-translations-tcg's
hotplug-cycles subtest with --only live_xlate_,lt_core_ fails a tracker
that keeps anything per removed device (its owner record once stayed:
24 B a cycle from owner_of, with its name and hash entries).

Exit status: 0 pass, 1 over the limit (or a run failed), 2 set-up error.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

# Functions whose allocations belong to TCG's translation cache (see above)
# or to the TLB's dynamic resizing (sized by the guest's TLB use, freed on
# the next resize).
TCG_SITES = ('tcg_tb_insert', 'tb_link_page', 'tlb_mmu_resize_locked')

SIZE = r'(-?[\d.]+)([KMG]?)B?'
UNITS = {'': 1, 'K': 1000, 'M': 1000 ** 2, 'G': 1000 ** 3}


def parse_size(num: str, unit: str) -> float:
    """heaptrack_print's "251.76K" (powers of 1000) in bytes."""
    return float(num) * UNITS[unit]


def leak_sites(text: str) -> List[Tuple[float, str, List[str]]]:
    """(bytes, allocating function, caller frames) of each backtrace in the
    MEMORY LEAKS section of heaptrack_print's output."""
    start = text.find('MEMORY LEAKS')
    if start < 0:
        raise ValueError('no MEMORY LEAKS section in heaptrack_print output')
    sites: List[Tuple[float, str, List[str]]] = []
    top = ''
    cur: List[str] = []
    size = 0.0
    in_site = False
    head = re.compile(SIZE + r' leaked over -?\d+ calls from(:?)$')
    other = re.compile(r'\s+and ' + SIZE + r' from \d+ other places')
    lines = text[start:].splitlines()[1:]
    for i, line in enumerate(lines):
        if line.startswith(('total memory leaked', 'MOST ', 'PEAK ')):
            break
        match = head.match(line)
        if match and match.group(3) != ':':
            # a group: the allocating function on the next line
            if in_site:
                sites.append((size, top, cur))
            top = lines[i + 1].strip() if i + 1 < len(lines) else ''
            in_site = False
            continue
        if match:
            # one backtrace of the group: its callers, indented
            if in_site:
                sites.append((size, top, cur))
            size = parse_size(match.group(1), match.group(2))
            cur, in_site = [], True
            continue
        match = other.match(line)
        if match:
            if in_site:
                sites.append((size, top, cur))
                in_site = False
            sites.append((parse_size(match.group(1), match.group(2)), top,
                          ['(other places)']))
            continue
        if in_site and line.startswith('    ') and \
                not line.startswith('     ') and line.strip():
            cur.append(line.strip())
        elif in_site and not line.strip():
            sites.append((size, top, cur))
            in_site = False
    if in_site:
        sites.append((size, top, cur))
    return sites


def is_tcg(top: str, frames: List[str]) -> bool:
    """Whether a site is TCG's translation cache or TLB sizing."""
    return top in TCG_SITES or any(f in TCG_SITES for f in frames)


def is_counted(top: str, frames: List[str], only: Tuple[str, ...]) -> bool:
    """Whether a site counts: not TCG's, and (with --only) one with a
    function of one of those prefixes in its backtrace."""
    if is_tcg(top, frames):
        return False
    return not only or any(f.startswith(only) for f in [top] + frames)


def soak_toml(src: Path, out: Path, cycles: int) -> None:
    """The soak scenario with CYCLES repeats and no RSS report."""
    text = src.read_text(encoding='utf-8')
    text, count = re.subn(r'^repeat = \d+$', f'repeat = {cycles}', text,
                          flags=re.M)
    if count != 1:
        raise ValueError(f'{src}: expected one "repeat = N" line')
    text = re.sub(r'^(rss|rss_growth|rss_growth_max_kib|warmup_cycles|'
                  r'flush_tcg) = .*$', '',
                  text, flags=re.M)
    out.write_text(text, encoding='utf-8')


def write_wrapper(args: argparse.Namespace, tmp: Path, cycles: int) -> Path:
    """A QEMU that runs under heaptrack (data in tmp/heap-CYCLES*); named
    as QEMU is, for libqtest, which reads the target from the name."""
    wrapper = tmp / f'qemu-{cycles}' / args.qemu.name
    wrapper.parent.mkdir()
    data = tmp / f'heap-{cycles}'
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" -machine none "*) '
                       f'exec {args.qemu} "$@";; esac\n'
                       f'exec {args.heaptrack} -o {data} '
                       f'{args.qemu} "$@"\n', encoding='utf-8')
    wrapper.chmod(0o755)
    return wrapper


def run(args: argparse.Namespace, tmp: Path, cycles: int) -> Path:
    """One soak (or qtest) of CYCLES under heaptrack; the heaptrack data
    file."""
    wrapper = write_wrapper(args, tmp, cycles)
    if args.qtest:
        env = dict(os.environ, QTEST_QEMU_BINARY=str(wrapper),
                   PF_LT_CYCLES=str(cycles))
        env.update(kv.split('=', 1) for kv in args.setenv)
        cmd = [str(args.qtest), '--tap', '-p', args.qtest_path]
    else:
        toml = tmp / f'soak-{cycles}.toml'
        soak_toml(args.scenario, toml, cycles)
        env = None
        cmd = [sys.executable, str(args.plugfault), 'run', '--quiet',
               '--qemu', str(wrapper), '--artifacts', str(tmp / 'artifacts'),
               str(toml)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         timeout=args.timeout, env=env)
    lines = [ln for ln in res.stdout.splitlines()
             if ln.startswith(('ok ', 'not ok '))] if args.qtest else \
        res.stdout.strip().splitlines()
    print(f'# {cycles} cycles: {lines[0]}' if lines
          else f'# {cycles} cycles: no verdict')
    if res.returncode != 0:
        raise RuntimeError(f'the {cycles}-cycle run failed:\n{res.stdout}'
                           f'{res.stderr}')
    found = sorted(tmp.glob(f'heap-{cycles}*.zst')) + \
        sorted(tmp.glob(f'heap-{cycles}*.gz'))
    if len(found) != 1:
        raise RuntimeError(f'heaptrack wrote {len(found)} data files for '
                           f'the {cycles}-cycle soak (expected 1)')
    return found[0]


def args_error(args: argparse.Namespace) -> str:
    """What is wrong with the arguments or the host ('' if nothing)."""
    if args.long <= args.short:
        return '--long must be more than --short'
    if not (args.qtest and args.qtest_path) and \
            not (args.plugfault and args.scenario):
        return 'give --plugfault and --scenario, or --qtest and --qtest-path'
    if any('=' not in kv for kv in args.setenv):
        return '--setenv takes NAME=VALUE'
    if not shutil.which(args.heaptrack) or \
            not shutil.which(args.heaptrack + '_print'):
        return (f'{args.heaptrack} and {args.heaptrack}_print not found '
                f'(Debian package heaptrack; ./configure installs it)')
    return ''


def main() -> int:
    """Two soaks, one diff, the verdict."""
    argp = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    argp.add_argument('--qemu', type=Path, required=True)
    argp.add_argument('--plugfault', type=Path,
                      help='scripts/plugfault')
    argp.add_argument('--scenario', type=Path,
                      help='tests/scenarios/pnv-hotplug-soak.toml')
    argp.add_argument('--qtest', type=Path,
                      help='a qtest executable, instead of the soak')
    argp.add_argument('--qtest-path', help='its subtest (GLib -p)')
    argp.add_argument('--setenv', action='append', default=[],
                      metavar='NAME=VALUE', help='for the qtest')
    argp.add_argument('--only', default='',
                      help='comma-separated function name prefixes: count '
                      'only the sites with one in their backtrace')
    argp.add_argument('--short', type=int, default=15)
    argp.add_argument('--long', type=int, default=55)
    argp.add_argument('--limit-kib', type=float, default=48)
    argp.add_argument('--heaptrack', default='heaptrack')
    argp.add_argument('--timeout', type=int, default=600,
                      help='seconds per soak')
    args = argp.parse_args()
    error = args_error(args)
    if error:
        print(f'soak-leaks: {error}', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix='soak-leaks-') as name:
        tmp = Path(name)
        try:
            short = run(args, tmp, args.short)
            long_ = run(args, tmp, args.long)
            out = subprocess.run(
                [args.heaptrack + '_print', '-f', str(long_), '-d',
                 str(short), '--print-leaks', '1', '--print-peaks', '0',
                 '--print-allocators', '0', '--print-temporary', '0',
                 '--print-histogram', '0'],
                capture_output=True, text=True, check=True, timeout=300)
            sites = leak_sites(out.stdout)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            print(f'soak-leaks: {exc}', file=sys.stderr)
            return 2
        except RuntimeError as exc:
            print(f'soak-leaks: {exc}', file=sys.stderr)
            return 1
    only = tuple(p for p in args.only.split(',') if p)
    return verdict(sites, args.long - args.short, args.limit_kib, only)


def verdict(sites: List[Tuple[float, str, List[str]]], cycles: int,
            limit_kib: float, only: Tuple[str, ...] = ()) -> int:
    """Print the sites and the verdict; the exit status."""
    tcg = sum(size for size, top, frames in sites if is_tcg(top, frames))
    other = sum(size for size, top, frames in sites
                if not is_tcg(top, frames) and
                not is_counted(top, frames, only))
    by_site: Dict[str, float] = {}
    for size, top, frames in sites:
        if is_counted(top, frames, only):
            where = ' < '.join([top] + frames[:3])
            by_site[where] = by_site.get(where, 0) + size
    total = sum(by_site.values())
    print(f'# {cycles} more cycles left {tcg / 1024:+.1f} KiB in TCG\'s '
          f'translation cache and TLB sizing (not counted), '
          + (f'{other / 1024:+.1f} KiB at sites without '
             f'{"/".join(only)} (not counted), ' if only else '') +
          f'{total / 1024:+.1f} KiB '
          f'{"in those" if only else "elsewhere"} (limit {limit_kib} KiB)')
    for where, size in sorted(by_site.items(), key=lambda r: -r[1])[:8]:
        if size:
            print(f'#   {size / 1024:+8.2f} KiB  {where}')
    where = f'at {"/".join(only)} sites' if only else 'outside TCG'
    if total / 1024 > limit_kib:
        print(f'FAIL: {total / 1024:.1f} KiB left allocated by {cycles} '
              f'hot-plug cycles {where}, more than {limit_kib} KiB')
        return 1
    print(f'PASS: {total / 1024:+.1f} KiB {where} over {cycles} cycles '
          f'({total / cycles:+.0f} B per cycle)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
