#!/usr/bin/env python3
"""Seed inputs for the generic-fuzz campaigns of scripts/fuzz.

generic-fuzz reads its input as commands separated by "FUZZ" (the first
byte of each picks the op: tests/qtest/fuzz/generic_fuzz.c).  A random start
would spend a short campaign finding the register sequences that reach our
code at all (ECAM on, a root port's buses, the invalidation queue enabled,
the PHB's indirect config access), so each campaign starts from a few inputs
that do what firmware and a driver do; libFuzzer mutates from there.

  seeds.py CAMPAIGN DIR      write CAMPAIGN's seeds into DIR (seed-*)
"""

import os
import struct
import sys

SEP = b"FUZZ"
OP_READ, OP_WRITE, OP_PCI_READ, OP_PCI_WRITE = 2, 3, 4, 5
OP_ADD_DMA_PATTERN, OP_CLOCK_STEP = 7, 9
B, W, L, Q = 0, 1, 2, 3               # generic-fuzz's access sizes


def mmio_w(region, off, size, val):
    """op_write: {u8 size; u8 base; u32 offset; u64 value} (C layout)."""
    return bytes([OP_WRITE]) + struct.pack("<BB2xIQ", size, region, off, val)


def mmio_r(region, off, size):
    """op_read: {u8 size; u8 base; u32 offset}."""
    return bytes([OP_READ]) + struct.pack("<BB2xI", size, region, off)


def pci_w(dev, off, size, val):
    """op_pci_write: {u8 size; u8 base; u8 offset; u32 value}; CF8/CFC."""
    return bytes([OP_PCI_WRITE]) + struct.pack("<BBBxI", size, dev, off, val)


def pci_r(dev, off, size):
    """op_pci_read: {u8 size; u8 base; u8 offset}; CF8/CFC."""
    return bytes([OP_PCI_READ]) + struct.pack("<BBB", size, dev, off)


def dma(data):
    """op_add_dma_pattern: what the device reads from guest memory."""
    return bytes([OP_ADD_DMA_PATTERN]) + struct.pack("<BB", 0, 0) + data


def clock(steps=1):
    """@steps op_clock_step: virtual time moves on."""
    return [bytes([OP_CLOCK_STEP])] * steps


# ------------------------------------------------------------------ vtd-qi
# Objects: mch (PCI device 0: PCIEXBAR), then MMIO region 0 = ECAM
# (0xb0000000, once on), region 1 = the VT-d registers (0xfed90000).
ECAM, VTD = 0, 1
RP_CFG, EP_CFG = 3 << 15, 1 << 20      # 00:03.0, 01:00.0 in ECAM
EP_SID = 0x0100
IQ, STATUS = 0x200000, 0x300000


def desc_devtlb(sid, addr=0, size_bit=0):
    """A device-TLB invalidate descriptor for requester @sid."""
    return struct.pack("<QQ", 0x3 | sid << 32, addr | size_bit)


def desc_wait(token, status=STATUS):
    """An invalidation wait descriptor writing @token to @status."""
    return struct.pack("<QQ", 0x5 | 1 << 5 | token << 32, status)


def desc_iotlb_global():
    """A global IOTLB invalidate descriptor."""
    return struct.pack("<QQ", 0x2 | 1 << 4, 0)


def vtd_setup(ats=True):
    """What firmware and the OS do before they queue invalidations: ECAM
    on, the root port's buses, the endpoint's decode (and, with @ats, its
    ATS enabled), the fault and invalidation event MSIs unmasked, IQA, QIE
    on."""
    cmds = [pci_w(0, 0x60, L, 0xb0000001), pci_w(0, 0x64, L, 0),
            mmio_w(ECAM, RP_CFG + 0x18, L, 0x00010100),
            mmio_w(ECAM, RP_CFG + 0x04, W, 0x0006),
            mmio_w(ECAM, EP_CFG + 0x04, W, 0x0006)]
    if ats:
        cmds.append(mmio_w(ECAM, EP_CFG + 0x106, W, 0x8000))
    cmds += [mmio_w(VTD, 0x3c, L, 0x4021), mmio_w(VTD, 0x40, L, 0xfee00000),
             mmio_w(VTD, 0xa4, L, 0x4022), mmio_w(VTD, 0xa8, L, 0xfee00000),
             mmio_w(VTD, 0x38, L, 0), mmio_w(VTD, 0xa0, L, 0),
             mmio_w(VTD, 0x90, Q, IQ), mmio_w(VTD, 0x18, L, 1 << 26)]
    return cmds


def vtd_submit(descs, tail):
    """The descriptors in the queue, IQT moved to @tail, then FSTS, IQH and
    IECTL read back."""
    return ([dma(b"".join(descs)), mmio_w(VTD, 0x88, Q, tail << 4)] +
            clock(3) +
            [mmio_r(VTD, 0x34, L), mmio_r(VTD, 0x80, Q), mmio_r(VTD, 0x9c, L)])


def vtd_qi():
    """The vtd-qi campaign's seeds."""
    devtlb_wait = [desc_devtlb(EP_SID), desc_wait(1)]
    nosid = [desc_devtlb(0x4242), desc_iotlb_global(), desc_wait(2)]
    iqe_ack = [mmio_w(VTD, 0x34, L, 0x10), mmio_w(VTD, 0x88, Q, 0)]
    qie_toggle = [mmio_w(VTD, 0x18, L, 0), mmio_w(VTD, 0x18, L, 1 << 26),
                  mmio_w(VTD, 0x88, Q, 255 << 4)]
    return {
        # device-TLB invalidation for the ATS endpoint, then a wait
        "devtlb-wait": vtd_setup() + vtd_submit(devtlb_wait, 2),
        # the endpoint without ATS enabled: the engine's no-answer path
        "devtlb-no-ats": (vtd_setup(ats=False) +
                          vtd_submit([desc_devtlb(EP_SID)], 1) + clock(5)),
        # a requester id nobody has, and a global IOTLB invalidation
        "devtlb-nosid": vtd_setup() + vtd_submit(nosid, 3),
        # an invalid descriptor type (IQE), then the error acknowledged
        "iqe": (vtd_setup() + vtd_submit([struct.pack("<QQ", 0xf, 0)], 1) +
                iqe_ack),
        # the queue turned off and on again with work in it, and wrapped
        "qie-toggle": (vtd_setup() +
                       vtd_submit([desc_devtlb(EP_SID), desc_wait(3)], 2) +
                       qie_toggle + clock(4)),
    }


# ------------------------------------------------------------------ q35-slot
# Objects: pcie-root-port (PCI device 0); its PCIe capability at 0x54.
EXP = 0x54
SLTCTL, SLTSTA, LNKCTL = EXP + 0x18, EXP + 0x1a, EXP + 0x10
PCC, DLLSCE, PFDE, HPIE, PDCE, ABPE, CCIE = (0x400, 0x1000, 0x2, 0x20, 0x8,
                                             0x1, 0x10)


def slot_setup():
    """The root port's buses, memory decode, the slot's notifications."""
    return [pci_w(0, 0x18, L, 0x00010100), pci_w(0, 0x04, W, 0x0006),
            pci_w(0, SLTCTL, W, DLLSCE | PFDE | HPIE | ABPE | CCIE | 0x140)]


def q35_slot():
    """The q35-slot campaign's seeds."""
    events = DLLSCE | PFDE | HPIE
    return {
        # power off and on with every notification on (our PFD/DLLSC events)
        "power-cycle": (slot_setup() +
                        [pci_w(0, SLTCTL, W, events | PCC | 0x3c0)] +
                        clock(3) +
                        [pci_r(0, SLTSTA, W), pci_w(0, SLTSTA, W, 0x1ff),
                         pci_w(0, SLTCTL, W, events | 0x140)] +
                        clock(3) + [pci_r(0, SLTSTA, W)]),
        # link disable / retrain on the port
        "link": (slot_setup() + [pci_w(0, LNKCTL, W, 0x10)] + clock(2) +
                 [pci_w(0, LNKCTL, W, 0x20)] + clock(2) +
                 [pci_r(0, EXP + 0x12, W)]),
        # notifications off (the base's three events only)
        "quiet": ([pci_w(0, 0x18, L, 0x00010100),
                   pci_w(0, SLTCTL, W, PCC | 0x3c0)] + clock(2) +
                  [pci_w(0, SLTCTL, W, 0x140), pci_r(0, SLTSTA, W)]),
    }


# ---------------------------------------------------------------- pnv-phb-slot
# Objects: chip 0's XSCOM window (MMIO region 0; offset = PCB address << 3
# on POWER9/10).  PHB 1 of a powernv10 (PEC 0, stack 1): its registers
# through the HV indirect SCOM pair, among them the root complex config
# window (PHB_RC_CONFIG_BASE), the PHB's config access to the root port and
# so to its slot registers (as tests/qtest/pnv-phb-slot-test.c reaches them).
P10_PHB1_PCBA = 0x08010800 + 0x100 + 0x40
HV_IND_ADDR, HV_IND_DATA = 0, 1
IND_VALID, IND_4B = 1 << 63, 1 << 62
PHB_RC_CONFIG_BASE = 0x1000
PNV_EXP = 0x48                         # the root port's PCIe capability


def phb_ind(reg, four):
    """PHB_SCOM_HV_IND_ADDR: the PHB register @reg, @four-byte access."""
    return mmio_w(0, (P10_PHB1_PCBA + HV_IND_ADDR) << 3, Q,
                  IND_VALID | (IND_4B if four else 0) | reg)


def rc_w(off, val):
    """Root port config dword write: little-endian data swapped into the
    low 32 bits of the SCOM data."""
    swapped = int.from_bytes(struct.pack("<I", val), "big")
    return [phb_ind(PHB_RC_CONFIG_BASE + off, True),
            mmio_w(0, (P10_PHB1_PCBA + HV_IND_DATA) << 3, Q, swapped)]


def rc_r(off):
    """A root port config dword read through the PHB's indirect
    access."""
    return [phb_ind(PHB_RC_CONFIG_BASE + off, True),
            mmio_r(0, (P10_PHB1_PCBA + HV_IND_DATA) << 3, Q)]


def pnv_phb_slot():
    """The pnv-phb-slot campaign's seeds."""
    sltctl = PNV_EXP + 0x18           # dword: SLTCTL low, SLTSTA high
    lnkctl = PNV_EXP + 0x10
    return {
        "events-on": rc_w(0x18, 0x00010100) + rc_w(0x04, 0x0006) +
        rc_w(sltctl, DLLSCE | PFDE | HPIE | PDCE | CCIE | 0x140) +
        clock(2) + rc_r(sltctl),
        "power-cycle": rc_w(0x18, 0x00010100) +
        rc_w(sltctl, DLLSCE | PFDE | HPIE | PCC | 0x3c0) + clock(3) +
        rc_r(sltctl) + rc_w(sltctl, 0x1ff << 16 | DLLSCE | PFDE | 0x140) +
        clock(3) + rc_r(sltctl),
        "link": rc_w(0x18, 0x00010100) + rc_w(lnkctl, 0x10) + clock(2) +
        rc_w(lnkctl, 0x20) + clock(2) + rc_r(lnkctl),
    }


def main():
    """seeds.py CAMPAIGN DIR."""
    name, out = sys.argv[1], sys.argv[2]
    seeds = {"vtd-qi": vtd_qi, "q35-slot": q35_slot,
             "pnv-phb-slot": pnv_phb_slot}.get(name)
    if seeds is None:
        return 0                    # no seeds: libFuzzer starts empty
    os.makedirs(out, exist_ok=True)
    for seed, cmds in seeds().items():
        with open(os.path.join(out, f"seed-{seed}"), "wb") as seed_file:
            seed_file.write(SEP.join(cmds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
