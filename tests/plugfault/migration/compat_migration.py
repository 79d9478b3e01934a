#!/usr/bin/env python3
"""Migration between the untouched base and ours: q35 + intel-iommu + a
pcie-root-port with an ATS endpoint, no guest OS.

Both sides run under -accel qtest (the base's python/qemu QEMUQtestMachine);
the "guest" is this script, programming the devices through the qtest
protocol the way firmware and Linux do: ECAM on, bus numbers and windows of
the root port, the endpoint's BAR, memory decoding, bus mastering and ATS;
the slot's control register as pciehp writes it; VT-d root table, queued
invalidation (a device-TLB invalidation for the endpoint and a wait
descriptor, which must both complete), fault-event registers, translation
on.  Then it migrates over a unix socket (-incoming defer +
migrate-incoming) and checks that the destination runs and that what the
source's devices showed (their config spaces, the VT-d registers,
query-pci) is what the destination's show, and that the queue still works
there.

  compat_migration.py --src BINARY --dst BINARY [--src-arg A] [--dst-arg A]

exit 0: migrated and the state matches; 1: it did not (reason on stderr).
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile

from qemu.machine.qtest import QEMUQtestMachine

ECAM = 0xb0000000
VTD = 0xfed90000
RP = (0, 3, 0)           # pcie-root-port at 00:03.0
EP = (1, 0, 0)           # the endpoint behind it
EP_SID = 0x0100
RT_ADDR, IQ_ADDR, STATUS_ADDR = 0x100000, 0x200000, 0x300000
BAR_BASE = 0xc0000000

# VT-d registers (offset, size) compared across the migration
VTD_REGS = {"GSTS": (0x1c, 4), "RTADDR": (0x20, 8), "FSTS": (0x34, 4),
            "FECTL": (0x38, 4), "FEDATA": (0x3c, 4), "FEADDR": (0x40, 4),
            "IQH": (0x80, 8), "IQT": (0x88, 8), "IQA": (0x90, 8),
            "ICS": (0x9c, 4), "IECTL": (0xa0, 4), "IEDATA": (0xa4, 4),
            "IEADDR": (0xa8, 4)}
SLTCAP_ABP = 0x1
SLTCTL_ABPE, SLTCTL_PFDE, SLTCTL_MRLSCE, SLTCTL_PDCE = 0x1, 0x2, 0x4, 0x8
SLTCTL_CCIE, SLTCTL_HPIE, SLTCTL_DLLSCE = 0x10, 0x20, 0x1000
GCMD_TE, GCMD_SRTP, GCMD_QIE = 1 << 31, 1 << 30, 1 << 26

MACHINE = ["-M", "pc-q35-10.0", "-nodefaults", "-display", "none", "-m", "128M",
           "-device", "intel-iommu,id=iommu,device-iotlb=on",
           "-device", "pcie-root-port,id=rp1,bus=pcie.0,addr=0x3,chassis=1,slot=1",
           "-device", "virtio-net-pci,id=nic1,bus=rp1,disable-legacy=on,"
                      "iommu_platform=on,ats=on,romfile="]


class Fail(Exception):
    pass


class Guest:
    """Register access through one machine's qtest socket."""

    def __init__(self, vm):
        self.vm = vm

    def _cmd(self, cmd):
        r = self.vm.qtest(cmd)
        if not r.startswith("OK"):
            raise Fail(f"qtest '{cmd}': {r}")
        return r

    def read(self, addr, size):
        return int(self._cmd(f"read{'bwlq'[size.bit_length() - 1]} 0x{addr:x}").split()[1], 16)

    def write(self, addr, size, val):
        self._cmd(f"write{'bwlq'[size.bit_length() - 1]} 0x{addr:x} 0x{val:x}")

    @staticmethod
    def cfg_addr(bdf, reg):
        bus, dev, fn = bdf
        return ECAM + (bus << 20 | dev << 15 | fn << 12 | reg)

    def cfg_read(self, bdf, reg, size):
        return self.read(self.cfg_addr(bdf, reg), size)

    def cfg_write(self, bdf, reg, size, val):
        self.write(self.cfg_addr(bdf, reg), size, val)

    def config_space(self, bdf):
        return [self.cfg_read(bdf, off, 4) for off in range(0, 4096, 4)]

    def find_cap(self, bdf, cap_id):
        pos = self.cfg_read(bdf, 0x34, 1)
        while pos:
            if self.cfg_read(bdf, pos, 1) == cap_id:
                return pos
            pos = self.cfg_read(bdf, pos + 1, 1)
        raise Fail(f"{bdf}: no capability 0x{cap_id:x}")

    def find_ext_cap(self, bdf, cap_id):
        pos = 0x100
        while pos:
            hdr = self.cfg_read(bdf, pos, 4)
            if hdr & 0xffff == cap_id:
                return pos
            pos = hdr >> 20
        raise Fail(f"{bdf}: no extended capability 0x{cap_id:x}")

    def vtd(self, name):
        off, size = VTD_REGS[name]
        return self.read(VTD + off, size)

    def vtd_regs(self):
        return {n: self.vtd(n) for n in VTD_REGS}

    def wait_for(self, what, cond, steps=100):
        for _ in range(steps):
            if cond():
                return
            self._cmd("clock_step 1000000")      # 1 ms of virtual time
        raise Fail(f"timed out waiting for {what}")


def program(g):
    """What firmware and the guest's drivers would have done."""
    # ECAM at 0xb0000000, 256 buses (MCH PCIEXBAR, through CF8/CFC)
    g.vm.qtest("outl 0xcf8 0x80000060")
    g.vm.qtest(f"outl 0xcfc 0x{ECAM | 1:x}")
    g.vm.qtest("outl 0xcf8 0x80000064")
    g.vm.qtest("outl 0xcfc 0x0")
    # root port: buses, a memory window, decoding and mastering
    g.cfg_write(RP, 0x18, 4, 0x00010100)                 # sub 1, sec 1, pri 0
    g.cfg_write(RP, 0x20, 4, (BAR_BASE >> 16) | ((BAR_BASE + 0xfffff) & 0xfff00000))
    g.cfg_write(RP, 0x04, 2, 0x0006)
    # slot control as Linux pciehp's pcie_enable_notification() writes it
    exp = g.find_cap(RP, 0x10)
    sltcap = g.cfg_read(RP, exp + 0x14, 4)
    # (DLLSCE always; ABPE with an attention button, else PDCE; HPIE, CCIE;
    # PFDE stays clear: pciehp does not enable power-fault notification)
    cmd = SLTCTL_DLLSCE | SLTCTL_HPIE | SLTCTL_CCIE
    cmd |= SLTCTL_ABPE if sltcap & SLTCAP_ABP else SLTCTL_PDCE
    mask = (SLTCTL_PDCE | SLTCTL_ABPE | SLTCTL_PFDE | SLTCTL_MRLSCE | SLTCTL_CCIE
            | SLTCTL_HPIE | SLTCTL_DLLSCE)
    sltctl = g.cfg_read(RP, exp + 0x18, 2)
    g.cfg_write(RP, exp + 0x18, 2, (sltctl & ~mask) | cmd)
    # endpoint: a 64-bit BAR, decoding, mastering, ATS on
    for bar in range(0x10, 0x28, 4):
        g.cfg_write(EP, bar, 4, 0xffffffff)
        size = g.cfg_read(EP, bar, 4)
        if size and size & 1 == 0 and size & 0x6 == 0x4:  # 64-bit memory BAR
            g.cfg_write(EP, bar, 4, BAR_BASE)
            g.cfg_write(EP, bar + 4, 4, 0)
            break
        g.cfg_write(EP, bar, 4, 0)
    g.cfg_write(EP, 0x04, 2, 0x0006)
    ats = g.find_ext_cap(EP, 0x000f)
    g.cfg_write(EP, ats + 6, 2, 0x8000)
    # VT-d: fault event registers, root table, queued invalidation, translation
    g.write(VTD + 0x3c, 4, 0x4021)
    g.write(VTD + 0x40, 4, 0xfee00000)
    g.write(VTD + 0xa4, 4, 0x4022)
    g.write(VTD + 0xa8, 4, 0xfee00000)
    g.write(VTD + 0x38, 4, 0)                             # FECTL: unmask
    g.write(VTD + 0x20, 8, RT_ADDR)
    g.write(VTD + 0x18, 4, GCMD_SRTP)
    g.wait_for("root table pointer", lambda: g.vtd("GSTS") & (1 << 30))
    g.write(VTD + 0x90, 8, IQ_ADDR)                       # 256 descriptors
    g.write(VTD + 0x18, 4, GCMD_QIE)
    g.wait_for("queued invalidation", lambda: g.vtd("GSTS") & GCMD_QIE)
    g.write(VTD + 0x18, 4, GCMD_QIE | GCMD_TE)
    g.wait_for("translation", lambda: g.vtd("GSTS") & GCMD_TE)
    queue_round(g, 0, 0x1234)


def queue_round(g, index, token):
    """A device-TLB invalidation for the endpoint, then a wait descriptor
    with a status write; both must complete (IQH reaches IQT)."""
    g.write(STATUS_ADDR, 4, 0)
    desc = IQ_ADDR + index * 16
    g.write(desc, 8, 0x3 | EP_SID << 32)                 # device-TLB, one page
    g.write(desc + 8, 8, 0x0)
    g.write(desc + 16, 8, 0x5 | 1 << 5 | token << 32)    # wait, status write
    g.write(desc + 24, 8, STATUS_ADDR)
    g.write(VTD + 0x88, 8, (index + 2) << 4)
    g.wait_for("the wait descriptor's status write",
               lambda: g.read(STATUS_ADDR, 4) == token)
    g.wait_for("IQH to reach IQT", lambda: g.vtd("IQH") == g.vtd("IQT"))
    if g.vtd("FSTS") & 0x70:
        raise Fail(f"queued invalidation error: FSTS 0x{g.vtd('FSTS'):x}")


def snapshot(vm):
    g = Guest(vm)
    pci = vm.cmd("query-pci")
    return {"rp": g.config_space(RP), "ep": g.config_space(EP),
            "host": g.config_space((0, 0, 0)), "vtd": g.vtd_regs(), "pci": pci}


def diff(a, b, where=""):
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            out += diff(a.get(k), b.get(k), f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{where}[{i}]")
    elif a != b:
        out.append(f"{where}: {a!r} -> {b!r}")
    return out


def dest_log(vm):
    if vm.is_running():
        return "running"
    try:
        vm.wait(timeout=10)
    except Exception:                          # pylint: disable=broad-except
        pass
    return " / ".join((vm.get_log() or "").strip().splitlines()[-6:]) or "(no output)"


def stop(vm):
    """Quit QEMU (kill it if that fails); its exit code."""
    try:
        vm.shutdown()
    except Exception:                          # pylint: disable=broad-except
        vm.kill()
    return vm.exitcode()


def run(src_bin, dst_bin, src_args, dst_args, tmp):
    """Migrate src -> dst; then both must quit with exit code 0.  An abort
    at exit (a sanitizer's report: LeakSanitizer runs at exit) fails the run,
    and QEMU's output goes to stderr, where make check-sanitizers counts it."""
    src = QEMUQtestMachine(src_bin, MACHINE + src_args, name="src", base_temp_dir=tmp)
    dst = QEMUQtestMachine(dst_bin, MACHINE + dst_args + ["-incoming", "defer"],
                           name="dst", base_temp_dir=tmp)
    try:
        state = migrate(src, dst, os.path.join(tmp, "mig.sock"))
    except BaseException:
        for vm in (dst, src):
            stop(vm)
        raise
    for vm, what in ((dst, "destination"), (src, "source")):
        code = stop(vm)
        if code != 0:
            sys.stderr.write(vm.get_log() or "")
            raise Fail(f"{what} exited with {code} when told to quit")
    return state


def migrate(src, dst, sock):
    """Program src, migrate it to dst, compare, use the queue on dst."""
    src.launch()
    dst.launch()
    program(Guest(src))
    before = snapshot(src)
    src.cmd("migrate-set-capabilities",
            capabilities=[{"capability": "events", "state": True}])
    dst.cmd("migrate-incoming", uri=f"unix:{sock}")
    src.cmd("migrate", uri=f"unix:{sock}")
    # the source's MIGRATION events (capability "events"), then the
    # destination's RESUME (it starts itself, -incoming without -S)
    try:
        ev = src.events_wait([("MIGRATION", {"data": {"status": st}})
                              for st in ("completed", "failed", "cancelled")],
                             timeout=60)
    except asyncio.TimeoutError as e:
        raise Fail(f"migration not done in 60 s: "
                   f"{src.cmd('query-migrate').get('status')}; "
                   f"destination: {dest_log(dst)}") from e
    if ev["data"]["status"] != "completed":
        err = src.cmd("query-migrate").get("error-desc", ev["data"]["status"])
        raise Fail(f"migration {ev['data']['status']}: {err}; "
                   f"destination: {dest_log(dst)}")
    try:
        dst.event_wait("RESUME", timeout=30)
    except asyncio.TimeoutError as e:
        raise Fail(f"destination not running after 30 s: "
                   f"{dst.cmd('query-status')['status']}") from e
    except Exception as e:                 # pylint: disable=broad-except
        raise Fail(f"destination gone ({e}): {dest_log(dst)}") from e
    after = snapshot(dst)
    d = diff(before, after)
    if d:
        raise Fail("state differs after migration:\n  " + "\n  ".join(d[:40]))
    queue_round(Guest(dst), 2, 0x5678)     # the queue still works there
    return before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--src-arg", action="append", default=[])
    ap.add_argument("--dst-arg", action="append", default=[])
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    for binary in (args.src, args.dst):
        if not os.access(binary, os.X_OK):
            print(f"compat-migration {args.name}: FAIL: no {binary} (the untouched base: "
                  "scripts/ref-build x86_64, which scripts/check runs)", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="pf-compat-mig-") as tmp:
        try:
            state = run(args.src, args.dst, args.src_arg, args.dst_arg, tmp)
        except Fail as e:
            print(f"compat-migration {args.name}: FAIL: {e}", file=sys.stderr)
            return 1
    print(f"compat-migration {args.name}: ok ({os.path.basename(args.src)} -> "
          f"{os.path.basename(args.dst)}; VT-d "
          + json.dumps({k: hex(v) for k, v in state['vtd'].items()}) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
