/*
 * Helpers for qtests of the PowerNV PHB4/PHB5 without firmware: PHB
 * registers and the root port over XSCOM, the PHB's MMIO windows mapped
 * as skiboot maps them, configuration space below the root port.
 * Shared by pnv-phb-slot-test.c and pnv-phb-eeh-test.c (header-only: each
 * test is one executable).
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_PNV_PHB4_QTEST_H
#define TESTS_QTEST_PNV_PHB4_QTEST_H

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"

#include "pnv-xscom.h"

/* pnv_phb4_regs.h expresses its bit fields in IBM (MSB 0) bit order */
#define PPC_BIT(bit)            (0x8000000000000000ULL >> (bit))
#define PPC_BITMASK(bs, be)     ((PPC_BIT(bs) - PPC_BIT(be)) | PPC_BIT(bs))
#include "hw/pci-host/pnv_phb4_regs.h"

/*
 * XSCOM layout of the PHB registers (see pnv_phb4_pec.c, the PNV9_/PNV10_
 * XSCOM_PEC_* constants of pnv_xscom.h and pnv_phb4_xscom_realize()):
 *
 *   PHB pass-through (HV indirect address/data, ...):
 *       pec_pci_base + PNV9_XSCOM_PEC_PCI_STK0 (0x100) + 0x40 * stack
 *   PEC nest stack registers (MMIO/INT BARs, BAR enable, ...):
 *       pec_nest_base + 0x40 * (stack + 1)
 *
 * POWER9:  pec_pci_base  = 0x0d010800 + 0x01000000 * pec
 *          pec_nest_base = 0x04010c00 + 0x400 * pec
 * POWER10: pec_pci_base  = 0x08010800 + 0x01000000 * pec
 *          pec_nest_base = 0x03011800 - 0x01000000 * pec
 *
 * POWER10 differs only in these bases: pnv_xscom_addr() maps a PCB
 * address the same way on both, and the PHB5 model is the PHB4 one
 * (same register file and RC window).
 *
 * PHB 1 is the first stack of PEC 1 on POWER9 (PEC0 has one stack) and
 * the second stack of PEC 0 on POWER10 (PEC0 has three).
 */
#define P9_PEC_PCI_BASE         0x0d010800u
#define P9_PEC_NEST_BASE        0x04010c00u
#define P9_PEC_NEST_STRIDE      0x400u
#define P10_PEC_PCI_BASE        0x08010800u
#define P10_PEC_NEST_BASE       0x03011800u
#define PEC_PCI_STRIDE          0x01000000u
#define PEC_PCI_STK0            0x100u
#define PEC_STK_STRIDE          0x40u
#define TEST_PHB_ID             1       /* also the root port's slot number */
#define TEST_BUS                "pcie.1"  /* secondary bus of that root port */

#define PHB4_VENDOR_ID          0x1014  /* PCI_VENDOR_ID_IBM */
#define PHB4_RP_DEVICE_ID       0x04c1  /* PNV_PHB4_DEVICE_ID */
#define PHB5_RP_DEVICE_ID       0x0652  /* PNV_PHB5_DEVICE_ID (pnv_phb.h) */
#define PHB4_VERSION            0x000000a400000002ull   /* PNV_PHB4_VERSION */
#define PHB5_VERSION            0x000000a500000002ull   /* PNV_PHB5_VERSION */

/* SLTCTL event enables: same bit positions as the SLTSTA event bits */
#define SLTCTL_EVENT_ENABLES    (PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PFDE | \
                                 PCI_EXP_SLTCTL_MRLSCE | \
                                 PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE)

/* Link training time: PCIE_LINK_TRAINING_NS (hw/pci/pcie_slot_link.h) */
#define LINK_TRAINING_NS        10000000

/* The MSI capability pnv_phb_slot_interrupts_init() adds to the root port */
#define RP_MSI_OFFSET           0x90

typedef struct PhbTarget {
    PnvChipType chip_type;
    uint32_t phb_pcba;          /* PHB pass-through: HV indirect regs */
    uint32_t nest_pcba;         /* PEC nest stack registers */
} PhbTarget;

static const PhbTarget p9_phb1 = {
    .chip_type = PNV_CHIP_POWER9,
    .phb_pcba  = P9_PEC_PCI_BASE + PEC_PCI_STRIDE * 1 + PEC_PCI_STK0 +
                 PEC_STK_STRIDE * 0,
    .nest_pcba = P9_PEC_NEST_BASE + P9_PEC_NEST_STRIDE * 1 +
                 PEC_STK_STRIDE * (0 + 1),
};

static const PhbTarget p10_phb1 = {
    .chip_type = PNV_CHIP_POWER10,
    .phb_pcba  = P10_PEC_PCI_BASE + PEC_PCI_STRIDE * 0 + PEC_PCI_STK0 +
                 PEC_STK_STRIDE * 1,
    .nest_pcba = P10_PEC_NEST_BASE - PEC_PCI_STRIDE * 0 +
                 PEC_STK_STRIDE * (1 + 1),
};

static inline const PnvChip *pnv_chip(PnvChipType type)
{
    for (size_t i = 0; i < ARRAY_SIZE(pnv_chips); i++) {
        if (pnv_chips[i].chip_type == type) {
            return &pnv_chips[i];
        }
    }
    g_assert_not_reached();
}

static inline uint64_t t_phb_xscom_addr(const PhbTarget *t, uint32_t reg)
{
    return pnv_xscom_addr(pnv_chip(t->chip_type), t->phb_pcba + reg);
}

static inline uint64_t t_nest_xscom_addr(const PhbTarget *t, uint32_t reg)
{
    return pnv_xscom_addr(pnv_chip(t->chip_type), t->nest_pcba + reg);
}

/* Point the HV indirect window at a 4- or 8-byte PHB register */
static inline void t_phb_ind_select(QTestState *qts, const PhbTarget *t,
                                    uint32_t offset, bool four_bytes)
{
    uint64_t ind = PHB_SCOM_HV_IND_ADDR_VALID |
                   (four_bytes ? PHB_SCOM_HV_IND_ADDR_4B : 0) |
                   (offset & PHB_SCOM_HV_IND_ADDR_ADDR);

    qtest_writeq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_ADDR), ind);
}

/* 64-bit PHB registers (pnv_phb4_reg_read/write) */
static inline uint64_t t_phb_readq(QTestState *qts, const PhbTarget *t,
                                   uint32_t off)
{
    t_phb_ind_select(qts, t, off, false);
    return qtest_readq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA));
}

static inline void t_phb_writeq(QTestState *qts, const PhbTarget *t,
                                uint32_t off, uint64_t val)
{
    t_phb_ind_select(qts, t, off, false);
    qtest_writeq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA), val);
}

/*
 * Root port configuration space accesses.  The RC window only takes
 * 4-byte accesses and carries the little-endian config dword swapped
 * into the low 32 bits of the XSCOM data.
 */
static inline uint32_t t_rp_config_readl(QTestState *qts, const PhbTarget *t,
                                         uint32_t off)
{
    uint64_t data;

    g_assert_cmpuint(off & 3, ==, 0);
    t_phb_ind_select(qts, t, PHB_RC_CONFIG_BASE + off, true);
    data = qtest_readq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA));
    g_assert_cmphex(data >> 32, ==, 0);
    return bswap32((uint32_t)data);
}

static inline void t_rp_config_writel(QTestState *qts, const PhbTarget *t,
                                      uint32_t off, uint32_t val)
{
    g_assert_cmpuint(off & 3, ==, 0);
    t_phb_ind_select(qts, t, PHB_RC_CONFIG_BASE + off, true);
    qtest_writeq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA), bswap32(val));
}

/* Walk the capability list to a capability; 0 if absent */
static inline uint32_t t_rp_find_cap(QTestState *qts, const PhbTarget *t,
                                     uint8_t id)
{
    uint32_t pos = t_rp_config_readl(qts, t, PCI_CAPABILITY_LIST) & 0xfc;
    int guard = 48;

    while (pos && guard--) {
        uint32_t hdr = t_rp_config_readl(qts, t, pos);

        if ((hdr & 0xff) == id) {
            return pos;
        }
        pos = (hdr >> 8) & 0xfc;
    }
    g_assert_cmpint(guard, >=, 0);              /* no loop in the list */
    return 0;
}

static inline uint32_t t_rp_find_exp_cap(QTestState *qts, const PhbTarget *t)
{
    uint32_t pos = t_rp_find_cap(qts, t, PCI_CAP_ID_EXP);

    g_assert_cmphex(pos, !=, 0);
    return pos;
}

/*
 * Mapping the PHB's PCI MMIO space into the system address space, as
 * skiboot does, with XSCOM only:
 *
 *  1. PEC nest stack MMIO BAR0 (+ mask) and the PHB's interrupt (ESB) BAR,
 *     then PEC_NEST_STK_BAR_EN: pnv_pec_phb_update_map() maps the
 *     "pec-0.1-phb-0-mmio0" and "-int" containers in system memory (and
 *     the XIVE source ESB pages in the latter);
 *  2. the PHB's M32 PCI start address and one MBT entry (IODA3 table 16,
 *     through PHB_IODA_ADDR/DATA0) of type M32 whose CPU base lies in
 *     MMIO BAR0: pnv_phb4_check_mbt() aliases pci_mmio[M32 start, +size)
 *     there.
 *
 * Addresses are in chip 0's unused MMIO space (the skiboot layout puts PHB
 * windows at 0x0006_00xx_xxxx_xxxx too); nothing else lives there in the
 * powernv9 machine.
 */
#define P9_PHB1_MMIO0_BASE      0x0006004000000000ull
#define P9_PHB1_MMIO0_SIZE      0x0000000040000000ull   /* 1 GiB */
#define P9_PHB1_INT_BASE        0x0006005000000000ull   /* 2048 x 4K ESB */
#define P9_PHB1_M32_PCI_START   0x80000000ull
#define P9_PHB1_M32_SIZE        0x10000000ull           /* 256 MiB */
#define MSI_RTT_BASE            0x100000ull              /* in guest RAM */

static inline void p9_phb1_map_bars(QTestState *qts, bool mmio0, bool intr)
{
    const PhbTarget *t = &p9_phb1;
    uint64_t en = 0;

    if (mmio0) {
        qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_MMIO_BAR0),
                     P9_PHB1_MMIO0_BASE << 8);
        qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_MMIO_BAR0_MASK),
                     (~(P9_PHB1_MMIO0_SIZE - 1) << 8) & PPC_BITMASK(0, 39));
        en |= PEC_NEST_STK_BAR_EN_MMIO0;
    }
    if (intr) {
        qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_INT_BAR),
                     P9_PHB1_INT_BASE << 8);
        en |= PEC_NEST_STK_BAR_EN_INT;
    }
    qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_BAR_EN), en);
    g_assert_cmphex(qtest_readq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_BAR_EN)),
                    ==, en);
}

static inline void p9_phb1_map_m32(QTestState *qts)
{
    const PhbTarget *t = &p9_phb1;
    uint64_t mbe0 = IODA3_MBT0_ENABLE | IODA3_MBT0_TYPE_M32 |
                    (P9_PHB1_MMIO0_BASE & IODA3_MBT0_BASE_ADDR);
    uint64_t mbe1 = IODA3_MBT1_ENABLE |
                    (~(P9_PHB1_M32_SIZE - 1) & IODA3_MBT1_MASK);

    t_phb_writeq(qts, t, PHB_M32_START_ADDR, P9_PHB1_M32_PCI_START);
    g_assert_cmphex(t_phb_readq(qts, t, PHB_M32_START_ADDR), ==,
                    P9_PHB1_M32_PCI_START);

    /*
     * MBT entry 0 = table words 0 and 1, auto-increment.  Each word write
     * copies its enable bit to the other word and re-evaluates the
     * window, so both carry it.
     */
    t_phb_writeq(qts, t, PHB_IODA_ADDR, PHB_IODA_AD_AUTOINC |
                 ((uint64_t)IODA3_TBL_MBT << 48));
    t_phb_writeq(qts, t, PHB_IODA_DATA0, mbe0);
    t_phb_writeq(qts, t, PHB_IODA_DATA0, mbe1);

    t_phb_writeq(qts, t, PHB_IODA_ADDR, (uint64_t)IODA3_TBL_MBT << 48);
    g_assert_cmphex(t_phb_readq(qts, t, PHB_IODA_DATA0), ==, mbe0);
}

/* CPU address of a PCI bus address inside the M32 window */
static inline uint64_t p9_phb1_m32_cpu(uint64_t pci_addr)
{
    g_assert_cmphex(pci_addr, >=, P9_PHB1_M32_PCI_START);
    g_assert_cmphex(pci_addr, <, P9_PHB1_M32_PCI_START + P9_PHB1_M32_SIZE);
    return P9_PHB1_MMIO0_BASE + (pci_addr - P9_PHB1_M32_PCI_START);
}

/* Config space below the root port: PHB_CONFIG_ADDRESS / PHB_CONFIG_DATA */
static inline void phb_cfg_select(QTestState *qts, uint8_t bus, uint8_t devfn,
                                  uint32_t off)
{
    t_phb_writeq(qts, &p9_phb1, PHB_CONFIG_ADDRESS,
                 PHB_CA_ENABLE | ((uint64_t)bus << 52) |
                 ((uint64_t)devfn << 44) | ((uint64_t)(off & 0xffc) << 32));
}

static inline uint32_t phb_cfg_readl(QTestState *qts, uint8_t bus,
                                     uint8_t devfn, uint32_t off)
{
    phb_cfg_select(qts, bus, devfn, off);
    t_phb_ind_select(qts, &p9_phb1, PHB_CONFIG_DATA, true);
    /* no device: the PHB returns all ones in the whole 64-bit data */
    return bswap32((uint32_t)qtest_readq(qts,
                       t_phb_xscom_addr(&p9_phb1, PHB_SCOM_HV_IND_DATA)));
}

static inline void phb_cfg_writel(QTestState *qts, uint8_t bus, uint8_t devfn,
                                  uint32_t off, uint32_t val)
{
    phb_cfg_select(qts, bus, devfn, off);
    t_phb_ind_select(qts, &p9_phb1, PHB_CONFIG_DATA, true);
    qtest_writeq(qts, t_phb_xscom_addr(&p9_phb1, PHB_SCOM_HV_IND_DATA),
                 bswap32(val));
}


/* IODA table entries of PHB 1 (PHB_IODA_ADDR/DATA0) */
static inline uint64_t ioda_read(QTestState *qts, unsigned table, unsigned idx)
{
    t_phb_writeq(qts, &p9_phb1, PHB_IODA_ADDR,
                 ((uint64_t)table << 48) | ((uint64_t)idx << 0));
    return t_phb_readq(qts, &p9_phb1, PHB_IODA_DATA0);
}

static inline void ioda_write(QTestState *qts, unsigned table, unsigned idx,
                              uint64_t val)
{
    t_phb_writeq(qts, &p9_phb1, PHB_IODA_ADDR,
                 ((uint64_t)table << 48) | ((uint64_t)idx << 0));
    t_phb_writeq(qts, &p9_phb1, PHB_IODA_DATA0, val);
}

/* Thaw PE @pe as skiboot's opal_pci_eeh_freeze_clear does: PESTA, PESTB */
static inline void pe_thaw(QTestState *qts, unsigned pe)
{
    ioda_write(qts, IODA3_TBL_PESTA, pe, 0);
    ioda_write(qts, IODA3_TBL_PESTB, pe, 0);
}

#endif
