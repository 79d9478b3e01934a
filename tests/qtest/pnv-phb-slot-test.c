/*
 * QTest testcase for the PCIe slot of the PowerNV PHB4 root port
 *
 * libqtest runs QEMU with -accel qtest, so no firmware executes.  The
 * root port of PHB 1 on chip 0 of a powernv9 machine is reached over
 * XSCOM: the PHB registers through the PHB "HV indirect" address/data
 * pair, and the root port itself (bus 0, devfn 0 of the PHB) through
 * the PHB's root complex configuration window (PHB_RC_CONFIG_BASE).
 * The PHB_CONFIG_ADDRESS/DATA path does not serve bus 0 devfn 0 in the
 * PHB4 model; it serves the devices below the root port.  The MMIO and
 * MSI cases map the PHB's windows with XSCOM as skiboot would (PEC nest
 * BARs, MBT, RTT), and the PHB5 cases use PHB 1 of a powernv10.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "pnv-phb4-qtest.h"

/* The original helpers: PHB 1 of a powernv9 */
static uint32_t rp_config_readl(QTestState *qts, uint32_t off)
{
    return t_rp_config_readl(qts, &p9_phb1, off);
}

static void rp_config_writel(QTestState *qts, uint32_t off, uint32_t val)
{
    t_rp_config_writel(qts, &p9_phb1, off, val);
}

static uint32_t rp_find_exp_cap(QTestState *qts)
{
    return t_rp_find_exp_cap(qts, &p9_phb1);
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

/* ---------------------------------------------------------------- helpers */

static QTestState *pnv_start(const char *machine, const char *extra)
{
    return qtest_initf("-M %s -bios /dev/null %s", machine, extra ? extra : "");
}

static void rp_sltctl_write(QTestState *qts, uint32_t sltctl_off,
                            uint16_t sltctl, uint16_t sltsta_w1c)
{
    /* the RC window is dword-only: SLTSTA rides along in the high half */
    rp_config_writel(qts, sltctl_off, ((uint32_t)sltsta_w1c << 16) | sltctl);
}

static uint16_t rp_sltsta(QTestState *qts, uint32_t exp_cap)
{
    return rp_config_readl(qts, exp_cap + PCI_EXP_SLTCTL) >> 16;
}

static uint16_t rp_sltctl(QTestState *qts, uint32_t exp_cap)
{
    return rp_config_readl(qts, exp_cap + PCI_EXP_SLTCTL) & 0xffff;
}

static uint16_t rp_lnksta(QTestState *qts, uint32_t exp_cap)
{
    return rp_config_readl(qts, exp_cap + PCI_EXP_LNKCTL) >> 16;
}

static bool rp_dlllarc(QTestState *qts, uint32_t exp_cap)
{
    return rp_config_readl(qts, exp_cap + PCI_EXP_LNKCAP) &
           PCI_EXP_LNKCAP_DLLLARC;
}

/* QMP command (no interpolation) that must succeed with an empty return */
static void qmp_ok(QTestState *qts, const char *cmd)
{
    QDict *resp = qtest_qmp(qts, cmd, NULL);

    g_assert(resp);
    if (qdict_haskey(resp, "error")) {
        g_test_message("unexpected error for %s: %s", cmd,
                       qdict_get_str(qdict_get_qdict(resp, "error"), "desc"));
    }
    g_assert_false(qdict_haskey(resp, "error"));
    g_assert_cmpuint(qdict_size(qdict_get_qdict(resp, "return")), ==, 0);
    qobject_unref(resp);
}

/* QMP command that must fail with class @cls, @what in the description */
static void qmp_err(QTestState *qts, const char *cmd, const char *cls,
                    const char *what)
{
    QDict *resp = qtest_qmp(qts, cmd, NULL);
    QDict *err;
    const char *desc;

    g_assert(resp);
    g_assert_false(qdict_haskey(resp, "return"));
    err = qdict_get_qdict(resp, "error");
    g_assert(err);
    desc = qdict_get_str(err, "desc");
    g_test_message("%s -> %s", cmd, desc);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, cls);
    g_assert_nonnull(strstr(desc, what));
    qobject_unref(resp);
}

static void wait_device_deleted(QTestState *qts, const char *id)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, "DEVICE_DELETED");
    QDict *data = qdict_get_qdict(ev, "data");
    g_autofree char *path = g_strconcat("/machine/peripheral/", id, NULL);

    g_assert_cmpstr(qdict_get_try_str(data, "device"), ==, id);
    g_assert_cmpstr(qdict_get_str(data, "path"), ==, path);
    qobject_unref(ev);
}

static bool qom_path_exists(QTestState *qts, const char *path)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-list',"
                            " 'arguments': {'path': %s}}", path);
    bool found = qdict_haskey(resp, "return");

    qobject_unref(resp);
    return found;
}

/* ------------------------------------------------------------- 1: MSI */

static void test_msi_capability(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t pos = rp_config_readl(qts, PCI_CAPABILITY_LIST) & 0xfc;
    uint32_t msi_pos = 0, exp_pos = 0, hdr, flags_irq;
    uint16_t msi_flags;
    int guard = 48;

    while (pos && guard--) {
        hdr = rp_config_readl(qts, pos);
        g_test_message("capability 0x%02x at 0x%02x", hdr & 0xff, pos);
        g_assert_cmphex(pos, >=, 0x40);             /* not in the header */
        g_assert_cmphex(hdr & 0xff, !=, PCI_CAP_ID_MSIX);
        if ((hdr & 0xff) == PCI_CAP_ID_MSI) {
            g_assert_cmphex(msi_pos, ==, 0);        /* exactly one */
            msi_pos = pos;
        } else if ((hdr & 0xff) == PCI_CAP_ID_EXP) {
            exp_pos = pos;
        }
        pos = (hdr >> 8) & 0xfc;
    }
    g_assert_cmpint(guard, >=, 0);

    g_assert_cmphex(msi_pos, ==, RP_MSI_OFFSET);
    g_assert_cmphex(exp_pos, !=, 0);
    /*
     * The 64-bit MSI capability (0x0e bytes) clears the PCIe one
     * (PCI_EXP_VER2_SIZEOF, 0x3c bytes)
     */
    g_assert_cmphex(exp_pos + 0x3c, <=, RP_MSI_OFFSET);

    msi_flags = rp_config_readl(qts, RP_MSI_OFFSET) >> 16;
    g_assert_cmphex(msi_flags & PCI_MSI_FLAGS_64BIT, ==, PCI_MSI_FLAGS_64BIT);
    g_assert_cmphex(msi_flags & PCI_MSI_FLAGS_QMASK, ==, 0);     /* 1 vector */
    g_assert_cmphex(msi_flags & PCI_MSI_FLAGS_MASKBIT, ==, 0);
    g_assert_cmphex(msi_flags & PCI_MSI_FLAGS_ENABLE, ==, 0);    /* at reset */

    /* Address (64-bit) and data are writable */
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_LO, 0xfedcba90);
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_HI, 0x10000000);
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_DATA_64, 0x1234);
    g_assert_cmphex(rp_config_readl(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_LO),
                    ==, 0xfedcba90);
    g_assert_cmphex(rp_config_readl(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_HI),
                    ==, 0x10000000);
    g_assert_cmphex(rp_config_readl(qts, RP_MSI_OFFSET + PCI_MSI_DATA_64) &
                    0xffff, ==, 0x1234);

    /* PCIe capability's interrupt message number: vector 0, the only one */
    flags_irq = (rp_config_readl(qts, exp_pos) >> 16) & PCI_EXP_FLAGS_IRQ;
    g_assert_cmphex(flags_irq, ==, 0);

    /* No INTx: interrupt pin 0 */
    g_assert_cmphex((rp_config_readl(qts, PCI_INTERRUPT_LINE) >> 8) & 0xff,
                    ==, 0);

    qtest_quit(qts);
}

/*
 * The slot's MSI end to end: root port MSI -> PHB 64-bit MSI window ->
 * XIVE source PQ bits, read back through the PHB's ESB pages.
 */
#define TEST_MSI_SRC            0x15    /* data & 0x1f, address offset 0 */
#define ESB_GET                 0x800   /* XIVE_ESB_GET (hw/ppc/xive.h) */
#define ESB_SET_PQ_00           0xc00   /* XIVE_ESB_SET_PQ_00 */
#define ESB_PQ_00               0
#define ESB_PQ_10               2       /* P: event sent to the router */
#define ESB_PQ_11               3       /* P and Q: another one queued */
#define ESB_PQ_OFF              1       /* 01: reset state */

static uint64_t esb_page(uint32_t srcno)
{
    return P9_PHB1_INT_BASE + ((uint64_t)srcno << 12);  /* 4K, one page */
}

static uint64_t msi_pq(QTestState *qts)
{
    return qtest_readq(qts, esb_page(TEST_MSI_SRC) + ESB_GET);
}

/* PHB and root port set up so that the root port's MSI lands in XIVE */
static void msi_setup(QTestState *qts)
{
    const PhbTarget *t = &p9_phb1;
    uint32_t hdr, cmd;

    /*
     * PHB side: RTT (PE lookup for MSIs; an all-zero RTT gives PE 0) and
     * the 64-bit MSI window at 1 << 60 of every device's DMA space
     */
    t_phb_writeq(qts, t, PHB_RTT_BAR, PHB_RTT_BAR_ENABLE | MSI_RTT_BASE);
    t_phb_writeq(qts, t, PHB_PHB4_CONFIG,
                 t_phb_readq(qts, t, PHB_PHB4_CONFIG) | PHB_PHB4C_64BIT_MSI_EN);
    p9_phb1_map_bars(qts, false, true);

    /* The source starts OFF (PQ=01): arm it */
    g_assert_cmphex(qtest_readq(qts, esb_page(TEST_MSI_SRC) + ESB_SET_PQ_00),
                    ==, ESB_PQ_OFF);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_00);

    /* Root port: bus master, MSI to 1 << 60 with data TEST_MSI_SRC */
    cmd = rp_config_readl(qts, PCI_COMMAND);
    rp_config_writel(qts, PCI_COMMAND, (cmd & 0xffff) | PCI_COMMAND_MASTER);
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_LO, 0);
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_ADDRESS_HI, 0x10000000);
    rp_config_writel(qts, RP_MSI_OFFSET + PCI_MSI_DATA_64, TEST_MSI_SRC);
    hdr = rp_config_readl(qts, RP_MSI_OFFSET);
    rp_config_writel(qts, RP_MSI_OFFSET, hdr | (PCI_MSI_FLAGS_ENABLE << 16));
    g_assert_cmphex((rp_config_readl(qts, RP_MSI_OFFSET) >> 16) &
                    PCI_MSI_FLAGS_ENABLE, ==, PCI_MSI_FLAGS_ENABLE);

    /* Nothing sent yet */
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_00);
}

/*
 * Events raised from outside the PHB (QMP here, device_add or a surprise
 * removal alike): one MSI per new pending event.
 */
/*
 * The guest enables hot-plug interrupts plus @events in Slot Control.  The
 * write is a slot command: it reads back, and Command Completed is the only
 * event it leaves (the state bits, e.g. Presence Detect State with a card
 * in the slot, stay as they were).  Returns the Slot Control value written.
 */
#define SLTSTA_STATE    (PCI_EXP_SLTSTA_MRLSS | PCI_EXP_SLTSTA_PDS | \
                         PCI_EXP_SLTSTA_EIS)

static uint16_t rp_enable_slot_events(QTestState *qts, uint32_t exp_cap,
                                      uint16_t events)
{
    uint16_t sltctl = rp_sltctl(qts, exp_cap) | PCI_EXP_SLTCTL_HPIE | events;
    uint16_t state = rp_sltsta(qts, exp_cap) & SLTSTA_STATE;

    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, state);
    rp_sltctl_write(qts, exp_cap + PCI_EXP_SLTCTL, sltctl, 0);
    g_assert_cmphex(rp_sltctl(qts, exp_cap), ==, sltctl);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, state | PCI_EXP_SLTSTA_CC);
    return sltctl;
}

static void test_msi_delivery(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    uint16_t sltctl;

    msi_setup(qts);

    /* Hot-plug interrupt + power fault events; no CC interrupts */
    sltctl = rp_enable_slot_events(qts, exp_cap, PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_00);

    qmp_ok(qts, "{'execute': 'x-pcie-power-fault',"
                " 'arguments': {'port': '" TEST_BUS "'}}");
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==,
                    PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_PFD);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);

    /* Still pending: a second fault is no new event */
    qmp_ok(qts, "{'execute': 'x-pcie-power-fault',"
                " 'arguments': {'port': '" TEST_BUS "'}}");
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);

    /* Acknowledge (W1C PFD and CC), then a new fault: second MSI */
    rp_sltctl_write(qts, sltctl_off, sltctl,
                    PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);
    qmp_ok(qts, "{'execute': 'x-pcie-power-fault',"
                " 'arguments': {'port': '" TEST_BUS "'}}");
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_11);

    /* Other sources untouched */
    g_assert_cmphex(qtest_readq(qts, esb_page(TEST_MSI_SRC + 1) + ESB_GET),
                    ==, ESB_PQ_OFF);

    qtest_quit(qts);
}

/*
 * Events raised by the guest's own Slot Control write (Command Completed
 * here; equally PDC after powering a slot off).  The write reaches the root
 * port through a PHB register region (XSCOM here, the PHB MMIO BAR for
 * skiboot), and the MSI it raises is a DMA write into the same PHB's msi64
 * region.  Both regions belong to the PHB device, so QEMU's re-entrancy
 * guard would drop the MSI ("Blocked re-entrant IO on MemoryRegion: msi64");
 * hw/pci-host/pnv_phb4_mmio_error.c exempts the PHB's MSI windows.
 *
 * Once delivered, it also shows that SLTSTA.CC is write-1-to-clear although
 * the RC window always rewrites SLTCTL (a new command) with SLTSTA: the
 * second MSI needs CC to have gone through 0.
 */
static void test_msi_guest_command(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    uint16_t sltctl;

    msi_setup(qts);

    sltctl = rp_enable_slot_events(qts, exp_cap, PCI_EXP_SLTCTL_CCIE);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);

    rp_sltctl_write(qts, sltctl_off, sltctl, PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_11);

    qtest_quit(qts);
}

/* ------------------------------------------- 2: slot control / status */

static void test_slot_power_controller(void)
{
    QTestState *qts;
    uint32_t exp_cap, sltctl_off;
    uint16_t on, off;

    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return;
    }
    qts = pnv_phb_slot_start("-device e1000e,id=nic0,bus=" TEST_BUS
                             ",romfile=");
    exp_cap = rp_find_exp_cap(qts);
    sltctl_off = exp_cap + PCI_EXP_SLTCTL;

    g_assert_cmphex(rp_read_sltcap(qts) & PCI_EXP_SLTCAP_PCP, ==,
                    PCI_EXP_SLTCAP_PCP);
    g_test_message("SLTCTL after reset, populated slot: 0x%04x",
                   rp_sltctl(qts, exp_cap));
    /* cold-plugged: present, powered, no event */
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_PDS);
    g_assert_cmphex(rp_sltctl(qts, exp_cap) & PCI_EXP_SLTCTL_PCC, ==,
                    PCI_EXP_SLTCTL_PWR_ON);

    /* Power indicator on, power on: a command, the card stays */
    on = (rp_sltctl(qts, exp_cap) & ~(PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PCC |
                                      SLTCTL_EVENT_ENABLES)) |
         PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_PWR_ON;
    rp_sltctl_write(qts, sltctl_off, on, 0);
    g_assert_cmphex(rp_sltctl(qts, exp_cap), ==, on);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==,
                    PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_CC);
    g_assert_true(qom_path_exists(qts, "/machine/peripheral/nic0"));

    /* Power off with the indicator off: QEMU detaches the card */
    off = (on & ~PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_IND_OFF |
          PCI_EXP_SLTCTL_PWR_OFF;
    rp_sltctl_write(qts, sltctl_off, off, 0);
    wait_device_deleted(qts, "nic0");
    g_assert_false(qom_path_exists(qts, "/machine/peripheral/nic0"));
    g_assert_cmphex(rp_sltctl(qts, exp_cap), ==, off);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==, 0);

    qtest_quit(qts);
}

static void test_slot_indicators(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    uint32_t sltcap = rp_read_sltcap(qts);
    uint16_t base, v;
    static const uint16_t pic[] = { PCI_EXP_SLTCTL_PWR_IND_ON,
                                    PCI_EXP_SLTCTL_PWR_IND_BLINK,
                                    PCI_EXP_SLTCTL_PWR_IND_OFF };
    static const uint16_t aic[] = { PCI_EXP_SLTCTL_ATTN_IND_BLINK,
                                    PCI_EXP_SLTCTL_ATTN_IND_ON,
                                    PCI_EXP_SLTCTL_ATTN_IND_OFF };

    g_assert_cmphex(sltcap & (PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_AIP), ==,
                    PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_AIP);

    /* Empty slot after reset: powered off, both indicators off */
    base = rp_sltctl(qts, exp_cap);
    g_assert_cmphex(base & PCI_EXP_SLTCTL_PIC, ==, PCI_EXP_SLTCTL_PWR_IND_OFF);
    g_assert_cmphex(base & PCI_EXP_SLTCTL_AIC, ==, PCI_EXP_SLTCTL_ATTN_IND_OFF);
    g_assert_cmphex(base & PCI_EXP_SLTCTL_PCC, ==, PCI_EXP_SLTCTL_PWR_OFF);
    base &= ~(PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC);

    for (int i = 0; i < ARRAY_SIZE(pic); i++) {
        v = base | pic[i] | aic[i];
        rp_sltctl_write(qts, sltctl_off, v, 0);
        g_assert_cmphex(rp_sltctl(qts, exp_cap), ==, v);
    }
    /* EIC reads 0 (and the slot has no interlock: EIS stays 0) */
    rp_sltctl_write(qts, sltctl_off, v | PCI_EXP_SLTCTL_EIC, 0);
    g_assert_cmphex(rp_sltctl(qts, exp_cap) & PCI_EXP_SLTCTL_EIC, ==, 0);

    qtest_quit(qts);
}

/*
 * Command Completed.  SLTCAP.NCCS is clear, so every SLTCTL write sets CC.
 * Through the dword-only RC window a write to SLTSTA always rewrites
 * SLTCTL too, i.e. issues a command, so CC reads back set right after
 * being cleared.  W1C of CC itself is observable through the MSI a second
 * CC event sends (test_msi_guest_command).  Here: CC sets on an SLTCTL
 * write, stays set (a read-only write of status changes nothing), and the
 * W1C write completes as a command again.
 */
static void test_slot_command_completed(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    uint16_t sltctl = rp_sltctl(qts, exp_cap);

    g_assert_cmphex(rp_read_sltcap(qts) & PCI_EXP_SLTCAP_NCCS, ==, 0);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, 0);
    g_assert_cmphex(sltctl & SLTCTL_EVENT_ENABLES, ==, 0);

    rp_sltctl_write(qts, sltctl_off, sltctl, 0);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_CC);

    rp_sltctl_write(qts, sltctl_off, sltctl, PCI_EXP_SLTSTA_CC);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_CC);

    qtest_quit(qts);
}

/*
 * SLTCTL.DLLSCE is only meaningful (and writable) on a port with Data Link
 * Layer Link Active Reporting (LNKCAP.DLLLARC); SLTCTL.PFDE on a slot with
 * a power controller (SLTCAP.PCP), both per PCIe r6 7.5.3.10.
 * pcie_slot_fault_init() makes them writable on those conditions.
 */
static void check_dllsce_pfde(const char *extra)
{
    QTestState *qts = pnv_phb_slot_start(extra);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    bool dlllarc = rp_dlllarc(qts, exp_cap);
    uint16_t sltctl = rp_sltctl(qts, exp_cap);

    g_test_message("%s: LNKCAP.DLLLARC=%d", extra ? extra : "default", dlllarc);
    g_assert_cmphex(sltctl & (PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE),
                    ==, 0);                         /* reset value */

    rp_sltctl_write(qts, sltctl_off, sltctl | PCI_EXP_SLTCTL_DLLSCE, 0);
    g_assert_cmphex(rp_sltctl(qts, exp_cap) & PCI_EXP_SLTCTL_DLLSCE, ==,
                    dlllarc ? PCI_EXP_SLTCTL_DLLSCE : 0);

    rp_sltctl_write(qts, sltctl_off, sltctl | PCI_EXP_SLTCTL_PFDE, 0);
    g_assert_cmphex(rp_sltctl(qts, exp_cap) & PCI_EXP_SLTCTL_PFDE, ==,
                    PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(rp_sltctl(qts, exp_cap) & PCI_EXP_SLTCTL_DLLSCE, ==, 0);

    qtest_quit(qts);
}

static void test_slot_dllsce_pfde(void)
{
    check_dllsce_pfde(NULL);
}

static void test_slot_dllsce_pfde_surprise(void)
{
    check_dllsce_pfde("-global pnv-phb-root-port.surprise-pluggable=on");
}

/* ------------------------------------------------- 3: surprise removal */

static void test_surprise_remove(void)
{
    QTestState *qts;
    uint32_t exp_cap, sltctl_off;
    uint16_t dllsc, sltctl;
    bool dlllarc;

    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return;
    }
    qts = pnv_phb_slot_start("-global pnv-phb-root-port.surprise-pluggable=on"
                             " -device e1000e,id=nic1,bus=" TEST_BUS
                             ",romfile=");
    exp_cap = rp_find_exp_cap(qts);
    sltctl_off = exp_cap + PCI_EXP_SLTCTL;
    dlllarc = rp_dlllarc(qts, exp_cap);
    /* Data Link Layer State Changed is reported only with DLLLARC */
    dllsc = dlllarc ? PCI_EXP_SLTSTA_DLLSC : 0;
    g_test_message("LNKCAP.DLLLARC=%d", dlllarc);

    g_assert_cmphex(rp_read_sltcap(qts) & PCI_EXP_SLTCAP_HPS, ==,
                    PCI_EXP_SLTCAP_HPS);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_PDS);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);

    qmp_err(qts, "{'execute': 'x-pcie-surprise-remove',"
                 " 'arguments': {'id': 'no-such-nic'}}",
            "DeviceNotFound", "no-such-nic");

    qmp_ok(qts, "{'execute': 'x-pcie-surprise-remove',"
                " 'arguments': {'id': 'nic1'}}");
    wait_device_deleted(qts, "nic1");
    g_assert_false(qom_path_exists(qts, "/machine/peripheral/nic1"));

    /* Not the attention button: PDC (+ DLLSC), no ABP, PDS clear */
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_PDC | dllsc);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==, 0);

    /* Link down, then up, addressed by the secondary bus name */
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': '" TEST_BUS "', 'up': false}}");
    qmp_err(qts, "{'execute': 'x-pcie-link-set',"
                 " 'arguments': {'port': '" TEST_BUS "', 'up': false}}",
            "GenericError", "already down");
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': '" TEST_BUS "', 'up': true}}");
    /* empty slot: the link has nothing to train with */
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    qmp_err(qts, "{'execute': 'x-pcie-link-set',"
                 " 'arguments': {'port': '" TEST_BUS "', 'up': true}}",
            "GenericError", "already up");
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_PDC | dllsc);

    /* Power fault */
    qmp_ok(qts, "{'execute': 'x-pcie-power-fault',"
                " 'arguments': {'port': '" TEST_BUS "'}}");
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_PFD | dllsc);

    /* PFD, PDC and DLLSC are write-1-to-clear (the write adds CC) */
    sltctl = rp_sltctl(qts, exp_cap);
    g_assert_cmphex(sltctl & SLTCTL_EVENT_ENABLES, ==, 0);
    rp_sltctl_write(qts, sltctl_off, sltctl, PCI_EXP_SLTSTA_PFD);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC | dllsc);
    rp_sltctl_write(qts, sltctl_off, sltctl, PCI_EXP_SLTSTA_PDC | dllsc);
    g_assert_cmphex(rp_sltsta(qts, exp_cap), ==, PCI_EXP_SLTSTA_CC);

    qtest_quit(qts);
}

/* ------------------------------------------ 4: MMIO nobody claims */

#define E1000E_VENDOR_DEVICE    0x10d38086u
#define E1000E_RDBAH0           0x2804          /* plain RW register */

static void test_mmio_unclaimed(void)
{
    QTestState *qts;
    uint64_t unclaimed = p9_phb1_m32_cpu(P9_PHB1_M32_PCI_START + 0x08000000);
    uint64_t bar = p9_phb1_m32_cpu(P9_PHB1_M32_PCI_START);
    g_autofree char *mtree = NULL, *range = NULL, *nodev = NULL;
    const char *mmio, *end;
    uint32_t cmd, exp_cap;

    if (!qtest_has_device("e1000e")) {
        g_test_skip("e1000e not available");
        return;
    }
    qts = pnv_phb_slot_start("-device e1000e,id=nic1,bus=" TEST_BUS
                             ",romfile=");

    /* Before the window is mapped, nothing is there */
    g_assert_cmphex(qtest_readl(qts, unclaimed), ==, 0);

    p9_phb1_map_bars(qts, true, false);
    p9_phb1_map_m32(qts);

    /*
     * The background region, below every BAR of the PHB's PCI space:
     *   memory-region: phb4-0.1-pci-mmio
     *     0000000000000000-0fffffffffffffff (prio 0, i/o): phb4-0.1-pci-mmio
     *       ...BARs and bridge windows, prio >= 0...
     *       0000000000000000-0fffffffffffffff (prio -1, i/o):
     *                                              phb4-mmio-no-device
     */
    mtree = qtest_hmp(qts, "info mtree");
    mmio = strstr(mtree, "memory-region: phb4-0.1-pci-mmio\r\n  ");
    g_assert_nonnull(mmio);
    mmio += strlen("memory-region: phb4-0.1-pci-mmio\r\n  ");
    end = strstr(mmio, "\r\n\r\n");
    g_assert_nonnull(end);
    g_assert_true(g_str_has_prefix(mmio + 33,
                                   " (prio 0, i/o): phb4-0.1-pci-mmio\r\n"));
    /* same range as its container */
    range = g_strndup(mmio, 33);
    nodev = g_strdup_printf("    %s (prio -1, i/o): phb4-mmio-no-device\r\n",
                            range);
    g_assert_nonnull(g_strstr_len(mmio, end + 2 - mmio, nodev));
    g_test_message("found: %s (prio -1): phb4-mmio-no-device", range);

    /* No device decodes these: all ones for every size, stores dropped */
    g_assert_cmphex(qtest_readb(qts, unclaimed), ==, 0xff);
    g_assert_cmphex(qtest_readw(qts, unclaimed), ==, 0xffff);
    g_assert_cmphex(qtest_readl(qts, unclaimed), ==, 0xffffffff);
    g_assert_cmphex(qtest_readq(qts, unclaimed), ==, UINT64_MAX);
    qtest_writel(qts, unclaimed, 0x12345678);
    g_assert_cmphex(qtest_readl(qts, unclaimed), ==, 0xffffffff);
    /* nor the not yet assigned BAR address */
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0xffffffff);
    /*
     * Each of those misses froze the PE its segment decodes to (the MBT
     * entry is in PE-segment mode: PE = segment; hw/pci-host/pnv_phb4_eeh.c,
     * tested in pnv-phb-eeh-test.c).  Thaw them as firmware does.
     */
    g_assert_cmphex(ioda_read(qts, IODA3_TBL_PESTA, 0), ==,
                    IODA3_PESTA_MMIO_FROZEN);
    pe_thaw(qts, 0);

    /* Give the e1000e its BAR 0 at the start of the window */
    rp_config_writel(qts, PCI_PRIMARY_BUS,
                     (rp_config_readl(qts, PCI_PRIMARY_BUS) & 0xff000000) |
                     (1 << 16) | (1 << 8));
    cmd = rp_config_readl(qts, PCI_COMMAND) & 0xffff;
    rp_config_writel(qts, PCI_COMMAND,
                     cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==,
                    E1000E_VENDOR_DEVICE);
    phb_cfg_writel(qts, 1, 0, PCI_BASE_ADDRESS_0, P9_PHB1_M32_PCI_START);
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND, PCI_COMMAND_MEMORY);

    /* Its register answers (little-endian device, big-endian qtest CPU) */
    qtest_writel(qts, bar + E1000E_RDBAH0, bswap32(0x5a5a1234));
    g_assert_cmphex(bswap32(qtest_readl(qts, bar + E1000E_RDBAH0)), ==,
                    0x5a5a1234);
    /* and the rest of the window still reads all ones */
    g_assert_cmphex(qtest_readl(qts, unclaimed), ==, 0xffffffff);

    /*
     * Link down: the card stops answering, to config and to its BAR.
     * Link up: it answers again, from reset (BAR 0 unassigned, registers
     * at their reset values).
     */
    exp_cap = rp_find_exp_cap(qts);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': '" TEST_BUS "', 'up': false}}");
    g_assert_cmphex(rp_lnksta(qts, exp_cap) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0xffffffff);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==, 0xffffffff);
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': '" TEST_BUS "', 'up': true}}");
    /* the link trains first (LNKSTA.LT), then the card answers */
    g_assert_cmphex(rp_lnksta(qts, exp_cap) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    PCI_EXP_LNKSTA_LT);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==, 0xffffffff);
    qtest_clock_step(qts, LINK_TRAINING_NS);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    PCI_EXP_LNKSTA_DLLLA);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==,
                    E1000E_VENDOR_DEVICE);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_BASE_ADDRESS_0) &
                    PCI_BASE_ADDRESS_MEM_MASK, ==, 0);
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0xffffffff);
    phb_cfg_writel(qts, 1, 0, PCI_BASE_ADDRESS_0, P9_PHB1_M32_PCI_START);
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND, PCI_COMMAND_MEMORY);
    /* the loads while the link was down and the BAR unset froze the PE */
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0xffffffff);
    pe_thaw(qts, 0);
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0);

    /* The card goes: its BAR reads all ones, like config space */
    qmp_ok(qts, "{'execute': 'x-pcie-surprise-remove',"
                " 'arguments': {'id': 'nic1'}}");
    g_assert_cmphex(qtest_readl(qts, bar + E1000E_RDBAH0), ==, 0xffffffff);
    g_assert_cmphex(qtest_readq(qts, bar), ==, UINT64_MAX);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==, 0xffffffff);
    wait_device_deleted(qts, "nic1");

    qtest_quit(qts);
}

/* ------------------------------- 6: link control, DPC, AER (issue 11) */

#define DPC_OFFSET              0x200           /* PCIE_DPC_OFFSET */
#define DPC_SW_TRIGGER          0x0040
#define NIC1_RID                0x0100          /* bus 1, devfn 0 */

static uint64_t dlp_train_ctl(QTestState *qts)
{
    return t_phb_readq(qts, &p9_phb1, PHB_PCIE_DLP_TRAIN_CTL);
}

static bool dlp_link_active(QTestState *qts)
{
    return dlp_train_ctl(qts) & PHB_PCIE_DLP_TL_LINKACT;
}

/* A surprise-pluggable slot with an e1000e reachable at bus 1 */
static QTestState *pnv_link_start(const char *extra)
{
    QTestState *qts = pnv_phb_slot_start(
        g_strdup_printf("-global pnv-phb-root-port.surprise-pluggable=on "
                        "-global e1000e.x-err-reporting=on "
                        "-device e1000e,id=nic1,bus=" TEST_BUS ",romfile= %s",
                        extra ? extra : ""));

    rp_config_writel(qts, PCI_PRIMARY_BUS,
                     (rp_config_readl(qts, PCI_PRIMARY_BUS) & 0xff000000) |
                     (1 << 16) | (1 << 8));
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==,
                    E1000E_VENDOR_DEVICE);
    return qts;
}

static uint32_t exp_cap_devctl_off(QTestState *qts)
{
    return rp_find_exp_cap(qts) + PCI_EXP_DEVCTL;
}

static void lnkctl_write(QTestState *qts, uint32_t exp_cap, uint16_t ctl)
{
    /* dword-only window: LNKSTA (write-1-to-clear bits) gets zeroes */
    rp_config_writel(qts, exp_cap + PCI_EXP_LNKCTL, ctl);
}

static uint16_t lnkctl_read(QTestState *qts, uint32_t exp_cap)
{
    return rp_config_readl(qts, exp_cap + PCI_EXP_LNKCTL) & 0xffff;
}

static void pnv_assert_link(QTestState *qts, uint32_t exp_cap, bool active,
                            bool training)
{
    g_assert_cmphex(rp_lnksta(qts, exp_cap) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    (active ? PCI_EXP_LNKSTA_DLLLA : 0) |
                    (training ? PCI_EXP_LNKSTA_LT : 0));
    g_assert_cmpint(dlp_link_active(qts), ==, active);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_VENDOR_ID), ==,
                    active ? E1000E_VENDOR_DEVICE : 0xffffffff);
}

static void pnv_assert_trains(QTestState *qts, uint32_t exp_cap)
{
    pnv_assert_link(qts, exp_cap, false, true);
    qtest_clock_step(qts, LINK_TRAINING_NS);
    pnv_assert_link(qts, exp_cap, true, false);
}

static bool pnv_link_control_on(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'x-query-pcie-port',"
                                 " 'arguments': {'port': '" TEST_BUS "'}}");
    bool on = qdict_get_bool(qdict_get_qdict(resp, "return"), "link-control");

    qobject_unref(resp);
    return on;
}

/*
 * Link Disable on the PHB root port (x-link-control is on by default on
 * powernv): the link goes down with DLLSC and the slot MSI (pnv_php's
 * DLLSC path), and the PHB's DLP training control register, which
 * skiboot polls, follows the link.
 */
static void test_link_disable(void)
{
    QTestState *qts = pnv_link_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint16_t ctl = lnkctl_read(qts, exp_cap);

    g_assert_true(pnv_link_control_on(qts));
    msi_setup(qts);
    rp_enable_slot_events(qts, exp_cap, PCI_EXP_SLTCTL_DLLSCE);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_00);
    pnv_assert_link(qts, exp_cap, true, false);

    lnkctl_write(qts, exp_cap, ctl | PCI_EXP_LNKCTL_LD);
    g_assert_cmphex(lnkctl_read(qts, exp_cap), ==, ctl | PCI_EXP_LNKCTL_LD);
    pnv_assert_link(qts, exp_cap, false, false);
    g_assert_cmphex(rp_sltsta(qts, exp_cap) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);
    /* pnv_php's handler clears DLLSC: the next change sends a new MSI */
    rp_sltctl_write(qts, exp_cap + PCI_EXP_SLTCTL, rp_sltctl(qts, exp_cap),
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(rp_sltsta(qts, exp_cap) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    qtest_clock_step(qts, 100 * LINK_TRAINING_NS);
    pnv_assert_link(qts, exp_cap, false, false);

    lnkctl_write(qts, exp_cap, ctl);
    pnv_assert_trains(qts, exp_cap);
    g_assert_cmphex(rp_sltsta(qts, exp_cap) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_11);    /* the link-up DLLSC */

    /* x-link-control=off: the base's read-only Link Control */
    qtest_quit(qts);
    qts = pnv_link_start("-global pnv-phb-root-port.x-link-control=off");
    g_assert_false(pnv_link_control_on(qts));
    lnkctl_write(qts, exp_cap, ctl | PCI_EXP_LNKCTL_LD);
    g_assert_cmphex(lnkctl_read(qts, exp_cap), ==, ctl);
    pnv_assert_link(qts, exp_cap, true, false);
    qtest_quit(qts);
}

/* An empty slot reads as trained whatever Link Control says (the base) */
static void test_link_disable_empty_slot(void)
{
    QTestState *qts = pnv_phb_slot_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);

    g_assert_true(dlp_link_active(qts));
    lnkctl_write(qts, exp_cap, lnkctl_read(qts, exp_cap) | PCI_EXP_LNKCTL_LD);
    g_assert_true(dlp_link_active(qts));
    qtest_quit(qts);
}

/* Retrain Link and Secondary Bus Reset on the PHB root port */
static void test_retrain_sbr(void)
{
    QTestState *qts = pnv_link_start(NULL);
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint16_t ctl = lnkctl_read(qts, exp_cap);
    uint32_t brctl;

    lnkctl_write(qts, exp_cap, ctl | PCI_EXP_LNKCTL_RL);
    g_assert_cmphex(lnkctl_read(qts, exp_cap), ==, ctl);
    g_assert_cmphex(rp_lnksta(qts, exp_cap) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT);
    qtest_clock_step(qts, LINK_TRAINING_NS);
    pnv_assert_link(qts, exp_cap, true, false);

    /* as skiboot's phb4_hreset(): SBR for a while, then off */
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND, PCI_COMMAND_MEMORY);
    brctl = rp_config_readl(qts, PCI_INTERRUPT_LINE);   /* BRCTL: bits 31:16 */
    rp_config_writel(qts, PCI_INTERRUPT_LINE,
                     brctl | (PCI_BRIDGE_CTL_BUS_RESET << 16));
    pnv_assert_link(qts, exp_cap, false, false);
    g_assert_cmphex(rp_sltsta(qts, exp_cap) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    qtest_clock_step(qts, 1000000000);
    rp_config_writel(qts, PCI_INTERRUPT_LINE, brctl);
    pnv_assert_trains(qts, exp_cap);
    g_assert_cmphex(phb_cfg_readl(qts, 1, 0, PCI_COMMAND) & 0xffff, ==, 0);
    qtest_quit(qts);
}

/* e1000e's PCI Express capability, through PHB_CONFIG_ADDRESS/DATA */
static uint32_t nic_exp_cap(QTestState *qts)
{
    uint32_t pos = phb_cfg_readl(qts, 1, 0, PCI_CAPABILITY_LIST) & 0xfc;

    while (pos) {
        uint32_t hdr = phb_cfg_readl(qts, 1, 0, pos);

        if ((hdr & 0xff) == PCI_CAP_ID_EXP) {
            return pos;
        }
        pos = (hdr >> 8) & 0xfc;
    }
    g_assert_not_reached();
}

/*
 * The RC window takes dwords only: DPC Capability (RO) and Control share
 * the dword at 0x04, Status (RW1C) and Source ID (RO) the one at 0x08.
 */
static uint16_t pnv_dpc_sta(QTestState *qts)
{
    return rp_config_readl(qts, DPC_OFFSET + PCI_EXP_DPC_STATUS) & 0xffff;
}

static uint16_t pnv_dpc_source_id(QTestState *qts)
{
    return rp_config_readl(qts, DPC_OFFSET + PCI_EXP_DPC_STATUS) >> 16;
}

static void pnv_dpc_ctl(QTestState *qts, uint16_t ctl, uint16_t sta_w1c)
{
    rp_config_writel(qts, DPC_OFFSET + PCI_EXP_DPC_CAP, (uint32_t)ctl << 16);
    if (sta_w1c) {
        rp_config_writel(qts, DPC_OFFSET + PCI_EXP_DPC_STATUS, sta_w1c);
    }
}

/*
 * DPC on the PHB root port: ERR_FATAL from the e1000e below triggers it,
 * the DPC interrupt is the root port's MSI (to XIVE), the link stays down
 * until Trigger Status is cleared.  Also: the software trigger and a
 * surprise link down.
 */
static void test_dpc(void)
{
    QTestState *qts = pnv_link_start("-global pnv-phb-root-port.x-dpc=on");
    uint32_t exp_cap = rp_find_exp_cap(qts);
    uint32_t nic_exp = nic_exp_cap(qts);
    uint32_t hdr = rp_config_readl(qts, DPC_OFFSET);
    QDict *resp;

    g_assert_cmphex(hdr & 0xffff, ==, 0x001d);      /* PCI_EXT_CAP_ID_DPC */
    g_assert_cmphex((rp_config_readl(qts, DPC_OFFSET + PCI_EXP_DPC_CAP) &
                     0xffff), ==, PCI_EXP_DPC_CAP_RP_EXT |
                    PCI_EXP_DPC_CAP_SW_TRIGGER | (4 << 8));
    g_assert_cmphex(rp_config_readl(qts, exp_cap + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_SDERC, ==, PCI_EXP_LNKCAP_SDERC);

    msi_setup(qts);
    /* the card reports fatal errors, the root port forwards them */
    phb_cfg_writel(qts, 1, 0, nic_exp + PCI_EXP_DEVCTL,
                   PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_NFERE);
    pnv_dpc_ctl(qts, PCI_EXP_DPC_CTL_EN_FATAL | PCI_EXP_DPC_CTL_INT_EN, 0);

    qmp_ok(qts, "{'execute': 'x-pcie-aer-inject',"
                " 'arguments': {'id': 'nic1', 'error': 'MALF_TLP'}}");
    g_assert_cmphex(pnv_dpc_sta(qts), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE |
                    PCI_EXP_DPC_STATUS_INTERRUPT);
    g_assert_cmphex(pnv_dpc_source_id(qts), ==, NIC1_RID);
    g_assert_cmphex(msi_pq(qts), ==, ESB_PQ_10);
    pnv_assert_link(qts, exp_cap, false, false);

    qtest_clock_step(qts, 100 * LINK_TRAINING_NS);
    pnv_assert_link(qts, exp_cap, false, false);
    pnv_dpc_ctl(qts, PCI_EXP_DPC_CTL_EN_FATAL | PCI_EXP_DPC_CTL_INT_EN,
                PCI_EXP_DPC_STATUS_TRIGGER | PCI_EXP_DPC_STATUS_INTERRUPT);
    g_assert_cmphex(pnv_dpc_sta(qts), ==, 0);
    pnv_assert_trains(qts, exp_cap);

    /* software trigger: reason in the extension field */
    pnv_dpc_ctl(qts, PCI_EXP_DPC_CTL_EN_FATAL | DPC_SW_TRIGGER, 0);
    g_assert_cmphex(pnv_dpc_sta(qts), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_IN_EXT |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_SW_TRIGGER);
    pnv_dpc_ctl(qts, PCI_EXP_DPC_CTL_EN_FATAL, PCI_EXP_DPC_STATUS_TRIGGER);
    pnv_assert_trains(qts, exp_cap);

    /* surprise link down: Surprise Down error, DPC */
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': '" TEST_BUS "', 'up': false}}");
    g_assert_cmphex(pnv_dpc_sta(qts), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR);
    resp = qtest_qmp(qts, "{'execute': 'x-query-pcie-port',"
                          " 'arguments': {'port': '" TEST_BUS "'}}");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(qdict_get_qdict(resp,
                        "return"), "dpc"), "reason"), ==, "uncorrectable");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(qdict_get_qdict(resp,
                        "return"), "dpc"), "triggers"), ==, 3);
    qobject_unref(resp);
    qtest_quit(qts);
}

/*
 * AER injection with the HMP command's semantics, on powernv: the root
 * port receives the e1000e's ERR_COR (Root Error Status, source id).
 */
static void test_aer_inject(void)
{
    QTestState *qts = pnv_link_start(NULL);
    uint32_t aer = 0x100;                   /* the root port's AER */
    uint32_t nic_exp = nic_exp_cap(qts);

    g_assert_cmphex(rp_config_readl(qts, aer) & 0xffff, ==, 0x0001);
    phb_cfg_writel(qts, 1, 0, nic_exp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_CERE);
    rp_config_writel(qts, PCI_INTERRUPT_LINE,
                     rp_config_readl(qts, PCI_INTERRUPT_LINE) |
                     (PCI_BRIDGE_CTL_SERR << 16));
    rp_config_writel(qts, exp_cap_devctl_off(qts),
                     rp_config_readl(qts, exp_cap_devctl_off(qts)) |
                     PCI_EXP_DEVCTL_CERE);
    qmp_ok(qts, "{'execute': 'x-pcie-aer-inject', 'arguments':"
                " {'id': 'nic1', 'error': 'BAD_DLLP'}}");
    g_assert_cmphex(rp_config_readl(qts, aer + PCI_ERR_ROOT_STATUS) &
                    PCI_ERR_ROOT_COR_RCV, ==, PCI_ERR_ROOT_COR_RCV);
    g_assert_cmphex(rp_config_readl(qts, aer + PCI_ERR_ROOT_ERR_SRC) & 0xffff,
                    ==, NIC1_RID);
    qmp_err(qts, "{'execute': 'x-pcie-aer-inject', 'arguments':"
                 " {'id': 'nic1', 'error': 'NOPE'}}",
            "GenericError", "invalid error status value");
    qtest_quit(qts);
}

/* ------------------------------------------------- 5: powernv10 / PHB5 */

static void test_phb5_sltcap_default(void)
{
    QTestState *qts = pnv_start("powernv10", NULL);
    const PhbTarget *t = &p10_phb1;
    uint32_t ids, exp_cap, sltcap, msi;

    /* We talk to a PHB5 */
    g_assert_cmphex(t_phb_readq(qts, t, PHB_VERSION), ==, PHB5_VERSION);

    ids = t_rp_config_readl(qts, t, PCI_VENDOR_ID);
    g_assert_cmphex(ids & 0xffff, ==, PHB4_VENDOR_ID);
    g_assert_cmphex(ids >> 16, ==, PHB5_RP_DEVICE_ID);

    exp_cap = t_rp_find_exp_cap(qts, t);
    g_assert_cmphex((t_rp_config_readl(qts, t, exp_cap) >> 16) &
                    PCI_EXP_FLAGS_SLOT, ==, PCI_EXP_FLAGS_SLOT);
    sltcap = t_rp_config_readl(qts, t, exp_cap + PCI_EXP_SLTCAP);
    g_assert_cmpuint((sltcap & PCI_EXP_SLTCAP_PSN) >> 19, ==, TEST_PHB_ID);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPC, ==, PCI_EXP_SLTCAP_HPC);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_PCP, ==, PCI_EXP_SLTCAP_PCP);
    g_assert_cmphex(sltcap & PCI_EXP_SLTCAP_HPS, ==, 0);

    /* Same root port model: the MSI capability too */
    msi = t_rp_find_cap(qts, t, PCI_CAP_ID_MSI);
    g_assert_cmphex(msi, ==, RP_MSI_OFFSET);

    qtest_quit(qts);
}

static void test_phb5_sltcap_surprise(void)
{
    QTestState *qts = pnv_start("powernv10", "-global "
                                "pnv-phb-root-port.surprise-pluggable=on");
    const PhbTarget *t = &p10_phb1;
    uint32_t exp_cap = t_rp_find_exp_cap(qts, t);
    uint32_t sltcap = t_rp_config_readl(qts, t, exp_cap + PCI_EXP_SLTCAP);

    g_assert_cmpuint((sltcap & PCI_EXP_SLTCAP_PSN) >> 19, ==, TEST_PHB_ID);
    g_assert_cmphex(sltcap & (PCI_EXP_SLTCAP_HPC | PCI_EXP_SLTCAP_PCP |
                              PCI_EXP_SLTCAP_HPS), ==,
                    PCI_EXP_SLTCAP_HPC | PCI_EXP_SLTCAP_PCP |
                    PCI_EXP_SLTCAP_HPS);

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
        g_test_add_func("/pnv-phb-slot/msi/capability", test_msi_capability);
        g_test_add_func("/pnv-phb-slot/msi/delivery", test_msi_delivery);
        g_test_add_func("/pnv-phb-slot/msi/guest-command",
                        test_msi_guest_command);
        g_test_add_func("/pnv-phb-slot/sltctl/power-controller",
                        test_slot_power_controller);
        g_test_add_func("/pnv-phb-slot/sltctl/indicators",
                        test_slot_indicators);
        g_test_add_func("/pnv-phb-slot/sltctl/command-completed",
                        test_slot_command_completed);
        g_test_add_func("/pnv-phb-slot/sltctl/dllsce-pfde/default",
                        test_slot_dllsce_pfde);
        g_test_add_func("/pnv-phb-slot/sltctl/dllsce-pfde/surprise-pluggable",
                        test_slot_dllsce_pfde_surprise);
        g_test_add_func("/pnv-phb-slot/fault/surprise-remove",
                        test_surprise_remove);
        g_test_add_func("/pnv-phb-slot/mmio/unclaimed-all-ones",
                        test_mmio_unclaimed);
        g_test_add_func("/pnv-phb-slot/link-control/link-disable",
                        test_link_disable);
        g_test_add_func("/pnv-phb-slot/link-control/empty-slot",
                        test_link_disable_empty_slot);
        g_test_add_func("/pnv-phb-slot/link-control/retrain-sbr",
                        test_retrain_sbr);
        g_test_add_func("/pnv-phb-slot/dpc", test_dpc);
        g_test_add_func("/pnv-phb-slot/aer/inject", test_aer_inject);
    }
    if (qtest_has_machine("powernv10")) {
        g_test_add_func("/pnv-phb-slot/phb5/sltcap/default",
                        test_phb5_sltcap_default);
        g_test_add_func("/pnv-phb-slot/phb5/sltcap/surprise-pluggable",
                        test_phb5_sltcap_surprise);
    }

    return g_test_run();
}
