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
and were routed by the current map, and fails when none did: a test that
never opened the window tested nothing.

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
    pass


def guest_status(vm):
    out = vm.cmd('human-monitor-command',
                 command_line=f'xp /6wx {STATUS_ADDR:#x}')
    words = [int(w, 16) for w in re.findall(r'0x([0-9a-f]{8})', out)]
    if len(words) != 6:
        raise RunFailed(f'cannot read the guest status: {out!r}')
    return {'magic': words[0], 'loops': words[1], 'bad_ioapic': words[2],
            'bad_value': words[3], 'bad_probe': words[4], 'mode': words[5]}


def wait_for(vm, what, cond, timeout):
    """Poll the guest's status (it has no way to send an event) until
    cond(status) holds; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        st = guest_status(vm)
        if cond(st):
            return st
        if time.monotonic() > deadline:
            raise RunFailed(f'{what} within {timeout:.0f} s: status {st}')
        time.sleep(0.002)


MODES = ('ioapic', 'probe', 'notify')


def one_run(args, run_no, mode):
    from qemu.machine import QEMUMachine  # the base's python/qemu

    vm = QEMUMachine(args.qemu, name=f'iotlb-race-{os.getpid()}-{run_no}-{mode}',
                     base_temp_dir=args.tmpdir)
    vm.set_machine('q35')
    vm.add_args('-accel', 'tcg', '-m', '256M', '-smp', '1', '-nic', 'none',
                '-display', 'none', '-serial', 'none',
                '-kernel', args.guest, '-append', mode,
                '-trace', 'enable=tlb_io_stale_map',
                '-device', 'virtio-net-pci,addr=4,disable-legacy=on',
                '-device', 'x-memory-commit-stall,id=stall,probe-addr=0xfe000000')
    if args.firmware:
        vm.add_args('-L', args.firmware)
    vm.launch()
    try:
        st = wait_for(vm, 'guest did not start', lambda s: s['magic'] == STATUS_MAGIC
                      and s['loops'] > 0, 30)
        if st['mode'] != MODES.index(mode) + 1:
            raise RunFailed(f'the guest reads page {st["mode"]}, not {mode}')
        vm.cmd('qom-set', path='/machine/peripheral/stall',
               property='delay-ms', value=args.delay_ms)
        stall = '/machine/peripheral/stall'
        for i in range(args.toggles):
            for mapped in (False, True):
                loops = st['loops']
                vm.cmd('qom-set', path=stall, property='probe-mapped', value=mapped)
                # three loop iterations: each of the three MMIO reads once
                st = wait_for(vm, f'guest made no progress after probe change '
                              f'{2 * i + 1 + mapped}', lambda s: s['loops'] >= loops + 3, 10)
            if st['bad_ioapic']:
                raise RunFailed(f'misrouted MMIO read after probe removal {i + 1}: '
                                f'{st["bad_ioapic"]} read(s), last 0x{st["bad_value"]:08x} '
                                f'where the IOAPIC register select reads 1')
            if st['bad_probe']:
                raise RunFailed(f'the probe read neither its value nor unassigned '
                                f'after removal {i + 1}')
            stale = vm.cmd('qom-get', path=stall, property='stale-probe-accesses')
            if stale:
                raise RunFailed(f'{stale} access(es) reached the probe while it was '
                                f'out of the map (removal {i + 1}): a stale TLB '
                                f'entry routed them by the old map')
        stalls = vm.cmd('qom-get', path=stall, property='stalls')
        if stalls < 2 * args.toggles:
            raise RunFailed(f'only {stalls} of {2 * args.toggles} map changes were '
                            f'held open: the test did not test')
        vm.shutdown()
        log = vm.get_log() or ''
        if "'tlb_io_stale_map' does not exist" in log:
            met = None                  # a build without the fix's trace point
        else:
            met = log.count('tlb_io_stale_map')
            if not met:
                raise RunFailed(f'no {mode} access met a commit window in '
                                f'{2 * args.toggles} changes: the test did not test')
        return (f'{mode}: {2 * args.toggles} map changes held, '
                f'{"?" if met is None else met} access(es) in the window, '
                f'{st["loops"]} guest loops')
    except Exception as e:  # noqa: BLE001 -- QEMU gone is the failure we look for
        if not vm.is_running():
            vm.wait(timeout=10)
            log = (vm.get_log() or '').strip().splitlines()
            raise RunFailed(f'QEMU exited ({vm.exitcode}): '
                            f'{log[-1] if log else "no output"}') from e
        raise
    finally:
        if vm.is_running():
            vm.shutdown(hard=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--qemu', required=True, help='qemu-system-x86_64')
    ap.add_argument('--guest', required=True, help='iotlb-race-guest.elf')
    ap.add_argument('--firmware', help='-L directory (SeaBIOS, multiboot ROM)')
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--toggles', type=int, default=20)
    ap.add_argument('--delay-ms', type=int, default=20)
    ap.add_argument('--tmpdir', default=None)
    args = ap.parse_args()
    for path in (args.qemu, args.guest):
        if not os.path.exists(path):
            print(f'iotlb-race: error: {path} does not exist', file=sys.stderr)
            return 2
    clean = 0
    t0 = time.monotonic()
    for n in range(1, args.runs + 1):
        details = []
        for mode in MODES:
            try:
                details.append(one_run(args, n, mode))
            except RunFailed as e:
                print(f'run {n}: FAIL ({mode}): {e}', flush=True)
                print(f'iotlb-race: {clean} clean run(s) before the first failure')
                return 1
        clean += 1
        if args.runs <= 5 or n % 50 == 0 or n == args.runs:
            print(f'run {n}: ok ({"; ".join(details)})', flush=True)
    print(f'iotlb-race: {clean} of {args.runs} run(s) clean in '
          f'{time.monotonic() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
