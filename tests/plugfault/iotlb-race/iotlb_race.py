#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Copyright (c) 2026 plugfault developers
"""iotlb-race: MMIO through a TLB entry filled before a memory-map commit.

The deterministic reproducer of the base's
"iotlb_to_section: Assertion `section_index < d->map.sections_nb' failed"
(seen once in ~22 runs of pnv-strict-removal).  QEMU 10.0.13's cputlb keeps
only a section *number* in a TLB entry and resolves it, at access time,
against whatever map the AddressSpace has published then; after a commit
publishes a new map and before the vCPU has run the TLB flush the commit
queued, that number indexes the wrong map: another region (a misrouted
access) or past its end (the abort).

The guest (guest.c, a bare multiboot program) keeps TLB entries to MMIO
pages above a probe region and reads one of them (its command line says
which: a run boots the guest once per page) after stretches of RAM-only work;
the host takes the probe (x-memory-commit-stall) out of the memory map and
puts it back, and the same device holds every such commit open for
--delay-ms after the vCPU's map was switched, so each change opens the
window wide.  A run passes when QEMU is still alive, the guest saw no
misrouted read, no access reached the probe while it was out of the map,
and every change was held.  With the trace point of the fix
(tlb_io_stale_map), a run also counts the accesses that met the window
and were routed by the current map; on a loaded host a batch of changes
may see none, so a run makes up to --max-batches batches and fails when
none did: a test that never opened the window tested nothing.

Exit status: 0 all runs clean, 1 a run failed, 2 set-up error.
"""

import argparse
import os
import re
import sys
import time

STATUS_ADDR = 0x10000
STATUS_MAGIC = 0x10b1ace


class RunFailed(Exception):
    """A run found a fault (or did not test)."""


def guest_status(qvm):
    """The guest's status words, read with xp."""
    out = qvm.cmd('human-monitor-command',
                  command_line=f'xp /6wx {STATUS_ADDR:#x}')
    words = [int(w, 16) for w in re.findall(r'0x([0-9a-f]{8})', out)]
    if len(words) != 6:
        raise RunFailed(f'cannot read the guest status: {out!r}')
    return {'magic': words[0], 'loops': words[1], 'bad_ioapic': words[2],
            'bad_value': words[3], 'bad_probe': words[4], 'mode': words[5]}


def wait_for(qvm, what, cond, timeout):
    """Poll the guest's status (it has no way to send an event) until
    cond(status) holds; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        status = guest_status(qvm)
        if cond(status):
            return status
        if time.monotonic() > deadline:
            raise RunFailed(f'{what} within {timeout:.0f} s: status {status}')
        time.sleep(0.002)


MODES = ('ioapic', 'probe', 'notify')


def toggle(qvm, args, status, first):
    """Take the probe out of the map and put it back, args.toggles times;
    check after each removal that nothing was misrouted.  The guest's
    status after the last change."""
    stall = '/machine/peripheral/stall'
    for i in range(first, first + args.toggles):
        for mapped in (False, True):
            loops = status['loops']
            qvm.cmd('qom-set', path=stall, property='probe-mapped',
                    value=mapped)
            # three loop iterations: each of the three MMIO reads once
            status = wait_for(qvm, f'guest made no progress after probe '
                              f'change {2 * i + 1 + mapped}',
                              lambda s, n=loops: s['loops'] >= n + 3, 10)
        if status['bad_ioapic']:
            raise RunFailed(f'misrouted MMIO read after probe removal '
                            f'{i + 1}: {status["bad_ioapic"]} read(s), last '
                            f'0x{status["bad_value"]:08x} where the IOAPIC '
                            f'register select reads 1')
        if status['bad_probe']:
            raise RunFailed(f'the probe read neither its value nor '
                            f'unassigned after removal {i + 1}')
        stale = qvm.cmd('qom-get', path=stall,
                        property='stale-probe-accesses')
        if stale:
            raise RunFailed(f'{stale} access(es) reached the probe while it '
                            f'was out of the map (removal {i + 1}): a stale '
                            f'TLB entry routed them by the old map')
    return status


def count_met(trace_log):
    """Accesses that met a commit window (the fix's trace point)."""
    try:
        with open(trace_log, encoding='utf-8', errors='replace') as log:
            return sum(1 for line in log if 'tlb_io_stale_map' in line)
    except FileNotFoundError:
        return 0


def one_run(args, run_no, mode):  # pylint: disable=too-many-locals
    """One QEMU, one guest mode: batches of map changes."""
    # pylint: disable=import-outside-toplevel
    from qemu.machine import QEMUMachine  # the base's python/qemu
    from qemu.qmp import ExecuteError

    name = f'iotlb-race-{os.getpid()}-{run_no}-{mode}'
    qvm = QEMUMachine(args.qemu, name=name, base_temp_dir=args.tmpdir)
    trace_log = os.path.join(qvm.temp_dir, name + '-trace.log')
    qvm.set_machine('q35')
    qvm.add_args('-accel', 'tcg', '-m', '256M', '-smp', '1', '-nic', 'none',
                 '-display', 'none', '-serial', 'none',
                 '-kernel', args.guest, '-append', mode,
                 '-trace', 'enable=tlb_io_stale_map', '-D', trace_log,
                 '-device', 'virtio-net-pci,addr=4,disable-legacy=on',
                 '-device',
                 'x-memory-commit-stall,id=stall,probe-addr=0xfe000000')
    if args.firmware:
        qvm.add_args('-L', args.firmware)
    qvm.launch()
    stopped = False
    try:
        status = wait_for(
            qvm, 'guest did not start',
            lambda s: s['magic'] == STATUS_MAGIC and s['loops'] > 0, 30)
        if status['mode'] != MODES.index(mode) + 1:
            raise RunFailed(f'the guest reads page {status["mode"]}, '
                            f'not {mode}')
        # a build without the fix has no trace point: the window is not seen
        try:
            traced = bool(qvm.cmd('trace-event-get-state',
                                  name='tlb_io_stale_map'))
        except ExecuteError:            # 'unknown event'
            traced = False
        qvm.cmd('qom-set', path='/machine/peripheral/stall',
                property='delay-ms', value=args.delay_ms)
        # Whether the vCPU reaches its MMIO read inside a held commit depends
        # on the host's scheduling: on a loaded host it can miss every window
        # of a batch.  More batches, up to a bound, until one access met one.
        changes = 0
        for batch in range(args.max_batches):
            status = toggle(qvm, args, status, batch * args.toggles)
            changes += 2 * args.toggles
            if not traced or count_met(trace_log):
                break
        stalls = qvm.cmd('qom-get', path='/machine/peripheral/stall',
                         property='stalls')
        if stalls < changes:
            raise RunFailed(f'only {stalls} of {changes} map changes were '
                            f'held open: the test did not test')
        met = count_met(trace_log) if traced else None
        qvm.shutdown()                  # (removes vm.temp_dir, the trace log)
        stopped = True
        if traced and not met:
            raise RunFailed(f'no {mode} access met a commit window in '
                            f'{changes} changes: the test did not test')
        return (f'{mode}: {changes} map changes held, '
                f'{"?" if met is None else met} access(es) in the window, '
                f'{status["loops"]} guest loops')
    # QEMU gone is the failure we look for
    except Exception as exc:  # noqa: BLE001 pylint: disable=broad-except
        if not stopped and not qvm.is_running():
            qvm.wait(timeout=10)
            log = (qvm.get_log() or '').strip().splitlines()
            raise RunFailed(f'QEMU exited ({qvm.exitcode()}) while the test '
                            f'was at: {exc}; its last output: '
                            f'{log[-1] if log else "none"}') from exc
        raise
    finally:
        if qvm.is_running():
            qvm.shutdown(hard=True)


def main():
    """Runs of the three modes; the exit status."""
    argp = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    argp.add_argument('--qemu', required=True, help='qemu-system-x86_64')
    argp.add_argument('--guest', required=True, help='iotlb-race-guest.elf')
    argp.add_argument('--firmware',
                      help='-L directory (SeaBIOS, multiboot ROM)')
    argp.add_argument('--runs', type=int, default=1)
    argp.add_argument('--toggles', type=int, default=20)
    argp.add_argument('--delay-ms', type=int, default=20)
    argp.add_argument('--max-batches', type=int, default=5,
                      help='batches of --toggles changes until an access met '
                      'a window')
    argp.add_argument('--tmpdir', default=None)
    args = argp.parse_args()
    for path in (args.qemu, args.guest):
        if not os.path.exists(path):
            print(f'iotlb-race: error: {path} does not exist', file=sys.stderr)
            return 2
    clean = 0
    t_start = time.monotonic()
    for num in range(1, args.runs + 1):
        details = []
        for mode in MODES:
            try:
                details.append(one_run(args, num, mode))
            except RunFailed as exc:
                print(f'run {num}: FAIL ({mode}): {exc}', flush=True)
                print(f'iotlb-race: {clean} clean run(s) before the first '
                      'failure')
                return 1
        clean += 1
        if args.runs <= 5 or num % 50 == 0 or num == args.runs:
            print(f'run {num}: ok ({"; ".join(details)})', flush=True)
    print(f'iotlb-race: {clean} of {args.runs} run(s) clean in '
          f'{time.monotonic() - t_start:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
