/*
 * QTest testcase for the PCIe slot of the PowerNV PHB4 root port
 *
 * libqtest runs QEMU with -accel qtest, so no firmware executes.  The
 * root port of PHB 1 on chip 0 of a powernv9 machine is reached over
 * XSCOM: the PHB registers through the PHB "HV indirect" address/data
 * pair, and the root port itself (bus 0, devfn 0 of the PHB) through
 * the PHB's root complex configuration window (PHB_RC_CONFIG_BASE).
 * The PHB_CONFIG_ADDRESS/DATA path does not serve bus 0 devfn 0 in the
 * PHB4 model.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "hw/pci/pci_regs.h"

#include "pnv-xscom.h"

/* pnv_phb4_regs.h expresses its bit fields in IBM (MSB 0) bit order */
#define PPC_BIT(bit)            (0x8000000000000000ULL >> (bit))
#define PPC_BITMASK(bs, be)     ((PPC_BIT(bs) - PPC_BIT(be)) | PPC_BIT(bs))
#include "hw/pci-host/pnv_phb4_regs.h"

/*
 * POWER9 XSCOM layout of the PHB registers (see pnv_phb4_pec.c and
 * pnv_phb4_xscom_realize()): PHB 1 is the first stack of PEC 1.
 */
#define P9_PEC_PCI_BASE         0x0d010800u
#define P9_PEC_PCI_STRIDE       0x01000000u
#define P9_PEC_PCI_STK0         0x100u
#define P9_PEC_PCI_STK_STRIDE   0x40u
#define TEST_PEC                1
#define TEST_STACK              0
#define TEST_PHB_ID             1       /* also the root port's slot number */
#define TEST_BUS                "pcie.1"  /* secondary bus of that root port */

#define PHB4_VENDOR_ID          0x1014  /* PCI_VENDOR_ID_IBM */
#define PHB4_RP_DEVICE_ID       0x04c1  /* PNV_PHB4_DEVICE_ID */

/* SLTCTL event enables: same bit positions as the SLTSTA event bits */
#define SLTCTL_EVENT_ENABLES    (PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PFDE | \
                                 PCI_EXP_SLTCTL_MRLSCE | \
                                 PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE)

static const PnvChip *p9_chip(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(pnv_chips); i++) {
        if (pnv_chips[i].chip_type == PNV_CHIP_POWER9) {
            return &pnv_chips[i];
        }
    }
    g_assert_not_reached();
}

static uint64_t phb_xscom_addr(uint32_t reg)
{
    uint32_t pcba = P9_PEC_PCI_BASE + P9_PEC_PCI_STRIDE * TEST_PEC +
                    P9_PEC_PCI_STK0 + P9_PEC_PCI_STK_STRIDE * TEST_STACK + reg;

    return pnv_xscom_addr(p9_chip(), pcba);
}

/* Point the HV indirect window at a 4-byte PHB register */
static void phb_ind_select4(QTestState *qts, uint32_t offset)
{
    uint64_t ind = PHB_SCOM_HV_IND_ADDR_VALID | PHB_SCOM_HV_IND_ADDR_4B |
                   (offset & PHB_SCOM_HV_IND_ADDR_ADDR);

    qtest_writeq(qts, phb_xscom_addr(PHB_SCOM_HV_IND_ADDR), ind);
}

/*
 * Root port configuration space accesses.  The RC window only takes
 * 4-byte accesses and carries the little-endian config dword swapped
 * into the low 32 bits of the XSCOM data.
 */
static uint32_t rp_config_readl(QTestState *qts, uint32_t off)
{
    uint64_t data;

    g_assert_cmpuint(off & 3, ==, 0);
    phb_ind_select4(qts, PHB_RC_CONFIG_BASE + off);
    data = qtest_readq(qts, phb_xscom_addr(PHB_SCOM_HV_IND_DATA));
    g_assert_cmphex(data >> 32, ==, 0);
    return bswap32((uint32_t)data);
}

static void rp_config_writel(QTestState *qts, uint32_t off, uint32_t val)
{
    g_assert_cmpuint(off & 3, ==, 0);
    phb_ind_select4(qts, PHB_RC_CONFIG_BASE + off);
    qtest_writeq(qts, phb_xscom_addr(PHB_SCOM_HV_IND_DATA), bswap32(val));
}

/* Walk the capability list to the PCI Express capability */
static uint32_t rp_find_exp_cap(QTestState *qts)
{
    uint32_t pos = rp_config_readl(qts, PCI_CAPABILITY_LIST) & 0xfc;
    int guard = 48;

    while (pos && guard--) {
        uint32_t hdr = rp_config_readl(qts, pos);

        if ((hdr & 0xff) == PCI_CAP_ID_EXP) {
            return pos;
        }
        pos = (hdr >> 8) & 0xfc;
    }
    g_assert_not_reached();
}

/*
 * The machine insists on loading an OPAL image, but with the qtest
 * accelerator no guest code runs: an empty one does.
 */
static QTestState *pnv_phb_slot_start(const char *extra)
{
    return qtest_initf("-M powernv9 -bios /dev/null %s", extra ? extra : "");
}

static void test_root_port_ids(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t ids = rp_config_readl(qts, PCI_VENDOR_ID);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint16_t flags = rp_config_readl(qts, exp_cap) >> 16;

    g_assert_cmphex(ids & 0xffff, ==, PHB4_VENDOR_ID);
    g_assert_cmphex(ids >> 16, ==, PHB4_RP_DEVICE_ID);

    /* A root port with a slot: the slot registers below are meaningful */
    g_assert_cmphex(flags & PCI_EXP_FLAGS_TYPE, ==,
                    PCI_EXP_TYPE_ROOT_PORT << 4);
    g_assert_cmphex(flags & PCI_EXP_FLAGS_SLOT, ==, PCI_EXP_FLAGS_SLOT);

    qtest_quit(qts);
}

static uint32_t rp_read_sltcap(QTestState *qts)
{
    return rp_config_readl(qts, rp_find_exp_cap(qts) + PCI_EXP_SLTCAP);
}

static void test_sltcap_default(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t sltcap = rp_read_sltcap(qts);

    /* Physical slot number is the PHB index: we are on PHB 1 */
    g_assert_cmpuint((sltcap & PCI_EXP_SLTCAP_PSN) >> 19, ==, TEST_PHB_ID);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPC, ==, PCI_EXP_SLTCAP_HPC);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_PCP, ==, PCI_EXP_SLTCAP_PCP);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPS, ==, 0);

    qtest_quit(qts);
}

static void test_sltcap_surprise(void)
{
    QTestState *qts =
        pnv_phb_slot_start("-global pnv-phb-root-port.surprise-pluggable=on");
    uint32_t sltcap = rp_read_sltcap(qts);

    g_assert_cmpuint((sltcap & PCI_EXP_SLTCAP_PSN) >> 19, ==, TEST_PHB_ID);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPC, ==, PCI_EXP_SLTCAP_HPC);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_PCP, ==, PCI_EXP_SLTCAP_PCP);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPS, ==, PCI_EXP_SLTCAP_HPS);

    qtest_quit(qts);
}

static void test_sltsta_w1c(void)
{
    QTestState *qts;
    uint32_t sltctl_off, dw;
    uint16_t sltctl;

    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return;
    }

    qts = pnv_phb_slot_start(NULL);
    /* SLTCTL and SLTSTA share one dword; the RC window is dword-only */
    sltctl_off = rp_find_exp_cap(qts) + PCI_EXP_SLTCTL;

    dw = rp_config_readl(qts, sltctl_off);
    sltctl = dw & 0xffff;
    g_assert_cmphex(dw >> 16, ==, 0);           /* empty slot, no events */
    /*
     * Writing SLTSTA rewrites SLTCTL with the same value.  For such a
     * dword write, pcie_cap_slot_write_config() checks the whole value
     * (SLTCTL in its low half) against the SLTSTA event bits and would
     * undo the clear if one of these enables were set.
     */
    g_assert_cmphex(sltctl & SLTCTL_EVENT_ENABLES, ==, 0);

    qtest_qmp_device_add(qts, "e1000e", "pf-nic",
                         "{'bus': '" TEST_BUS "', 'romfile': ''}");

    dw = rp_config_readl(qts, sltctl_off);
    g_assert_cmphex(dw & 0xffff, ==, sltctl);
    g_assert_cmphex(dw >> 16, ==, PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                                  PCI_EXP_SLTSTA_ABP);

    /* Write 1 to PDC only: PDC clears, the other bits stay */
    rp_config_writel(qts, sltctl_off, (PCI_EXP_SLTSTA_PDC << 16) | sltctl);
    dw = rp_config_readl(qts, sltctl_off);
    g_assert_cmphex(dw & 0xffff, ==, sltctl);
    /*
     * The same dword write also targets SLTCTL, which the port answers
     * with a Command Completed event (SLTCAP.NCCS is clear).
     */
    g_assert_cmphex(dw >> 16, ==, PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_ABP |
                                  PCI_EXP_SLTSTA_CC);

    /* ABP is write-1-to-clear too; PDS is read-only state */
    rp_config_writel(qts, sltctl_off,
                     ((PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDS) << 16) |
                     sltctl);
    dw = rp_config_readl(qts, sltctl_off);
    g_assert_cmphex(dw & 0xffff, ==, sltctl);
    g_assert_cmphex(dw >> 16, ==, PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_CC);

    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (qtest_has_machine("powernv9")) {
        g_test_add_func("/pnv-phb-slot/root-port-ids", test_root_port_ids);
        g_test_add_func("/pnv-phb-slot/sltcap/default", test_sltcap_default);
        g_test_add_func("/pnv-phb-slot/sltcap/surprise-pluggable",
                        test_sltcap_surprise);
        g_test_add_func("/pnv-phb-slot/sltsta/hotplug-w1c", test_sltsta_w1c);
    }

    return g_test_run();
}
