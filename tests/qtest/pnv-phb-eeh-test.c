/*
 * QTest testcase for PE freeze (EEH) in the PowerNV PHB4
 * (hw/pci-host/pnv_phb4_eeh.c)
 *
 * No firmware runs: the test sets PHB 1 of a powernv9 up as skiboot and
 * Linux would (pnv-phb4-qtest.h): its MMIO BAR0 and interrupt BAR, an M32
 * MBT entry in MDT mode (column A), MDT segments mapped to PEs, an RTT in
 * guest RAM and the PEST BAR.  Then it freezes PEs through the IODA PEST
 * tables (as opal_pci_eeh_freeze_set/clear do), by MMIO to a segment no
 * device answers, by the PAPR configuration error injection skiboot's
 * phb4_err_inject() arms, by a DMA translation fault and over QMP, and
 * checks what a frozen PE does: MMIO loads all ones, stores dropped, DMA
 * refused.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "pnv-phb4-qtest.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "qmp-assert-error.h"

#define SEGS_PER_PE_TEST        8       /* MDT segment of the unclaimed test */
#define DEV_PE                  5       /* PE of bus 1 (the RTT says) */
#define MISS_PE                 9       /* PE of MDT segment 8 */
#define PEST_BASE               0x200000ull     /* in guest RAM */
#define DMA_RAM                 0x300000ull     /* edu DMA buffers in RAM */
#define DEV_RID                 0x0100          /* bus 1, devfn 0 */
#define ER_LSI                  7               /* PHB4_LSI_PCIE_ER */

#define E1000E_RDBAH0           0x2804          /* plain RW register */

/* edu registers (hw/misc/edu.c; native endian, so big-endian here) */
#define EDU_DMA_SRC             0x80
#define EDU_DMA_DST             0x88
#define EDU_DMA_CNT             0x90
#define EDU_DMA_CMD             0x98
#define EDU_DMA_RUN             0x1
#define EDU_DMA_TO_PCI          0x2
#define EDU_DMA_BUF             0x40000
#define EDU_DMA_NS              (200 * 1000 * 1000)     /* its 100 ms timer */

#define ESB_GET                 0x800
#define ESB_SET_PQ_00           0xc00

static unsigned num_pes(QTestState *qts)
{
    /* skiboot: max_num_pes = PHB_PHB4_EEH_CAP >> 52 */
    return t_phb_readq(qts, &p9_phb1, PHB_PHB4_EEH_CAP) >> 52;
}

static uint64_t seg_size(QTestState *qts)
{
    return P9_PHB1_M32_SIZE / num_pes(qts);
}

static uint64_t m32_cpu(uint64_t pci_offset)
{
    return p9_phb1_m32_cpu(P9_PHB1_M32_PCI_START + pci_offset);
}

static uint8_t pest_bits(QTestState *qts, unsigned pe)
{
    return (ioda_read(qts, IODA3_TBL_PESTA, pe) & IODA3_PESTA_MMIO_FROZEN ?
            1 : 0) |
           (ioda_read(qts, IODA3_TBL_PESTB, pe) & IODA3_PESTB_DMA_STOPPED ?
            2 : 0);
}

/*
 * The PHB as the OS leaves it: M32 in MDT mode, segment 0 (the device's
 * BAR) in PE DEV_PE, segment 8 in MISS_PE, everything else PE 0; RID
 * 0x0100 in PE DEV_PE; PEST in RAM; bus 1 below the root port.
 */
static QTestState *eeh_start(const char *dev)
{
    const PhbTarget *t = &p9_phb1;
    QTestState *qts = qtest_initf("-M powernv9 -bios /dev/null %s", dev);
    uint64_t mbe0 = IODA3_MBT0_ENABLE | IODA3_MBT0_TYPE_M32 |
                    ((uint64_t)IODA3_MBT0_MODE_MDT << 60) |
                    (P9_PHB1_MMIO0_BASE & IODA3_MBT0_BASE_ADDR);
    uint64_t mbe1 = IODA3_MBT1_ENABLE |
                    (~(P9_PHB1_M32_SIZE - 1) & IODA3_MBT1_MASK);
    uint32_t cmd;

    p9_phb1_map_bars(qts, true, true);
    t_phb_writeq(qts, t, PHB_M32_START_ADDR, P9_PHB1_M32_PCI_START);
    ioda_write(qts, IODA3_TBL_MDT, 0, (uint64_t)DEV_PE << 48);
    ioda_write(qts, IODA3_TBL_MDT, SEGS_PER_PE_TEST, (uint64_t)MISS_PE << 48);
    t_phb_writeq(qts, t, PHB_IODA_ADDR, PHB_IODA_AD_AUTOINC |
                 ((uint64_t)IODA3_TBL_MBT << 48));
    t_phb_writeq(qts, t, PHB_IODA_DATA0, mbe0);
    t_phb_writeq(qts, t, PHB_IODA_DATA0, mbe1);

    t_phb_writeq(qts, t, PHB_RTT_BAR, PHB_RTT_BAR_ENABLE | MSI_RTT_BASE);
    qtest_writew(qts, MSI_RTT_BASE + 2 * DEV_RID, DEV_PE);
    t_phb_writeq(qts, t, PHB_PEST_BAR, PHB_PEST_BAR_ENABLE | PEST_BASE);

    t_rp_config_writel(qts, t, PCI_PRIMARY_BUS,
                       (t_rp_config_readl(qts, t, PCI_PRIMARY_BUS) &
                        0xff000000) | (1 << 16) | (1 << 8));
    cmd = t_rp_config_readl(qts, t, PCI_COMMAND) & 0xffff;
    t_rp_config_writel(qts, t, PCI_COMMAND,
                       cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    phb_cfg_writel(qts, 1, 0, PCI_BASE_ADDRESS_0, P9_PHB1_M32_PCI_START);
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND,
                   PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    return qts;
}

/* The PHB set up with an e1000e "nic1" in pcie.1; NULL (skipped) without */
static QTestState *eeh_start_e1000e(void)
{
    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return NULL;
    }
    return eeh_start("-device e1000e,id=nic1,bus=" TEST_BUS ",romfile=");
}

/* x-pnv-eeh-inject into nic1 */
static void inject(QTestState *qts, const char *kind, bool persistent)
{
    qtest_qmp_assert_success(qts, "{'execute': 'x-pnv-eeh-inject',"
                             " 'arguments': {'id': 'nic1', 'kind': %s,"
                             " 'persistent': %i}}", kind, persistent);
}

static uint32_t nic_read(QTestState *qts, uint32_t reg)
{
    return bswap32(qtest_readl(qts, m32_cpu(0) + reg));
}

static void nic_write(QTestState *qts, uint32_t reg, uint32_t val)
{
    qtest_writel(qts, m32_cpu(0) + reg, bswap32(val));
}

/* The one entry x-query-pnv-eeh gives for nic1 */
static QDict *query_nic(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'x-query-pnv-eeh',"
                            " 'arguments': {'id': 'nic1'}}");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *pe;

    g_assert_nonnull(list);
    g_assert_cmpuint(qlist_size(list), ==, 1);
    pe = qobject_to(QDict, qlist_peek(list));
    qobject_ref(pe);
    qobject_unref(resp);
    return pe;
}

/* The error count x-query-pnv-eeh gives for nic1's PE */
static int64_t nic_errors(QTestState *qts)
{
    QDict *pe = query_nic(qts);
    int64_t n = qdict_get_int(pe, "errors");

    qobject_unref(pe);
    return n;
}

/*
 * nic1 started with RDBAH0 (a plain read/write register) written, then
 * an MMIO load error injected: its PE frozen
 */
static QTestState *start_injected(bool persistent)
{
    QTestState *qts = eeh_start_e1000e();

    if (qts) {
        nic_write(qts, E1000E_RDBAH0, 0x5a5a1234);
        inject(qts, "mmio-load", persistent);
        g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 3);
    }
    return qts;
}

static void test_firmware_freeze_thaw(void)
{
    QTestState *qts;
    QDict *pe;

    qts = eeh_start_e1000e();
    if (!qts) {
        return;
    }
    nic_write(qts, E1000E_RDBAH0, 0x5a5a1234);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PEEV, 0), ==, 0);

    /* opal_pci_eeh_freeze_set(MMIO): PESTA bit 0; PEEV follows */
    ioda_write(qts, IODA3_TBL_PESTA, DEV_PE, IODA3_PESTA_MMIO_FROZEN);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 1);
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PEEV, 0), ==, PPC_BIT(DEV_PE));
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
    g_assert_cmphex(qtest_readq(qts, m32_cpu(0)), ==, UINT64_MAX);
    nic_write(qts, E1000E_RDBAH0, 0x11112222);          /* dropped */
    /* the rest of the segment too, and only that PE's segment */
    g_assert_cmphex(qtest_readl(qts, m32_cpu(seg_size(qts) - 4)), ==,
                    0xffffffff);
    pe = query_nic(qts);
    g_assert_cmpint(qdict_get_int(pe, "pe"), ==, DEV_PE);
    g_assert_true(qdict_get_bool(pe, "mmio-frozen"));
    g_assert_false(qdict_get_bool(pe, "dma-frozen"));
    g_assert_cmpint(qdict_get_int(pe, "errors"), ==, 0);  /* no error */
    qobject_unref(pe);

    /* opal_pci_eeh_freeze_clear(MMIO): the device answers again */
    ioda_write(qts, IODA3_TBL_PESTA, DEV_PE, 0);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PEEV, 0), ==, 0);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);

    /* the PESTA window follows the MDT: move segment 0 to another PE */
    ioda_write(qts, IODA3_TBL_PESTA, DEV_PE, IODA3_PESTA_MMIO_FROZEN);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
    ioda_write(qts, IODA3_TBL_MDT, 0, (uint64_t)(DEV_PE + 1) << 48);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);
    ioda_write(qts, IODA3_TBL_MDT, 0, (uint64_t)DEV_PE << 48);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);

    /* a reset thaws everything */
    qtest_qmp_assert_success(qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    qtest_quit(qts);
}

static void test_mmio_miss_freezes(void)
{
    QTestState *qts;
    uint64_t miss;
    uint64_t pest0, pest1;
    QDict *resp;

    qts = eeh_start_e1000e();
    if (!qts) {
        return;
    }
    miss = SEGS_PER_PE_TEST * seg_size(qts) + 0x40;
    /* arm the ER interrupt's ESB (LSI sources start OFF) */
    qtest_readq(qts, P9_PHB1_INT_BASE + (ER_LSI << 12) + ESB_SET_PQ_00);

    /* a load no device answers: all ones, and its PE freezes */
    g_assert_cmphex(qtest_readl(qts, m32_cpu(miss)), ==, 0xffffffff);
    g_assert_cmphex(pest_bits(qts, MISS_PE), ==, 3);
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PEEV, 0), ==, PPC_BIT(MISS_PE));
    /* logged in the PE's memory-resident PEST entry */
    pest0 = qtest_readq(qts, PEST_BASE + 16 * MISS_PE);
    pest1 = qtest_readq(qts, PEST_BASE + 16 * MISS_PE + 8);
    g_assert_cmphex(pest0, ==, IODA3_PEST0_MMIO_CAUSE | IODA3_PEST0_UR_RETURN |
                    ((uint64_t)PEST_TTYPE_MMIO_LOAD << 56));
    g_assert_cmphex(pest1 << 3, ==, P9_PHB1_M32_PCI_START + miss);
    /* the ER interrupt fired: P set */
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_INT_BASE + (ER_LSI << 12) +
                                ESB_GET), ==, 2);
    /* the device's PE is not touched */
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    g_assert_cmphex(nic_read(qts, PCI_VENDOR_ID), !=, 0xffffffff);

    resp = qtest_qmp(qts, "{'execute': 'x-query-pnv-eeh'}");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(resp, "return")), ==, 1);
    g_assert_cmpint(qdict_get_int(qobject_to(QDict,
                        qlist_peek(qdict_get_qlist(resp, "return"))), "pe"),
                    ==, MISS_PE);
    qobject_unref(resp);

    /* firmware thaws it: PESTA then PESTB, as freeze_clear does */
    pe_thaw(qts, MISS_PE);
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PEEV, 0), ==, 0);

    /* NVRAM pci-eeh-mmio=disabled: skiboot sets PHB_CTRLR bit 14 */
    t_phb_writeq(qts, &p9_phb1, PHB_CTRLR,
                 t_phb_readq(qts, &p9_phb1, PHB_CTRLR) |
                 PHB_CTRLR_MMIO_EEH_DISABLE);
    g_assert_cmphex(qtest_readl(qts, m32_cpu(miss)), ==, 0xffffffff);
    g_assert_cmphex(pest_bits(qts, MISS_PE), ==, 0);
    qmp_assert_error(qts, "GenericError", "MMIO EEH disabled",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': 'nic1', 'kind': 'mmio-load'}}");

    /* the error status registers are write-1-to-clear */
    t_phb_writeq(qts, &p9_phb1, PHB_PCIE_DLP_ERRLOG1, UINT64_MAX);
    t_phb_writeq(qts, &p9_phb1, PHB_TXE_ERR_STATUS, UINT64_MAX);
    g_assert_cmphex(t_phb_readq(qts, &p9_phb1, PHB_PCIE_DLP_ERRLOG1), ==, 0);
    g_assert_cmphex(t_phb_readq(qts, &p9_phb1, PHB_TXE_ERR_STATUS), ==, 0);
    qtest_quit(qts);
}

static void test_qmp_inject(void)
{
    QTestState *qts = start_injected(false);
    QDict *pe;

    if (!qts) {
        return;
    }
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
    g_assert_cmphex(qtest_readq(qts, PEST_BASE + 16 * DEV_PE), ==,
                    IODA3_PEST0_MMIO_CAUSE | IODA3_PEST0_UR_RETURN |
                    ((uint64_t)PEST_TTYPE_MMIO_LOAD << 56) |
                    ((uint64_t)DEV_RID << 16));
    g_assert_cmphex(qtest_readq(qts, PEST_BASE + 16 * DEV_PE + 8) << 3, ==,
                    P9_PHB1_M32_PCI_START);
    pe = query_nic(qts);
    g_assert_true(qdict_get_bool(pe, "mmio-frozen"));
    g_assert_true(qdict_get_bool(pe, "dma-frozen"));
    g_assert_cmpint(qdict_get_int(pe, "errors"), ==, 1);
    g_assert_cmpstr(qstring_get_str(qobject_to(QString,
                        qlist_peek(qdict_get_qlist(pe, "devices")))), ==,
                    "/machine/peripheral/nic1");
    qobject_unref(pe);

    /* a second error while frozen keeps the first one's log */
    inject(qts, "dma-write", false);
    g_assert_cmpint(nic_errors(qts), ==, 1);

    /* thawed, a DMA error logs its type */
    pe_thaw(qts, DEV_PE);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);
    inject(qts, "dma-read", false);
    g_assert_cmphex(qtest_readq(qts, PEST_BASE + 16 * DEV_PE), ==,
                    IODA3_PEST0_TCE_PAGE_FAULT |
                    ((uint64_t)PEST_TTYPE_DMA_READ << 56) |
                    ((uint64_t)DEV_RID << 16));

    /* x-pnv-eeh-freeze: DMA only, no error counted */
    pe_thaw(qts, DEV_PE);
    qtest_qmp_assert_success(qts, "{'execute': 'x-pnv-eeh-freeze',"
                             " 'arguments': {'id': 'nic1', 'mmio': false}}");
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 2);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);
    g_assert_cmpint(nic_errors(qts), ==, 2);
    qtest_quit(qts);
}

/* A device whose reset does not cure it: each thaw, it fails again */
static void test_persistent(void)
{
    QTestState *qts = start_injected(true);
    QDict *pe;

    if (!qts) {
        return;
    }
    for (int i = 2; i <= 3; i++) {
        pe_thaw(qts, DEV_PE);
        g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
        /* the next load fails again: all ones, frozen, counted */
        g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
        g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 3);
        pe = query_nic(qts);
        g_assert_cmpint(qdict_get_int(pe, "errors"), ==, i);
        g_assert_true(qdict_get_bool(pe, "persistent"));
        qobject_unref(pe);
    }

    /* a one-off error ends it: after the thaw the device answers */
    inject(qts, "mmio-load", false);
    pe_thaw(qts, DEV_PE);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);
    pe = query_nic(qts);
    g_assert_false(qdict_get_bool(pe, "persistent"));
    qobject_unref(pe);

    /* persistence belongs to the device instance: unplug forgets it */
    inject(qts, "mmio-store", true);
    qtest_qmp_assert_success(qts, "{'execute': 'x-pcie-surprise-remove',"
                             " 'arguments': {'id': 'nic1'}}");
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    qtest_qmp_assert_success(qts, "{'execute': 'device_add', 'arguments':"
                             " {'driver': 'e1000e', 'id': 'nic1',"
                             "  'bus': '" TEST_BUS "', 'romfile': ''}}");
    pe_thaw(qts, DEV_PE);
    phb_cfg_writel(qts, 1, 0, PCI_BASE_ADDRESS_0, P9_PHB1_M32_PCI_START);
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND, PCI_COMMAND_MEMORY);
    nic_write(qts, E1000E_RDBAH0, 0x00c0ffee);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x00c0ffee);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    qtest_quit(qts);
}

static void test_cfg_inject(void)
{
    const PhbTarget *t = &p9_phb1;
    uint64_t ca = PHB_CA_ENABLE | ((uint64_t)DEV_RID << 44) |
                  ((uint64_t)DEV_PE << 16);         /* PHB_CA_PE */
    QTestState *qts;

    qts = eeh_start_e1000e();
    if (!qts) {
        return;
    }
    /* skiboot's phb4_err_inject_cfg() for a device PE, config read */
    t_phb_writeq(qts, t, PHB_PAPR_ERR_INJ_CTL, 0);
    t_phb_writeq(qts, t, PHB_PAPR_ERR_INJ_ADDR, (uint64_t)DEV_RID << 44);
    t_phb_writeq(qts, t, PHB_PAPR_ERR_INJ_MASK, PHB_PAPR_ERR_INJ_MASK_CFG_ALL);
    t_phb_writeq(qts, t, PHB_PAPR_ERR_INJ_CTL,
                 PHB_PAPR_ERR_INJ_CTL_CFG | PHB_PAPR_ERR_INJ_CTL_RD);
    g_assert_cmphex(t_phb_readq(qts, t, PHB_PAPR_ERR_INJ_MASK), ==,
                    PHB_PAPR_ERR_INJ_MASK_CFG_ALL);

    /* another function does not match */
    t_phb_writeq(qts, t, PHB_CONFIG_ADDRESS, ca | (1ull << 44));
    t_phb_ind_select(qts, t, PHB_CONFIG_DATA, true);
    g_assert_cmphex(qtest_readq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA)),
                    ==, UINT64_MAX);        /* no device: all ones anyway */
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);

    /* the device's config read fails, the PE in the address freezes */
    t_phb_writeq(qts, t, PHB_CONFIG_ADDRESS, ca);
    t_phb_ind_select(qts, t, PHB_CONFIG_DATA, true);
    g_assert_cmphex(qtest_readq(qts, t_phb_xscom_addr(t, PHB_SCOM_HV_IND_DATA)),
                    ==, UINT64_MAX);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 3);
    g_assert_cmphex(qtest_readq(qts, PEST_BASE + 16 * DEV_PE), ==,
                    IODA3_PEST0_CFG_READ |
                    ((uint64_t)PEST_TTYPE_OTHER << 56) |
                    ((uint64_t)DEV_RID << 16));
    /* not sticky: disarmed, the next read answers */
    g_assert_cmphex(t_phb_readq(qts, t, PHB_PAPR_ERR_INJ_CTL), ==, 0);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==, 0x10d38086);
    qtest_quit(qts);
}

static void test_dma(void)
{
    QTestState *qts;
    uint64_t bar;
    uint64_t pest0;

    if (!qtest_has_device("edu")) {
        g_test_skip("edu not available");
        return;
    }
    qts = eeh_start("-device edu,id=nic1,bus=" TEST_BUS);
    bar = m32_cpu(0);

    /* no valid TVE yet: the DMA read fails translation, the PE freezes */
    qtest_writeq(qts, DMA_RAM, 0x0123456789abcdefull);
    qtest_writeq(qts, bar + EDU_DMA_SRC, DMA_RAM);
    qtest_writeq(qts, bar + EDU_DMA_DST, EDU_DMA_BUF);
    qtest_writeq(qts, bar + EDU_DMA_CNT, 8);
    qtest_writeq(qts, bar + EDU_DMA_CMD, EDU_DMA_RUN);
    qtest_clock_step(qts, EDU_DMA_NS);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 3);
    pest0 = qtest_readq(qts, PEST_BASE + 16 * DEV_PE);
    g_assert_cmphex(pest0, ==, IODA3_PEST0_TCE_PAGE_FAULT |
                    ((uint64_t)PEST_TTYPE_DMA_READ << 56) |
                    ((uint64_t)DEV_RID << 16));
    g_assert_cmphex(qtest_readq(qts, PEST_BASE + 16 * DEV_PE + 8) << 3, ==,
                    DMA_RAM);

    /* a no-translate TVE for the PE (TCE table size 1, I/O page size 0) */
    ioda_write(qts, IODA3_TBL_TVT, DEV_PE * 2, PPC_BIT(55));
    pe_thaw(qts, DEV_PE);

    /* RAM -> edu -> RAM works */
    qtest_writeq(qts, bar + EDU_DMA_CMD, EDU_DMA_RUN);
    qtest_clock_step(qts, EDU_DMA_NS);
    qtest_writeq(qts, bar + EDU_DMA_SRC, EDU_DMA_BUF);
    qtest_writeq(qts, bar + EDU_DMA_DST, DMA_RAM + 0x1000);
    qtest_writeq(qts, bar + EDU_DMA_CMD, EDU_DMA_RUN | EDU_DMA_TO_PCI);
    qtest_clock_step(qts, EDU_DMA_NS);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    g_assert_cmphex(qtest_readq(qts, DMA_RAM + 0x1000), ==,
                    0x0123456789abcdefull);

    /* DMA-stopped (freeze_set DMA): the write to RAM is refused */
    ioda_write(qts, IODA3_TBL_PESTB, DEV_PE, IODA3_PESTB_DMA_STOPPED);
    qtest_writeq(qts, bar + EDU_DMA_DST, DMA_RAM + 0x2000);
    qtest_writeq(qts, bar + EDU_DMA_CMD, EDU_DMA_RUN | EDU_DMA_TO_PCI);
    qtest_clock_step(qts, EDU_DMA_NS);
    g_assert_cmphex(qtest_readq(qts, DMA_RAM + 0x2000), ==, 0);
    /* MMIO still answers: only DMA was stopped */
    g_assert_cmphex(qtest_readq(qts, bar + EDU_DMA_DST), ==,
                    DMA_RAM + 0x2000);

    /* a fence refuses every DMA, whatever the PE's bits: start one first */
    ioda_write(qts, IODA3_TBL_PESTB, DEV_PE, 0);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    qtest_writeq(qts, bar + EDU_DMA_DST, DMA_RAM + 0x3000);
    qtest_writeq(qts, bar + EDU_DMA_CMD, EDU_DMA_RUN | EDU_DMA_TO_PCI);
    qtest_qmp_assert_success(qts, "{'execute': 'x-pnv-eeh-inject',"
                             " 'arguments': {'id': 'nic1', 'kind': 'fence'}}");
    qtest_clock_step(qts, EDU_DMA_NS);
    g_assert_cmphex(qtest_readq(qts, DMA_RAM + 0x3000), ==, 0);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);
    qtest_quit(qts);
}

/* edu's MSI: to the PHB's 64-bit MSI window, XIVE source TEST_MSI_SRC */
#define TEST_MSI_SRC            0x15
#define EDU_IRQ_RAISE           0x60

static uint64_t msi_pq(QTestState *qts)
{
    return qtest_readq(qts, P9_PHB1_INT_BASE + (TEST_MSI_SRC << 12) + ESB_GET);
}

/* Arm TEST_MSI_SRC: PQ 00, the next MSI sets P */
static void msi_arm(QTestState *qts)
{
    qtest_readq(qts, P9_PHB1_INT_BASE + (TEST_MSI_SRC << 12) + ESB_SET_PQ_00);
    g_assert_cmphex(msi_pq(qts), ==, 0);
}

/* Offset of capability @id of bus/devfn below the root port; 0: none */
static uint32_t cfg_find_cap(QTestState *qts, uint8_t bus, uint8_t devfn,
                             uint8_t id)
{
    uint32_t pos = phb_cfg_readl(qts, bus, devfn, PCI_CAPABILITY_LIST) & 0xfc;
    int guard = 48;

    while (pos && (phb_cfg_readl(qts, bus, devfn, pos) & 0xff) != id) {
        pos = (phb_cfg_readl(qts, bus, devfn, pos) >> 8) & 0xfc;
        g_assert_cmpint(--guard, >, 0);
    }
    return pos;
}

/*
 * The 64-bit MSI of bus/devfn to the PHB's MSI window (address 1 << 60),
 * XIVE source TEST_MSI_SRC, enabled; the source armed
 */
static void msi_route(QTestState *qts, uint8_t bus, uint8_t devfn)
{
    uint32_t pos = cfg_find_cap(qts, bus, devfn, PCI_CAP_ID_MSI);
    uint32_t hdr;

    g_assert_cmphex(pos, !=, 0);
    t_phb_writeq(qts, &p9_phb1, PHB_PHB4_CONFIG,
                 t_phb_readq(qts, &p9_phb1, PHB_PHB4_CONFIG) |
                 PHB_PHB4C_64BIT_MSI_EN);
    phb_cfg_writel(qts, bus, devfn, pos + PCI_MSI_ADDRESS_LO, 0);
    phb_cfg_writel(qts, bus, devfn, pos + PCI_MSI_ADDRESS_HI, 0x10000000);
    phb_cfg_writel(qts, bus, devfn, pos + PCI_MSI_DATA_64, TEST_MSI_SRC);
    hdr = phb_cfg_readl(qts, bus, devfn, pos);
    phb_cfg_writel(qts, bus, devfn, pos, hdr | (PCI_MSI_FLAGS_ENABLE << 16));
    msi_arm(qts);
}

static void test_msi_dropped(void)
{
    QTestState *qts;
    uint64_t bar;

    if (!qtest_has_device("edu")) {
        g_test_skip("edu not available");
        return;
    }
    qts = eeh_start("-device edu,id=nic1,bus=" TEST_BUS);
    bar = m32_cpu(0);

    /* edu's MSI (64-bit) to TEST_MSI_SRC; the MSI arrives: P set */
    msi_route(qts, 1, 0);
    qtest_writel(qts, bar + EDU_IRQ_RAISE, 1);
    g_assert_cmphex(msi_pq(qts), ==, 2);

    /* DMA-stopped: the next MSI is discarded by the PHB */
    msi_arm(qts);
    qtest_writel(qts, bar + 0x64, 1);              /* edu: lower the irq */
    ioda_write(qts, IODA3_TBL_PESTB, DEV_PE, IODA3_PESTB_DMA_STOPPED);
    qtest_writel(qts, bar + EDU_IRQ_RAISE, 2);
    g_assert_cmphex(msi_pq(qts), ==, 0);

    /* thawed, MSIs flow again */
    ioda_write(qts, IODA3_TBL_PESTB, DEV_PE, 0);
    qtest_writel(qts, bar + 0x64, 2);
    qtest_writel(qts, bar + EDU_IRQ_RAISE, 4);
    g_assert_cmphex(msi_pq(qts), ==, 2);
    qtest_quit(qts);
}

/* PHB 1's PCI stack registers (FIRs, ETU reset): pec_pci_base + 0x40 */
#define P9_PHB1_PCI_STK_PCBA    (P9_PEC_PCI_BASE + PEC_PCI_STRIDE * 1 + \
                                 PEC_STK_STRIDE * 1)
#define P9_PHB1_REGS_BASE       0x0006004c00000000ull   /* its register BAR */
#define NFIR_FENCE              PPC_BIT(26)     /* what skiboot's creset sets */

static uint64_t pci_stk_addr(uint32_t reg)
{
    return pnv_xscom_addr(pnv_chip(PNV_CHIP_POWER9),
                          P9_PHB1_PCI_STK_PCBA + reg);
}

/* Map the PHB's register BAR (MMIO over the PowerBus, as skiboot uses it) */
static void map_regs_bar(QTestState *qts)
{
    const PhbTarget *t = &p9_phb1;
    uint64_t en = qtest_readq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_BAR_EN));

    qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_PHB_REGS_BAR),
                 P9_PHB1_REGS_BASE << 8);
    qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_BAR_EN),
                 en | PEC_NEST_STK_BAR_EN_PHB);
}

static bool phb_fenced(QTestState *qts)
{
    QDict *pe = query_nic(qts);
    bool fenced = qdict_get_bool(pe, "phb-fenced");

    qobject_unref(pe);
    return fenced;
}

/* What skiboot's phb4_creset() does to the FIRs and the ETU, over XSCOM */
static void creset(QTestState *qts, bool check_steps)
{
    const PhbTarget *t = &p9_phb1;
    uint64_t nfir;

    qtest_writeq(qts, pci_stk_addr(PEC_PCI_STK_ETU_RESET), PPC_BIT(0));
    nfir = qtest_readq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_PCI_NEST_FIR));
    qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_PCI_NEST_FIR_CLR),
                 ~nfir);
    if (check_steps) {
        g_assert_true(phb_fenced(qts));         /* the ETU is still in reset */
    }
    qtest_writeq(qts, pci_stk_addr(PEC_PCI_STK_ETU_RESET), 0);
}

/*
 * A fence stops the whole PHB: its registers over MMIO and the device's
 * BAR read all ones, stores are dropped, the registers stay reachable over
 * XSCOM.  skiboot's complete reset (ETU reset with the nest FIR cleared)
 * lifts it; the forced fence skiboot's creset makes (nest FIR set over
 * XSCOM) fences too.
 */
static void test_fence(void)
{
    const PhbTarget *t = &p9_phb1;
    QTestState *qts = eeh_start_e1000e();
    uint64_t version;

    if (!qts) {
        return;
    }
    map_regs_bar(qts);
    version = t_phb_readq(qts, t, PHB_VERSION);
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_REGS_BASE + PHB_VERSION), ==,
                    version);
    nic_write(qts, E1000E_RDBAH0, 0x5a5a1234);
    g_assert_false(phb_fenced(qts));

    qtest_qmp_assert_success(qts, "{'execute': 'x-pnv-eeh-inject',"
                             " 'arguments': {'id': 'nic1', 'kind': 'fence'}}");
    g_assert_true(phb_fenced(qts));
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_REGS_BASE +
                                PHB_CPU_LOADSTORE_STATUS), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_REGS_BASE + PHB_VERSION), ==,
                    UINT64_MAX);
    g_assert_cmphex(t_phb_readq(qts, t, PHB_VERSION), ==, version);  /* ASB */
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
    nic_write(qts, E1000E_RDBAH0, 0x11112222);                   /* dropped */
    g_assert_cmphex(qtest_readq(qts, t_nest_xscom_addr(t,
                                PEC_NEST_STK_PCI_NEST_FIR)) & NFIR_FENCE, ==,
                    NFIR_FENCE);
    /* a PE freeze is not a fence: the PE's own bits are untouched */
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);

    creset(qts, true);
    g_assert_false(phb_fenced(qts));
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_REGS_BASE + PHB_VERSION), ==,
                    version);
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0x5a5a1234);

    /* skiboot's forced fence: a nest FIR bit set over XSCOM */
    qtest_writeq(qts, t_nest_xscom_addr(t, PEC_NEST_STK_PCI_NEST_FIR_SET),
                 NFIR_FENCE);
    g_assert_true(phb_fenced(qts));
    g_assert_cmphex(nic_read(qts, E1000E_RDBAH0), ==, 0xffffffff);
    /* released with the FIR still set: still fenced */
    qtest_writeq(qts, pci_stk_addr(PEC_PCI_STK_ETU_RESET), PPC_BIT(0));
    qtest_writeq(qts, pci_stk_addr(PEC_PCI_STK_ETU_RESET), 0);
    g_assert_true(phb_fenced(qts));
    creset(qts, false);
    g_assert_false(phb_fenced(qts));

    /* a machine reset lifts it too */
    qtest_qmp_assert_success(qts, "{'execute': 'x-pnv-eeh-inject',"
                             " 'arguments': {'id': 'nic1', 'kind': 'fence'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_false(phb_fenced(qts));
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_REGS_BASE + PHB_VERSION), ==,
                    version);
    qtest_quit(qts);
}

/* The switch of the surprise-down test: upstream port, downstream port */
#define PCI_ERR_UNC_SURPRISE_DOWN 0x00000020  /* AER: Surprise Down */
#define SW_USP_BUS      1
#define SW_DSP_BUS      2
#define SW_SLOT_BUS     3
#define SW_DSP_RID      0x0200          /* bus 2, devfn 0 */
#define SW_DSP_PE       7
#define SW_NIC_RID      0x0300
#define SW_NIC_PE       6

static void cfg_set16(QTestState *qts, uint8_t bus, uint8_t devfn,
                      uint32_t off, uint16_t bits)
{
    uint32_t v = phb_cfg_readl(qts, bus, devfn, off & ~3);

    phb_cfg_writel(qts, bus, devfn, off & ~3, v | (bits << (8 * (off & 2))));
}

/* Acknowledge the downstream port's slot events, as pnv_php's handler does */
static void dsp_ack_events(QTestState *qts)
{
    uint32_t exp = cfg_find_cap(qts, SW_DSP_BUS, 0, PCI_CAP_ID_EXP);

    /* SLTSTA (write 1 to clear) is the high half of SLTCTL's dword */
    phb_cfg_writel(qts, SW_DSP_BUS, 0, exp + PCI_EXP_SLTCTL,
                   (phb_cfg_readl(qts, SW_DSP_BUS, 0, exp + PCI_EXP_SLTCTL) &
                    0xffff) |
                   ((PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC) << 16));
    msi_arm(qts);
}

/* device_add of an e1000e @id below the downstream port */
static void dsp_insert(QTestState *qts, const char *id)
{
    qtest_qmp_assert_success(qts, "{'execute': 'device_add', 'arguments':"
                             " {'driver': 'e1000e', 'id': %s,"
                             " 'bus': 'dsp', 'romfile': ''}}", id);
}

/* What skiboot's phb4_switch_port_init() and Linux do to a switch port */
static void switch_port_init(QTestState *qts, uint8_t bus, bool dsp)
{
    uint32_t exp = cfg_find_cap(qts, bus, 0, PCI_CAP_ID_EXP);

    g_assert_cmphex(exp, !=, 0);
    cfg_set16(qts, bus, 0, PCI_COMMAND, PCI_COMMAND_SERR);
    cfg_set16(qts, bus, 0, PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_SERR);
    cfg_set16(qts, bus, 0, exp + PCI_EXP_DEVCTL,
              PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE);
    phb_cfg_writel(qts, bus, 0, 0x100 + PCI_ERR_UNCOR_MASK, 0);
    if (dsp) {
        /* downstream ports: only FCP and internal errors are fatal */
        phb_cfg_writel(qts, bus, 0, 0x100 + PCI_ERR_UNCOR_SEVER,
                       PCI_ERR_UNC_FCP | PCI_ERR_UNC_INTN);
    }
}

/*
 * PHB 1 with a switch in pcie.1 (bus 1 upstream port, bus 2 downstream
 * port "dsp", bus 3 an e1000e "nic1"), bus numbers, RTT and error
 * reporting set up as skiboot and Linux leave them, the downstream port's
 * hot-plug events on its MSI (TEST_MSI_SRC).  @dsp_opts: extra properties
 * of the downstream port.
 */
static QTestState *switch_start(const char *dsp_opts)
{
    const PhbTarget *t = &p9_phb1;
    uint32_t exp;
    g_autofree char *devs =
        g_strdup_printf("-device x3130-upstream,id=usp,bus=" TEST_BUS
                        " -device xio3130-downstream,id=dsp,bus=usp,"
                        "chassis=9,slot=1%s"
                        " -device e1000e,id=nic1,bus=dsp,romfile=",
                        dsp_opts);
    QTestState *qts = eeh_start(devs);

    t_rp_config_writel(qts, t, PCI_PRIMARY_BUS,
                       (t_rp_config_readl(qts, t, PCI_PRIMARY_BUS) &
                        0xff000000) | (SW_SLOT_BUS << 16) |
                       (SW_USP_BUS << 8));
    phb_cfg_writel(qts, SW_USP_BUS, 0, PCI_PRIMARY_BUS,
                   (SW_SLOT_BUS << 16) | (SW_DSP_BUS << 8) | SW_USP_BUS);
    phb_cfg_writel(qts, SW_DSP_BUS, 0, PCI_PRIMARY_BUS,
                   (SW_SLOT_BUS << 16) | (SW_SLOT_BUS << 8) | SW_DSP_BUS);
    g_assert_cmphex(phb_cfg_readl(qts, SW_SLOT_BUS, 0, PCI_VENDOR_ID),
                    ==, 0x10d38086);                    /* the e1000e */
    qtest_writew(qts, MSI_RTT_BASE + 2 * SW_DSP_RID, SW_DSP_PE);
    qtest_writew(qts, MSI_RTT_BASE + 2 * SW_NIC_RID, SW_NIC_PE);
    switch_port_init(qts, SW_USP_BUS, false);
    switch_port_init(qts, SW_DSP_BUS, true);

    exp = cfg_find_cap(qts, SW_DSP_BUS, 0, PCI_CAP_ID_EXP);
    cfg_set16(qts, SW_DSP_BUS, 0, PCI_COMMAND, PCI_COMMAND_MASTER);
    cfg_set16(qts, SW_DSP_BUS, 0, exp + PCI_EXP_SLTCTL,
              PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE |
              PCI_EXP_SLTCTL_DLLSCE);
    msi_route(qts, SW_DSP_BUS, 0);
    return qts;
}

/*
 * A downstream port that reports Surprise Down (x-surprise-down-error)
 * loses its link without warning: its hot-plug MSI goes out, then its
 * ERR_NONFATAL message (skiboot makes Surprise Down non-fatal there)
 * freezes its PE at the PHB, logged with the PCIe non-fatal cause and its
 * requester ID, without the ER interrupt.  The freeze blocks the port's
 * next hot-plug MSI (a2a2a6fc24695's stall) until firmware thaws the PE.
 * Without the property nothing is frozen.
 */
static void test_surprise_down(void)
{
    QTestState *qts;
    uint32_t exp;
    uint64_t pest0;

    if (!qtest_has_device("e1000e") || !qtest_has_device("x3130-upstream")) {
        g_test_skip("e1000e or the xio3130 switch not available");
        return;
    }
    qts = switch_start(",x-surprise-down-error=on");
    exp = cfg_find_cap(qts, SW_DSP_BUS, 0, PCI_CAP_ID_EXP);
    g_assert_cmphex(phb_cfg_readl(qts, SW_DSP_BUS, 0, exp + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_SDERC, ==, PCI_EXP_LNKCAP_SDERC);
    qtest_readq(qts, P9_PHB1_INT_BASE + (ER_LSI << 12) + ESB_SET_PQ_00);

    qtest_qmp_assert_success(qts, "{'execute': 'x-pcie-surprise-remove',"
                             " 'arguments': {'id': 'nic1'}}");
    g_assert_cmphex(msi_pq(qts), ==, 2);        /* the removal's MSI */
    g_assert_cmphex(phb_cfg_readl(qts, SW_DSP_BUS, 0,
                                  0x100 + PCI_ERR_UNCOR_STATUS) &
                    PCI_ERR_UNC_SURPRISE_DOWN, ==, PCI_ERR_UNC_SURPRISE_DOWN);
    g_assert_cmphex(pest_bits(qts, SW_DSP_PE), ==, 3);
    pest0 = qtest_readq(qts, PEST_BASE + 16 * SW_DSP_PE);
    g_assert_cmphex(pest0, ==, IODA3_PEST0_PCIE_NONFATAL |
                    ((uint64_t)SW_DSP_RID << 16));
    g_assert_cmphex(qtest_readq(qts, P9_PHB1_INT_BASE + (ER_LSI << 12) +
                                ESB_GET), ==, 0);      /* no ER interrupt */
    g_assert_cmphex(pest_bits(qts, SW_NIC_PE), ==, 0);
    g_assert_cmphex(pest_bits(qts, DEV_PE), ==, 0);     /* the upstream port */

    /* a card inserted while frozen: its presence MSI is discarded */
    dsp_ack_events(qts);
    dsp_insert(qts, "nic2");
    g_assert_cmphex(msi_pq(qts), ==, 0);

    /* thawed (pnv_php since a2a2a6fc24695), the port's MSIs flow again */
    dsp_ack_events(qts);
    pe_thaw(qts, SW_DSP_PE);
    qtest_qmp_assert_success(qts, "{'execute': 'x-pcie-surprise-remove',"
                             " 'arguments': {'id': 'nic2'}}");
    g_assert_cmphex(msi_pq(qts), ==, 2);
    g_assert_cmphex(pest_bits(qts, SW_DSP_PE), ==, 3);  /* and froze again */
    qtest_quit(qts);

    /* without x-surprise-down-error: no Surprise Down, no freeze, MSIs */
    qts = switch_start("");
    qtest_qmp_assert_success(qts, "{'execute': 'x-pcie-surprise-remove',"
                             " 'arguments': {'id': 'nic1'}}");
    g_assert_cmphex(msi_pq(qts), ==, 2);
    g_assert_cmphex(phb_cfg_readl(qts, SW_DSP_BUS, 0,
                                  0x100 + PCI_ERR_UNCOR_STATUS) &
                    PCI_ERR_UNC_SURPRISE_DOWN, ==, 0);
    g_assert_cmphex(pest_bits(qts, SW_DSP_PE), ==, 0);
    dsp_ack_events(qts);
    dsp_insert(qts, "nic2");
    g_assert_cmphex(msi_pq(qts), ==, 2);
    qtest_quit(qts);
}

static void test_bad_input(void)
{
    QTestState *qts;

    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return;
    }
    qts = qtest_initf("-M powernv9 -bios /dev/null "
                      "-device e1000e,id=nic1,bus=" TEST_BUS ",romfile=");
    qmp_assert_error(qts, "DeviceNotFound", "nope",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': 'nope', 'kind': 'mmio-load'}}");
    qmp_assert_error(qts, "GenericError", "not a PCI device",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': '/machine/chip[0]', 'kind': 'mmio-load'}}");
    qmp_assert_error(qts, "GenericError", "'kind' does not accept value",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': 'nic1', 'kind': 'fence-all'}}");
    /* no firmware ran: no RTT, no PEs */
    qmp_assert_error(qts, "GenericError", "RTT",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': 'nic1', 'kind': 'mmio-load'}}");
    qmp_assert_error(qts, "GenericError", "not to a PHB fence",
                     "{'execute': 'x-pnv-eeh-inject', 'arguments':"
                     " {'id': 'nic1', 'kind': 'fence', 'persistent': true}}");
    qmp_assert_error(qts, "GenericError", "nothing to freeze",
                     "{'execute': 'x-pnv-eeh-freeze', 'arguments':"
                     " {'id': 'nic1', 'mmio': false, 'dma': false}}");
    qmp_assert_error(qts, "GenericError", "RTT",
                     "{'execute': 'x-query-pnv-eeh', 'arguments':"
                     " {'id': 'nic1'}}");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("pnv-phb-eeh/firmware-freeze-thaw",
                   test_firmware_freeze_thaw);
    qtest_add_func("pnv-phb-eeh/mmio-miss-freezes", test_mmio_miss_freezes);
    qtest_add_func("pnv-phb-eeh/qmp-inject", test_qmp_inject);
    qtest_add_func("pnv-phb-eeh/persistent", test_persistent);
    qtest_add_func("pnv-phb-eeh/cfg-inject", test_cfg_inject);
    qtest_add_func("pnv-phb-eeh/dma", test_dma);
    qtest_add_func("pnv-phb-eeh/msi-dropped", test_msi_dropped);
    qtest_add_func("pnv-phb-eeh/fence", test_fence);
    qtest_add_func("pnv-phb-eeh/surprise-down", test_surprise_down);
    qtest_add_func("pnv-phb-eeh/bad-input", test_bad_input);
    return g_test_run();
}
