/*
 * QTest testcase for PCI Express slot fault injection (plugfault)
 *
 * Exercises hw/pci/pcie_slot_fault.c through its QMP commands
 * (x-pcie-surprise-remove, x-pcie-link-set, x-pcie-power-fault) on a
 * q35 machine with a pcie-root-port and an e1000e behind it, checking
 * the root port's Slot Control/Status and Link Status registers from
 * the guest's side of the configuration space.
 *
 * Machine setup notes:
 *
 * - With -accel qtest no firmware runs, so nobody enumerates the
 *   bridges: the tests program the root port's secondary and
 *   subordinate bus numbers themselves before reaching the device
 *   behind it.
 *
 * - q35 uses ACPI PCI hot-plug for bridges by default: the ICH9 ACPI
 *   controller then becomes the hot-plug handler of every cold-plugged
 *   root port's secondary bus, pcie_cap_slot_plug_cb() never runs for
 *   the card and the slot shows no card (SLTSTA.PDS=0, LNKSTA.DLLLA=0)
 *   although one is there.  The native slot these tests look at is the
 *   one Linux's pciehp drives, so the machine runs with
 *   ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off.
 *
 * - pcie-root-port defaults to x-speed=16 on the current q35 machine
 *   (only hw_compat_3_1 forces 2_5), and pcie_cap_fill_slot_lnk()
 *   hardwires Link Capabilities DLLLARC for any slot faster than
 *   2.5 GT/s.  So rp1 reports link state (DLLLARC=1) without extra
 *   properties; a port with x-speed=2_5 serves as the port without it.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"

#define RP_VENDOR_ID            0x1b36  /* PCI_VENDOR_ID_REDHAT */
#define RP_DEVICE_ID            0x000c  /* PCI_DEVICE_ID_REDHAT_PCIE_RP */
#define NIC_VENDOR_ID           0x8086  /* e1000e: Intel 82574L */
#define NIC_DEVICE_ID           0x10d3

#define RP1_DEVFN               QPCI_DEVFN(2, 0)
#define RP2_DEVFN               QPCI_DEVFN(3, 0)
#define RP1_SEC_BUS             1
#define RP2_SEC_BUS             2

/* libqos' PC config accessors take the bus number above the devfn */
#define BEHIND(sec_bus)         (((sec_bus) << 8) | QPCI_DEVFN(0, 0))

#define MACHINE_ARGS_NO_NIC \
    "-machine q35 -nodefaults " \
    "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off " \
    "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2 "

#define MACHINE_ARGS \
    MACHINE_ARGS_NO_NIC \
    "-device e1000e,id=nic1,bus=rp1,romfile= "

/* A second port at 2.5 GT/s: no Data Link Layer Link Active Reporting */
#define RP2_ARGS \
    "-device pcie-root-port,id=rp2,chassis=1,slot=2,bus=pcie.0,addr=0x3," \
    "x-speed=2_5 " \
    "-device e1000e,id=nic2,bus=rp2,romfile= "

/* Link training time: PCIE_LINK_TRAINING_NS (hw/pci/pcie_slot_link.h) */
#define LINK_TRAINING_NS        10000000

#define LINK_DOWN_BLOCKER       "a PCIe link is held down by x-pcie-link-set"

/* Where the root port's MSI-X vector 0 writes: plain guest RAM */
#define MSI_ADDR                0x01000000u
#define MSI_DATA                0x00004f4bu
#define MSI_SENTINEL            0xdeadbeefu

typedef struct SlotTest {
    QTestState *qts;
    QPCIBus *pcibus;
    QPCIDevice *rp;         /* rp1 */
    QPCIDevice *nic;        /* nic1, behind rp1 */
    uint8_t exp;            /* rp1's PCI Express capability */
} SlotTest;

/* ------------------------------------------------------------ helpers */

static QPCIDevice *port_setup(QPCIBus *bus, int devfn, uint8_t sec_bus)
{
    QPCIDevice *port = qpci_device_find(bus, devfn);

    g_assert_nonnull(port);
    g_assert_cmphex(qpci_config_readw(port, PCI_VENDOR_ID), ==, RP_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(port, PCI_DEVICE_ID), ==, RP_DEVICE_ID);

    qpci_config_writeb(port, PCI_PRIMARY_BUS, 0);
    qpci_config_writeb(port, PCI_SECONDARY_BUS, sec_bus);
    qpci_config_writeb(port, PCI_SUBORDINATE_BUS, sec_bus);
    g_assert_cmpuint(qpci_config_readb(port, PCI_SECONDARY_BUS), ==, sec_bus);
    return port;
}

static uint8_t port_exp_cap(QPCIDevice *port)
{
    uint8_t exp = qpci_find_capability(port, PCI_CAP_ID_EXP, 0);

    g_assert_cmpuint(exp, !=, 0);
    return exp;
}

static QPCIDevice *nic_find(QPCIBus *bus, uint8_t sec_bus)
{
    QPCIDevice *nic = qpci_device_find(bus, BEHIND(sec_bus));

    g_assert_nonnull(nic);
    g_assert_cmphex(qpci_config_readw(nic, PCI_VENDOR_ID), ==, NIC_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(nic, PCI_DEVICE_ID), ==, NIC_DEVICE_ID);
    return nic;
}

static void slot_test_start(SlotTest *t, const char *extra)
{
    t->qts = qtest_initf(MACHINE_ARGS "%s", extra ? extra : "");
    t->pcibus = qpci_new_pc(t->qts, NULL);
    t->rp = port_setup(t->pcibus, RP1_DEVFN, RP1_SEC_BUS);
    t->exp = port_exp_cap(t->rp);
    t->nic = nic_find(t->pcibus, RP1_SEC_BUS);
}

static void slot_test_end(SlotTest *t)
{
    g_free(t->nic);
    g_free(t->rp);
    qpci_free_pc(t->pcibus);
    qtest_quit(t->qts);
}

static uint16_t sltctl(QPCIDevice *port, uint8_t exp)
{
    return qpci_config_readw(port, exp + PCI_EXP_SLTCTL);
}

static uint16_t sltsta(QPCIDevice *port, uint8_t exp)
{
    return qpci_config_readw(port, exp + PCI_EXP_SLTSTA);
}

static uint16_t lnksta(QPCIDevice *port, uint8_t exp)
{
    return qpci_config_readw(port, exp + PCI_EXP_LNKSTA);
}

/* A 16-bit write to SLTSTA alone: write-1-to-clear, no SLTCTL command */
static void sltsta_w1c(QPCIDevice *port, uint8_t exp, uint16_t bits)
{
    qpci_config_writew(port, exp + PCI_EXP_SLTSTA, bits);
}

static void qmp_ok(QTestState *qts, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* Run a command that must succeed with an empty return */
static void qmp_ok(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    QDict *resp, *ret;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);

    g_assert_nonnull(resp);
    if (qdict_haskey(resp, "error")) {
        g_test_message("unexpected error: %s",
                       qdict_get_str(qdict_get_qdict(resp, "error"), "desc"));
    }
    g_assert_false(qdict_haskey(resp, "error"));
    ret = qdict_get_qdict(resp, "return");
    g_assert_nonnull(ret);
    g_assert_cmpuint(qdict_size(ret), ==, 0);
    qobject_unref(resp);
}

static void qmp_err(QTestState *qts, const char *cls, const char *needle,
                    const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* Run a command that must fail with error class @cls, @needle in desc */
static void qmp_err(QTestState *qts, const char *cls, const char *needle,
                    const char *fmt, ...)
{
    va_list ap;
    QDict *resp, *err;
    const char *desc;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);

    g_assert_nonnull(resp);
    g_assert_false(qdict_haskey(resp, "return"));
    err = qdict_get_qdict(resp, "error");
    g_assert_nonnull(err);
    desc = qdict_get_str(err, "desc");
    g_test_message("expected error: %s", desc);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, cls);
    g_assert_nonnull(strstr(desc, needle));
    qobject_unref(resp);
}

static void surprise_remove(QTestState *qts, const char *id)
{
    qmp_ok(qts, "{'execute': 'x-pcie-surprise-remove',"
                " 'arguments': {'id': %s}}", id);
}

static void link_set(QTestState *qts, const char *port, bool up)
{
    qmp_ok(qts, "{'execute': 'x-pcie-link-set',"
                " 'arguments': {'port': %s, 'up': %i}}", port, up);
}

static void power_fault(QTestState *qts, const char *port)
{
    qmp_ok(qts, "{'execute': 'x-pcie-power-fault',"
                " 'arguments': {'port': %s}}", port);
}

/* Is there a child property @name under QOM path @path? */
static bool qom_has_child(QTestState *qts, const char *path, const char *name)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-list',"
                                 " 'arguments': {'path': %s}}", path);
    QList *props = qdict_get_qlist(resp, "return");
    QListEntry *e;
    bool found = false;

    g_assert_nonnull(props);
    QLIST_FOREACH_ENTRY(props, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(prop, "name"), name) &&
            g_str_has_prefix(qdict_get_str(prop, "type"), "child<")) {
            found = true;
        }
    }
    qobject_unref(resp);
    return found;
}

/* Does query-migrate list @reason among its blocked-reasons? */
static bool migration_blocked_by(QTestState *qts, const char *reason)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    QDict *info = qdict_get_qdict(resp, "return");
    QList *reasons;
    QListEntry *e;
    bool found = false;

    g_assert_nonnull(info);
    reasons = qdict_get_qlist(info, "blocked-reasons");
    if (reasons) {
        QLIST_FOREACH_ENTRY(reasons, e) {
            QString *s = qobject_to(QString, qlist_entry_obj(e));

            if (s && !strcmp(qstring_get_str(s), reason)) {
                found = true;
            }
        }
    }
    qobject_unref(resp);
    return found;
}

/*
 * Turn on MSI-X vector 0 of the root port (the vector its PCIe
 * capability names for slot events), aimed at guest RAM so that qtest
 * can see each message the port sends.
 */
static void port_msix_to_ram(SlotTest *t)
{
    uint64_t entry;

    qpci_msix_enable(t->rp);
    qpci_device_enable(t->rp);   /* memory decoding for BAR0, bus master */
    g_assert_cmphex(qpci_config_readw(t->rp, t->exp + PCI_EXP_FLAGS) &
                    PCI_EXP_FLAGS_IRQ, ==, 0);

    entry = t->rp->msix_table_off;
    qpci_io_writel(t->rp, t->rp->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_LOWER_ADDR, MSI_ADDR);
    qpci_io_writel(t->rp, t->rp->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    qpci_io_writel(t->rp, t->rp->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_DATA, MSI_DATA);
    qpci_io_writel(t->rp, t->rp->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    g_assert_false(qpci_msix_masked(t->rp, 0));
    qtest_writel(t->qts, MSI_ADDR, MSI_SENTINEL);
}

/* Returns what the MSI target holds and re-arms it */
static uint32_t msi_take(SlotTest *t)
{
    uint32_t val = qtest_readl(t->qts, MSI_ADDR);

    qtest_writel(t->qts, MSI_ADDR, MSI_SENTINEL);
    return val;
}

/* ------------------------------------------------------------ case 1 */

/*
 * The fault model makes SLTCTL.DLLSCE writable on ports that report link
 * state and SLTCTL.PFDE writable on slots with a power controller; the
 * base model leaves both read-only zero.
 */
static void test_sltctl_wmask(void)
{
    SlotTest t;
    QPCIDevice *rp2;
    uint8_t exp2;
    uint16_t ctl;

    slot_test_start(&t, RP2_ARGS);

    /* rp1: 16 GT/s by default, so DLLLARC; and a power controller */
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_DLLLARC, ==, PCI_EXP_LNKCAP_DLLLARC);
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_SLTCAP) &
                    (PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_HPC), ==,
                    PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_HPC);

    ctl = sltctl(t.rp, t.exp);
    g_assert_cmphex(ctl & (PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE), ==, 0);

    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(sltctl(t.rp, t.exp), ==,
                    ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);

    /* ... and back to zero */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL, ctl);
    g_assert_cmphex(sltctl(t.rp, t.exp), ==, ctl);

    /* rp2: 2.5 GT/s, no DLLLARC: DLLSCE stays 0, PFDE still writable */
    rp2 = port_setup(t.pcibus, RP2_DEVFN, RP2_SEC_BUS);
    exp2 = port_exp_cap(rp2);
    g_assert_cmphex(qpci_config_readl(rp2, exp2 + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_DLLLARC, ==, 0);
    g_assert_cmphex(qpci_config_readl(rp2, exp2 + PCI_EXP_SLTCAP) &
                    PCI_EXP_SLTCAP_PCP, ==, PCI_EXP_SLTCAP_PCP);

    ctl = sltctl(rp2, exp2);
    qpci_config_writew(rp2, exp2 + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(sltctl(rp2, exp2), ==, ctl | PCI_EXP_SLTCTL_PFDE);

    g_free(rp2);
    slot_test_end(&t);
}

/*
 * x-slot-fault-events=off: DLLSCE/PFDE read-only zero as in the base (so the
 * port's config space migrates to a stock QEMU), and neither a power fault
 * nor a link change raises the status bits the guest could not clear.
 */
static void test_slot_fault_events_off(void)
{
    SlotTest t;
    uint16_t ctl, sta;

    slot_test_start(&t, " -global pcie-root-port.x-slot-fault-events=off");

    ctl = sltctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(sltctl(t.rp, t.exp), ==, ctl);

    power_fault(t.qts, "rp1");
    link_set(t.qts, "rp1", false);
    link_set(t.qts, "rp1", true);
    sta = sltsta(t.rp, t.exp);
    g_assert_cmphex(sta & (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_DLLSC), ==, 0);

    slot_test_end(&t);
}

/* ------------------------------------------------------------ case 2 */

static void test_surprise_remove(void)
{
    SlotTest t;
    QDict *ev, *data;

    slot_test_start(&t, NULL);

    /* Cold-plugged card: present, link up, no events */
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, PCI_EXP_SLTSTA_PDS);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);

    surprise_remove(t.qts, "nic1");

    ev = qtest_qmp_eventwait_ref(t.qts, "DEVICE_DELETED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_try_str(data, "device"), ==, "nic1");
    g_assert_cmpstr(qdict_get_str(data, "path"), ==,
                    "/machine/peripheral/nic1");
    qobject_unref(ev);

    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);

    /* Nothing answers at the old address */
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==, 0xffff);
    g_assert_false(qom_has_child(t.qts, "/machine/peripheral", "nic1"));

    /* DLLSC and PDC are write-1-to-clear, one at a time */
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDC);
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_PDC);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, 0);

    /* The slot is empty now; the device is gone for good */
    qmp_err(t.qts, "DeviceNotFound", "nic1",
            "{'execute': 'x-pcie-surprise-remove',"
            " 'arguments': {'id': 'nic1'}}");

    slot_test_end(&t);
}

/* On a port without DLLLARC a removal reports PDC but no DLLSC */
static void test_surprise_remove_no_dlllarc(void)
{
    SlotTest t;
    QPCIDevice *rp2, *nic2;
    uint8_t exp2;

    slot_test_start(&t, RP2_ARGS);
    rp2 = port_setup(t.pcibus, RP2_DEVFN, RP2_SEC_BUS);
    exp2 = port_exp_cap(rp2);
    nic2 = nic_find(t.pcibus, RP2_SEC_BUS);

    surprise_remove(t.qts, "nic2");
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");

    g_assert_cmphex(sltsta(rp2, exp2) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, PCI_EXP_SLTSTA_PDC);
    g_assert_cmphex(qpci_config_readw(nic2, PCI_VENDOR_ID), ==, 0xffff);

    /* rp1 and its card are untouched */
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, PCI_EXP_SLTSTA_PDS);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==,
                    NIC_VENDOR_ID);

    g_free(nic2);
    g_free(rp2);
    slot_test_end(&t);
}

/*
 * x-broken-presence: the port hides Presence Detect (State and Changed)
 * while its link works, and advertises link reporting so that a card's
 * arrival is seen at all (DLLSC).  Checked on a 2.5 GT/s port, which
 * would not report link state otherwise.
 */
static void test_broken_presence(void)
{
    SlotTest t;
    QPCIDevice *rp2;
    uint8_t exp2;

    slot_test_start(&t,
        "-device pcie-root-port,id=rp2,chassis=1,slot=2,bus=pcie.0,addr=0x3,"
        "x-speed=2_5,x-broken-presence=on ");
    rp2 = port_setup(t.pcibus, RP2_DEVFN, RP2_SEC_BUS);
    exp2 = port_exp_cap(rp2);
    g_assert_cmphex(qpci_config_readl(rp2, exp2 + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_DLLLARC, ==, PCI_EXP_LNKCAP_DLLLARC);
    g_assert_cmphex(sltsta(rp2, exp2) & PCI_EXP_SLTSTA_PDS, ==, 0);

    qtest_qmp_device_add(t.qts, "e1000e", "nic2",
                         "{'bus': 'rp2', 'romfile': ''}");
    qtest_clock_step(t.qts, 20 * 1000 * 1000);     /* link training */
    /* the card is there, its link up; presence is never shown */
    g_assert_cmphex(lnksta(rp2, exp2) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);
    g_assert_cmphex(sltsta(rp2, exp2) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, PCI_EXP_SLTSTA_DLLSC);
    /* 16- and 32-bit reads agree (Slot Control and Status together) */
    g_assert_cmphex((qpci_config_readl(rp2, exp2 + PCI_EXP_SLTCTL) >> 16) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC), ==, 0);
    g_assert_cmphex(qpci_config_readb(rp2, exp2 + PCI_EXP_SLTSTA) &
                    PCI_EXP_SLTSTA_PDS, ==, 0);

    g_free(rp2);
    slot_test_end(&t);
}

/* ------------------------------------------------------------ case 3 */

/*
 * The root port signals slot events with MSI-X vector 0.  Aim it at
 * guest RAM, enable HPIE|PDCE|DLLSCE like pciehp does, and watch the
 * message land when the card is pulled.
 */
static void test_surprise_remove_msix(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, NULL);
    port_msix_to_ram(&t);

    ctl = sltctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE |
                       PCI_EXP_SLTCTL_DLLSCE);
    g_assert_cmphex(sltctl(t.rp, t.exp) &
                    (PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE |
                     PCI_EXP_SLTCTL_DLLSCE), ==,
                    PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE |
                    PCI_EXP_SLTCTL_DLLSCE);
    /* Enabling alone sends nothing (CCIE is off) */
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);

    surprise_remove(t.qts, "nic1");
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");

    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    g_assert_false(qpci_msix_pending(t.rp, 0));

    slot_test_end(&t);
}

/*
 * DLLSC and PFD are not among the base model's hot-plug events: they
 * interrupt only through the fault model's hook, and only when their
 * own enable bit is set.
 */
static void test_fault_events_msix(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, NULL);
    port_msix_to_ram(&t);
    ctl = sltctl(t.rp, t.exp);

    /* HPIE|DLLSCE: a power fault stays silent */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_DLLSCE);
    power_fault(t.qts, "rp1");
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_PFD, ==,
                    PCI_EXP_SLTSTA_PFD);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_PFD);

    /* ... the link going down interrupts */
    link_set(t.qts, "rp1", false);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);

    /* HPIE|PFDE: the link coming back stays silent */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PFDE);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);
    link_set(t.qts, "rp1", true);
    qtest_clock_step(t.qts, LINK_TRAINING_NS);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);

    /* ... a power fault interrupts */
    power_fault(t.qts, "rp1");
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);

    slot_test_end(&t);
}

/* ------------------------------------------------------------ case 4 */

static void test_link_down_up(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, NULL);

    /* Leave a mark in the card's state to see the reset later */
    qpci_config_writew(t.nic, PCI_COMMAND, PCI_COMMAND_MEMORY);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==,
                    PCI_COMMAND_MEMORY);
    g_assert_false(migration_blocked_by(t.qts, LINK_DOWN_BLOCKER));

    link_set(t.qts, "rp1", false);

    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    /* The card is still in the slot: DLLSC, but no PDC and PDS kept */
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==, 0xffff);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==, 0xffff);
    g_assert_true(qom_has_child(t.qts, "/machine/peripheral", "nic1"));

    /* Migration is blocked */
    g_assert_true(migration_blocked_by(t.qts, LINK_DOWN_BLOCKER));
    qmp_err(t.qts, "GenericError", LINK_DOWN_BLOCKER,
            "{'execute': 'migrate',"
            " 'arguments': {'uri': 'unix:/nonexistent/pcie-slot-fault'}}");

    /* A slot control command does not bring the card back */
    ctl = sltctl(t.rp, t.exp);
    g_assert_cmphex(ctl & PCI_EXP_SLTCTL_PCC, ==, PCI_EXP_SLTCTL_PWR_ON);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL, ctl);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==, 0xffff);

    qmp_err(t.qts, "GenericError", "already down",
            "{'execute': 'x-pcie-link-set',"
            " 'arguments': {'port': 'rp1', 'up': false}}");

    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);

    link_set(t.qts, "rp1", true);

    /* Training: LT, still no DLLLA, no DLLSC, the card does not answer */
    g_assert_cmphex(lnksta(t.rp, t.exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    PCI_EXP_LNKSTA_LT);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==, 0xffff);
    qtest_clock_step(t.qts, LINK_TRAINING_NS - 1);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    qtest_clock_step(t.qts, 1);

    g_assert_cmphex(lnksta(t.rp, t.exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    PCI_EXP_LNKSTA_DLLLA);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==,
                    NIC_VENDOR_ID);
    /* The card comes back from reset */
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==, 0);
    g_assert_false(migration_blocked_by(t.qts, LINK_DOWN_BLOCKER));

    qmp_err(t.qts, "GenericError", "already up",
            "{'execute': 'x-pcie-link-set',"
            " 'arguments': {'port': 'rp1', 'up': true}}");

    slot_test_end(&t);
}

/* ------------------------------------------------------------ case 5 */

static void test_power_fault(void)
{
    SlotTest t;

    slot_test_start(&t, NULL);

    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_PFD, ==, 0);
    power_fault(t.qts, "rp1");
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_PDS |
                     PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_PDS);
    /* The card keeps running, the link stays up */
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==,
                    NIC_VENDOR_ID);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);

    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_PFD);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_PDS), ==,
                    PCI_EXP_SLTSTA_PDS);

    slot_test_end(&t);
}

/* ------------------------------------------------------------ case 6 */

static void test_bad_input(void)
{
    SlotTest t;

    /* rp3: a hot-plug slot without a power controller */
    slot_test_start(&t,
        "-device pcie-root-port,id=rp3,chassis=1,slot=3,bus=pcie.0,"
        "addr=0x4,power_controller_present=off ");

    qmp_err(t.qts, "DeviceNotFound", "nosuchdev",
            "{'execute': 'x-pcie-surprise-remove',"
            " 'arguments': {'id': 'nosuchdev'}}");
    qmp_err(t.qts, "GenericError", "root bus",
            "{'execute': 'x-pcie-surprise-remove',"
            " 'arguments': {'id': 'rp1'}}");

    qmp_err(t.qts, "GenericError", "not a PCI Express port with a slot",
            "{'execute': 'x-pcie-link-set',"
            " 'arguments': {'port': 'nic1', 'up': false}}");
    qmp_err(t.qts, "GenericError", "no device or PCI bus named 'nosuchport'",
            "{'execute': 'x-pcie-power-fault',"
            " 'arguments': {'port': 'nosuchport'}}");
    /* q35's root bus: found by name, but its parent is no PCI device */
    qmp_err(t.qts, "GenericError", "'pcie.0' is not a PCI device",
            "{'execute': 'x-pcie-power-fault',"
            " 'arguments': {'port': 'pcie.0'}}");
    qmp_err(t.qts, "GenericError", "has no power controller",
            "{'execute': 'x-pcie-power-fault',"
            " 'arguments': {'port': 'rp3'}}");

    /* None of that touched rp1 */
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, 0);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);

    /* The port by QOM path */
    power_fault(t.qts, "/machine/peripheral/rp1");
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_PFD, ==,
                    PCI_EXP_SLTSTA_PFD);

    slot_test_end(&t);
}

/*
 * The port by the name of its secondary bus.  A bridge with an id names
 * its bus after itself ("rp1" is both), so use ports without an id:
 * their buses are named "pcie.<n>" automatically, counting from 0.  The
 * first one therefore shares "pcie.0" with q35's root bus (a base QEMU
 * quirk), and the lookup finds the root bus; the second is "pcie.1".
 */
static void test_port_by_bus_name(void)
{
    QTestState *qts;
    QPCIBus *pcibus;
    QPCIDevice *port;
    QDict *resp;
    QList *props;
    QListEntry *e;
    g_autofree char *bus_name = NULL;
    uint8_t exp;

    qts = qtest_init("-machine q35 -nodefaults "
                     "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off "
                     "-device pcie-root-port,chassis=1,slot=1,bus=pcie.0,"
                     "addr=0x2 "
                     "-device pcie-root-port,chassis=1,slot=2,bus=pcie.0,"
                     "addr=0x3");
    pcibus = qpci_new_pc(qts, NULL);
    port = port_setup(pcibus, RP2_DEVFN, RP2_SEC_BUS);
    exp = port_exp_cap(port);

    resp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments':"
                          " {'path': '/machine/peripheral-anon/device[1]'}}");
    props = qdict_get_qlist(resp, "return");
    g_assert_nonnull(props);
    QLIST_FOREACH_ENTRY(props, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(prop, "type"), "child<PCIE>")) {
            bus_name = g_strdup(qdict_get_str(prop, "name"));
        }
    }
    qobject_unref(resp);
    g_assert_nonnull(bus_name);
    g_test_message("second anonymous root port's secondary bus: %s",
                   bus_name);
    g_assert_cmpstr(bus_name, ==, "pcie.1");

    power_fault(qts, bus_name);
    g_assert_cmphex(sltsta(port, exp) & PCI_EXP_SLTSTA_PFD, ==,
                    PCI_EXP_SLTSTA_PFD);
    /*
     * An empty slot's link is down already: holding it down changes no
     * DLLLA, so no DLLSC (PCIe Slot Status: set when DLLLA changes)
     */
    link_set(qts, bus_name, false);
    g_assert_cmphex(sltsta(port, exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    g_assert_cmphex(lnksta(port, exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);

    g_free(port);
    qpci_free_pc(pcibus);
    qtest_quit(qts);
}

/*
 * Pulling a whole switch out of rp1 also removes the downstream port
 * below it.  A link held down on that downstream port goes with it, and
 * so must its migration blocker: nothing is left to bring the link up.
 */
static void test_surprise_remove_switch(void)
{
    QTestState *qts;
    bool gone = false;

    qts = qtest_init(MACHINE_ARGS_NO_NIC
                     "-device x3130-upstream,id=up1,bus=rp1 "
                     "-device xio3130-downstream,id=dp1,bus=up1,chassis=2,"
                     "slot=0 "
                     "-device e1000e,id=nic1,bus=dp1,romfile=");

    link_set(qts, "dp1", false);
    g_assert_true(migration_blocked_by(qts, LINK_DOWN_BLOCKER));

    surprise_remove(qts, "up1");
    while (!gone) {     /* nic1 and dp1 go first, then up1 */
        QDict *ev = qtest_qmp_eventwait_ref(qts, "DEVICE_DELETED");
        QDict *data = qdict_get_qdict(ev, "data");

        gone = !g_strcmp0(qdict_get_try_str(data, "device"), "up1");
        qobject_unref(ev);
    }
    g_assert_false(qom_has_child(qts, "/machine/peripheral", "dp1"));

    g_assert_false(migration_blocked_by(qts, LINK_DOWN_BLOCKER));

    qtest_quit(qts);
}

/* ------------------------------------------------------------ reset */

/*
 * A system reset forgets every fault: the fault enables and status bits
 * clear, a held-down link comes back (and with it the card and DLLLA),
 * and the migration blocker goes.
 */
static void test_reset_while_link_down(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, NULL);

    ctl = sltctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    power_fault(t.qts, "rp1");
    link_set(t.qts, "rp1", false);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_DLLSC);
    g_assert_true(migration_blocked_by(t.qts, LINK_DOWN_BLOCKER));

    qmp_ok(t.qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(t.qts, "RESET");

    /* Bridge reset cleared the bus numbers */
    g_assert_cmpuint(qpci_config_readb(t.rp, PCI_SECONDARY_BUS), ==, 0);
    qpci_config_writeb(t.rp, PCI_SECONDARY_BUS, RP1_SEC_BUS);
    qpci_config_writeb(t.rp, PCI_SUBORDINATE_BUS, RP1_SEC_BUS);

    g_assert_cmphex(sltctl(t.rp, t.exp) &
                    (PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE), ==, 0);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_DLLSC |
                     PCI_EXP_SLTSTA_PDS), ==, PCI_EXP_SLTSTA_PDS);
    g_assert_false(migration_blocked_by(t.qts, LINK_DOWN_BLOCKER));
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==,
                    NIC_VENDOR_ID);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==,
                    PCI_EXP_LNKSTA_DLLLA);

    slot_test_end(&t);
}

/* ================================================ link faults, link control */

#define ECAM                    0xb0000000ull
#define RP1_RID                 0x0010          /* bus 0, devfn 02.0 */
#define NIC1_RID                0x0100          /* bus 1, devfn 00.0 */
#define LINK_CONTROL_ON         "-global pcie-root-port.x-link-control=on "
#define DPC_ON                  "-global pcie-root-port.x-dpc=on "
#define DPC_OFFSET              0x200           /* PCIE_DPC_OFFSET */
#define DPC_SW_TRIGGER          0x0040          /* DPC Control */
/*
 * The base's e1000e has no writable Device Control error reporting
 * enables (no pcie_cap_deverr_init()): Linux cannot make it signal errors.
 * x-err-reporting=on (hook patch "hw/net/e1000e: x-err-reporting makes the
 * error reporting enables writable") adds them.
 */
#define NIC_ERR_REPORTING       "-global e1000e.x-err-reporting=on "

/* Config space beyond 256 bytes: through q35's ECAM, enabled here */
static void ecam_on(SlotTest *t)
{
    qtest_outl(t->qts, 0xcf8, 0x80000060);          /* MCH PCIEXBAR */
    qtest_outl(t->qts, 0xcfc, (uint32_t)ECAM | 1);
}

static uint64_t ecam(uint8_t bus, uint8_t devfn, uint16_t off)
{
    return ECAM + ((uint64_t)bus << 20) + ((uint64_t)devfn << 12) + off;
}

static uint32_t ext_readl(SlotTest *t, uint8_t bus, uint8_t devfn,
                          uint16_t off)
{
    return qtest_readl(t->qts, ecam(bus, devfn, off));
}

static uint16_t ext_readw(SlotTest *t, uint8_t bus, uint8_t devfn,
                          uint16_t off)
{
    return qtest_readw(t->qts, ecam(bus, devfn, off));
}

static void ext_writel(SlotTest *t, uint8_t bus, uint8_t devfn, uint16_t off,
                       uint32_t val)
{
    qtest_writel(t->qts, ecam(bus, devfn, off), val);
}

static void ext_writew(SlotTest *t, uint8_t bus, uint8_t devfn, uint16_t off,
                       uint16_t val)
{
    qtest_writew(t->qts, ecam(bus, devfn, off), val);
}

/* Offset of extended capability @id, 0 if absent */
static uint16_t ext_cap_find(SlotTest *t, uint8_t bus, uint8_t devfn,
                             uint16_t id)
{
    uint16_t pos = 0x100;
    int guard = 64;

    while (pos && guard--) {
        uint32_t hdr = ext_readl(t, bus, devfn, pos);

        if (!hdr || hdr == 0xffffffff) {
            return 0;
        }
        if (PCI_EXT_CAP_ID(hdr) == id) {
            return pos;
        }
        pos = PCI_EXT_CAP_NEXT(hdr);
    }
    g_assert_cmpint(guard, >=, 0);
    return 0;
}

static uint16_t lnkctl(QPCIDevice *port, uint8_t exp)
{
    return qpci_config_readw(port, exp + PCI_EXP_LNKCTL);
}

/* What x-query-pcie-port says; the caller unrefs */
static QDict *port_query(QTestState *qts, const char *port)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'x-query-pcie-port',"
                                 " 'arguments': {'port': %s}}", port);
    QDict *ret;

    g_assert_false(qdict_haskey(resp, "error"));
    ret = qdict_get_qdict(resp, "return");
    qobject_ref(ret);
    qobject_unref(resp);
    return ret;
}

/* The query's down reasons as one comma-separated string */
static char *port_down(QTestState *qts, const char *port)
{
    QDict *info = port_query(qts, port);
    QList *down = qdict_get_qlist(info, "down");
    GString *s = g_string_new("");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(down, e) {
        g_string_append_printf(s, "%s%s", s->len ? "," : "",
                               qstring_get_str(qobject_to(QString,
                                                  qlist_entry_obj(e))));
    }
    qobject_unref(info);
    return g_string_free(s, false);
}

static bool port_flag(QTestState *qts, const char *port, const char *key)
{
    QDict *info = port_query(qts, port);
    bool v = qdict_get_bool(info, key);

    qobject_unref(info);
    return v;
}

/* pciehp's power-off: power controller off, power indicator off */
static void slot_power(SlotTest *t, bool on)
{
    uint16_t ctl = sltctl(t->rp, t->exp) &
                   ~(PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);

    ctl |= on ? PCI_EXP_SLTCTL_PWR_ON | PCI_EXP_SLTCTL_PWR_IND_ON :
                PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF;
    qpci_config_writew(t->rp, t->exp + PCI_EXP_SLTCTL, ctl);
}

static void assert_link(SlotTest *t, bool active, bool training)
{
    g_assert_cmphex(lnksta(t->rp, t->exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==,
                    (active ? PCI_EXP_LNKSTA_DLLLA : 0) |
                    (training ? PCI_EXP_LNKSTA_LT : 0));
    g_assert_cmphex(qpci_config_readw(t->nic, PCI_VENDOR_ID), ==,
                    active ? NIC_VENDOR_ID : 0xffff);
}

/* The link comes up one training time after nothing holds it down */
static void assert_trains(SlotTest *t)
{
    assert_link(t, false, true);
    qtest_clock_step(t->qts, LINK_TRAINING_NS - 1);
    assert_link(t, false, true);
    qtest_clock_step(t->qts, 1);
    assert_link(t, true, false);
}

/*
 * Issue 11's report: a host link fault under pciehp.  pciehp powers the
 * slot off after Link Down (remove_board()); the card must stay, the link
 * stays down while the slot has no power (even once the fault is gone),
 * and powering the slot on again trains it.  Only then is the card an
 * ordinary one again: a guest power-off detaches it as in the base.
 */
static void test_fault_power_cycle(void)
{
    SlotTest t;

    slot_test_start(&t, NULL);
    qpci_config_writew(t.nic, PCI_COMMAND, PCI_COMMAND_MEMORY);

    link_set(t.qts, "rp1", false);
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);

    slot_power(&t, false);
    /* not detached: still in QOM, still present, no DLLSC */
    g_assert_true(qom_has_child(t.qts, "/machine/peripheral", "nic1"));
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC |
                     PCI_EXP_SLTSTA_DLLSC), ==, PCI_EXP_SLTSTA_PDS);

    /* the fault ends, but an unpowered card does not train */
    link_set(t.qts, "rp1", true);
    qtest_clock_step(t.qts, 10 * LINK_TRAINING_NS);
    assert_link(&t, false, false);
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));

    /* pciehp powers the slot on: the link trains, the card is back */
    slot_power(&t, true);
    assert_trains(&t);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==, 0);
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));

    /* recovered: a guest power-off is a removal again, as in the base */
    slot_power(&t, false);
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");
    g_assert_false(qom_has_child(t.qts, "/machine/peripheral", "nic1"));
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_PDS, ==, 0);

    slot_test_end(&t);
}

/*
 * The fault ends before pciehp powers the slot off: the link trains with
 * power, and the power-off that follows still keeps the card (its Link
 * Down event is still being handled); the power-on trains it again.
 */
static void test_fault_quick_recovery(void)
{
    SlotTest t;

    slot_test_start(&t, NULL);
    link_set(t.qts, "rp1", false);
    link_set(t.qts, "rp1", true);
    assert_trains(&t);
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));

    slot_power(&t, false);
    g_assert_true(qom_has_child(t.qts, "/machine/peripheral", "nic1"));
    assert_link(&t, false, false);
    slot_power(&t, true);
    assert_trains(&t);
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));

    slot_test_end(&t);
}

/* device_del during a link fault: the power-off completes the removal */
static void test_fault_device_del(void)
{
    SlotTest t;

    slot_test_start(&t, NULL);
    link_set(t.qts, "rp1", false);
    qmp_ok(t.qts, "{'execute': 'device_del', 'arguments': {'id': 'nic1'}}");
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_ABP, ==,
                    PCI_EXP_SLTSTA_ABP);
    slot_power(&t, false);
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");
    g_assert_false(qom_has_child(t.qts, "/machine/peripheral", "nic1"));
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));
    slot_test_end(&t);
}

/*
 * q35: Link Control stays as in the base unless x-link-control=on
 * (pc-q35-10.0 compatibility with stock QEMU 10.0).
 */
static void test_link_control_off(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, NULL);
    g_assert_false(port_flag(t.qts, "rp1", "link-control"));
    ctl = lnkctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL,
                       ctl | PCI_EXP_LNKCTL_LD | PCI_EXP_LNKCTL_RL);
    g_assert_cmphex(lnkctl(t.rp, t.exp), ==, ctl);
    assert_link(&t, true, false);

    qpci_config_writew(t.rp, PCI_BRIDGE_CONTROL,
                       qpci_config_readw(t.rp, PCI_BRIDGE_CONTROL) |
                       PCI_BRIDGE_CTL_BUS_RESET);
    assert_link(&t, true, false);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    slot_test_end(&t);
}

/* Link Disable: link down with DLLSC and its interrupt; clear: retrains */
static void test_link_disable(void)
{
    SlotTest t;
    uint16_t ctl;
    g_autofree char *down = NULL;

    slot_test_start(&t, LINK_CONTROL_ON);
    g_assert_true(port_flag(t.qts, "rp1", "link-control"));
    port_msix_to_ram(&t);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_SLTCTL,
                       sltctl(t.rp, t.exp) | PCI_EXP_SLTCTL_HPIE |
                       PCI_EXP_SLTCTL_DLLSCE);
    qpci_config_writew(t.nic, PCI_COMMAND, PCI_COMMAND_MEMORY);

    ctl = lnkctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl | PCI_EXP_LNKCTL_LD);
    g_assert_cmphex(lnkctl(t.rp, t.exp), ==, ctl | PCI_EXP_LNKCTL_LD);
    assert_link(&t, false, false);
    g_assert_cmphex(sltsta(t.rp, t.exp) &
                    (PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    down = port_down(t.qts, "rp1");
    g_assert_cmpstr(down, ==, "link-disable");
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));

    /* held down for as long as LD is set */
    qtest_clock_step(t.qts, 100 * LINK_TRAINING_NS);
    assert_link(&t, false, false);
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);

    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    assert_trains(&t);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    /* the card comes back from reset */
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==, 0);
    /*
     * Still a kept card: the slot has a power controller, and pciehp's
     * power-off for the Link Down may still come (test_fault_quick_recovery)
     */
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));
    g_assert_true(port_flag(t.qts, "rp1", "link-active"));

    /* Link Disable and a host fault together: both must go */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl | PCI_EXP_LNKCTL_LD);
    link_set(t.qts, "rp1", false);
    g_free(down);
    down = port_down(t.qts, "rp1");
    g_assert_cmpstr(down, ==, "host,link-disable");
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl);
    qtest_clock_step(t.qts, 10 * LINK_TRAINING_NS);
    assert_link(&t, false, false);
    link_set(t.qts, "rp1", true);
    assert_trains(&t);

    slot_test_end(&t);
}

/*
 * Link Disable on a slot without a power controller (q35-link-disable):
 * nothing can power the card off, so the fault ends when the link trains.
 */
static void test_link_disable_no_pcp(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, LINK_CONTROL_ON
                    "-global pcie-root-port.power_controller_present=off ");
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_SLTCAP) &
                    PCI_EXP_SLTCAP_PCP, ==, 0);
    ctl = lnkctl(t.rp, t.exp);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl | PCI_EXP_LNKCTL_LD);
    assert_link(&t, false, false);
    g_assert_true(port_flag(t.qts, "rp1", "card-kept"));
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl);
    assert_trains(&t);
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));
    slot_test_end(&t);
}

/*
 * q35's default ACPI PCI hot-plug owns the slot: the base keeps no
 * presence for it, so the link model stays out of the way (the endpoint
 * answers; found by compat/migrate-q35-*).
 */
static void test_acpi_hotplug_untouched(void)
{
    QTestState *qts = qtest_init("-machine q35 -nodefaults "
        "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2 "
        "-device e1000e,id=nic1,bus=rp1,romfile= ");
    QPCIBus *pcibus = qpci_new_pc(qts, NULL);
    QPCIDevice *rp = port_setup(pcibus, RP1_DEVFN, RP1_SEC_BUS);
    QPCIDevice *nic = nic_find(pcibus, RP1_SEC_BUS);
    uint8_t exp = port_exp_cap(rp);

    g_assert_cmphex(qpci_config_readw(nic, PCI_VENDOR_ID), ==, NIC_VENDOR_ID);
    /* as in the base: ACPI hot-plug sets neither PDS nor DLLLA */
    g_assert_cmphex(sltsta(rp, exp) & PCI_EXP_SLTSTA_PDS, ==, 0);
    g_assert_cmphex(lnksta(rp, exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    qmp_err(qts, "GenericError", "not under native PCIe hot-plug control",
            "{'execute': 'x-query-pcie-port', 'arguments': {'port': 'rp1'}}");
    g_free(nic);
    g_free(rp);
    qpci_free_pc(pcibus);
    qtest_quit(qts);
}

/*
 * Retrain Link: reads 0, Link Training for the training time while the
 * link stays active, then Link Bandwidth Management Status, with its
 * interrupt when LBMIE is set (pcie_retrain_link(), bwctrl).
 */
static void test_retrain_link(void)
{
    SlotTest t;
    uint16_t ctl;

    slot_test_start(&t, LINK_CONTROL_ON);
    port_msix_to_ram(&t);
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_LBNC, ==, PCI_EXP_LNKCAP_LBNC);
    ctl = lnkctl(t.rp, t.exp);

    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl | PCI_EXP_LNKCTL_RL);
    g_assert_cmphex(lnkctl(t.rp, t.exp), ==, ctl);
    g_assert_cmphex(lnksta(t.rp, t.exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT |
                     PCI_EXP_LNKSTA_LBMS), ==,
                    PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==,
                    NIC_VENDOR_ID);
    qtest_clock_step(t.qts, LINK_TRAINING_NS);
    g_assert_cmphex(lnksta(t.rp, t.exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT |
                     PCI_EXP_LNKSTA_LBMS), ==,
                    PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LBMS);
    /* no DLLSC: the Data Link Layer never went down; LBMIE is off */
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==, 0);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);

    /* LBMS is write-1-to-clear */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKSTA, PCI_EXP_LNKSTA_LBMS);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_LBMS, ==, 0);

    /* with LBMIE: the retrain's completion interrupts */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL,
                       ctl | PCI_EXP_LNKCTL_LBMIE | PCI_EXP_LNKCTL_RL);
    g_assert_cmphex(lnkctl(t.rp, t.exp), ==, ctl | PCI_EXP_LNKCTL_LBMIE);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);
    qtest_clock_step(t.qts, LINK_TRAINING_NS);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_LBMS, ==,
                    PCI_EXP_LNKSTA_LBMS);

    /* Retrain Link with the link disabled does nothing */
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL, ctl | PCI_EXP_LNKCTL_LD);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL,
                       ctl | PCI_EXP_LNKCTL_LD | PCI_EXP_LNKCTL_RL);
    assert_link(&t, false, false);
    slot_test_end(&t);
}

/*
 * Secondary Bus Reset: the card is reset (the base does it) and the link
 * is down while SBR is set: DLLLA clear, DLLSC; it retrains after.
 */
static void test_secondary_bus_reset(void)
{
    SlotTest t;
    uint16_t brctl;

    slot_test_start(&t, LINK_CONTROL_ON);
    qpci_config_writew(t.nic, PCI_COMMAND, PCI_COMMAND_MEMORY);
    brctl = qpci_config_readw(t.rp, PCI_BRIDGE_CONTROL);

    qpci_config_writew(t.rp, PCI_BRIDGE_CONTROL,
                       brctl | PCI_BRIDGE_CTL_BUS_RESET);
    assert_link(&t, false, false);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    {
        g_autofree char *down = port_down(t.qts, "rp1");

        g_assert_cmpstr(down, ==, "secondary-bus-reset");
    }
    /* a reset is no link fault */
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));
    sltsta_w1c(t.rp, t.exp, PCI_EXP_SLTSTA_DLLSC);

    qtest_clock_step(t.qts, 2000000);           /* Linux holds it 2 ms */
    qpci_config_writew(t.rp, PCI_BRIDGE_CONTROL, brctl);
    assert_trains(&t);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_COMMAND), ==, 0);
    slot_test_end(&t);
}

/* A system reset clears Link Disable and ends any training */
static void test_reset_link_control(void)
{
    SlotTest t;

    slot_test_start(&t, LINK_CONTROL_ON);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL,
                       lnkctl(t.rp, t.exp) | PCI_EXP_LNKCTL_LD);
    assert_link(&t, false, false);
    qmp_ok(t.qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(t.qts, "RESET");
    qpci_config_writeb(t.rp, PCI_SECONDARY_BUS, RP1_SEC_BUS);
    qpci_config_writeb(t.rp, PCI_SUBORDINATE_BUS, RP1_SEC_BUS);
    g_assert_cmphex(lnkctl(t.rp, t.exp) & PCI_EXP_LNKCTL_LD, ==, 0);
    assert_link(&t, true, false);
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));
    slot_test_end(&t);
}

/* ------------------------------------------------------------ DPC */

static uint16_t dpc_sta(SlotTest *t)
{
    return ext_readw(t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_STATUS);
}

static void dpc_ctl_write(SlotTest *t, uint16_t ctl)
{
    ext_writew(t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_CTL, ctl);
}

/* Linux's setup: AER reporting on the nic and the port, SERR forwarding */
static void aer_reporting_on(SlotTest *t)
{
    uint8_t nic_exp = qpci_find_capability(t->nic, PCI_CAP_ID_EXP, 0);
    uint16_t flags = PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE |
                     PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE;

    qpci_config_writew(t->nic, nic_exp + PCI_EXP_DEVCTL,
                       qpci_config_readw(t->nic, nic_exp + PCI_EXP_DEVCTL) |
                       flags);
    qpci_config_writew(t->rp, t->exp + PCI_EXP_DEVCTL,
                       qpci_config_readw(t->rp, t->exp + PCI_EXP_DEVCTL) |
                       flags);
    qpci_config_writew(t->rp, PCI_BRIDGE_CONTROL,
                       qpci_config_readw(t->rp, PCI_BRIDGE_CONTROL) |
                       PCI_BRIDGE_CTL_SERR);
}

static void aer_inject(QTestState *qts, const char *id, const char *error)
{
    qmp_ok(qts, "{'execute': 'x-pcie-aer-inject',"
                " 'arguments': {'id': %s, 'error': %s}}", id, error);
}

static void test_dpc_capability(void)
{
    SlotTest t;
    uint16_t cap;

    /* off by default: no capability, no Surprise Down reporting */
    slot_test_start(&t, NULL);
    ecam_on(&t);
    g_assert_cmphex(ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_DPC), ==, 0);
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_SDERC, ==, 0);
    {
        QDict *info = port_query(t.qts, "rp1");

        g_assert_false(qdict_haskey(info, "dpc"));
        qobject_unref(info);
    }
    slot_test_end(&t);

    slot_test_start(&t, DPC_ON);
    ecam_on(&t);
    g_assert_cmphex(ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_DPC), ==,
                    DPC_OFFSET);
    g_assert_cmphex(PCI_EXT_CAP_VER(ext_readl(&t, 0, RP1_DEVFN, DPC_OFFSET)),
                    ==, 1);
    cap = ext_readw(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_CAP);
    /* Int Msg 0, RP Extensions, Software Triggering, RP PIO Log Size 4 */
    g_assert_cmphex(cap, ==, PCI_EXP_DPC_CAP_RP_EXT |
                    PCI_EXP_DPC_CAP_SW_TRIGGER | (4 << 8));
    g_assert_cmphex(qpci_config_readl(t.rp, t.exp + PCI_EXP_LNKCAP) &
                    PCI_EXP_LNKCAP_SDERC, ==, PCI_EXP_LNKCAP_SDERC);
    /* Control: Trigger Enable, Completion Control, Int En, ERR_COR En */
    dpc_ctl_write(&t, 0xffff & ~DPC_SW_TRIGGER);
    g_assert_cmphex(ext_readw(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_CTL),
                    ==, 0x001f);
    dpc_ctl_write(&t, 0);
    g_assert_cmphex(dpc_sta(&t), ==, 0);
    /* RP PIO: mask defaults to all nine errors masked, status RW1CS */
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN,
                              DPC_OFFSET + PCI_EXP_DPC_RP_PIO_MASK), ==,
                    0x00070707);
    ext_writel(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_RP_PIO_STATUS,
               0xffffffff);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN,
                              DPC_OFFSET + PCI_EXP_DPC_RP_PIO_STATUS), ==, 0);
    ext_writel(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_RP_PIO_SEVERITY,
               0xffffffff);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN,
                              DPC_OFFSET + PCI_EXP_DPC_RP_PIO_SEVERITY), ==,
                    0x00070707);
    slot_test_end(&t);
}

/*
 * ERR_FATAL from the card below: DPC contains it (the message does not
 * reach the root port's AER), the link goes down, the DPC interrupt
 * fires; clearing Trigger Status lets the link retrain.
 */
static void test_dpc_err_fatal(void)
{
    SlotTest t;
    QDict *info, *dpc;
    uint16_t aer;

    slot_test_start(&t, DPC_ON NIC_ERR_REPORTING);
    ecam_on(&t);
    aer = ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_ERR);
    aer_reporting_on(&t);
    ext_writel(&t, 0, RP1_DEVFN, aer + PCI_ERR_ROOT_COMMAND,
               PCI_ERR_ROOT_CMD_COR_EN | PCI_ERR_ROOT_CMD_NONFATAL_EN |
               PCI_ERR_ROOT_CMD_FATAL_EN);
    port_msix_to_ram(&t);
    /* Linux's dpc_enable(): ERR_FATAL trigger, interrupt */
    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL | PCI_EXP_DPC_CTL_INT_EN);

    aer_inject(t.qts, "nic1", "DLP");           /* fatal by default */
    g_assert_cmphex(dpc_sta(&t), ==,
                    PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE |
                    PCI_EXP_DPC_STATUS_INTERRUPT);
    g_assert_cmphex(ext_readw(&t, 0, RP1_DEVFN,
                              DPC_OFFSET + PCI_EXP_DPC_SOURCE_ID), ==,
                    NIC1_RID);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);
    /* contained: nothing in the root port's Root Error Status */
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, aer + PCI_ERR_ROOT_STATUS) &
                    0x7f, ==, 0);
    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==, 0);
    g_assert_cmphex(qpci_config_readw(t.nic, PCI_VENDOR_ID), ==, 0xffff);
    g_assert_cmphex(sltsta(t.rp, t.exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);

    info = port_query(t.qts, "rp1");
    dpc = qdict_get_qdict(info, "dpc");
    g_assert_true(qdict_get_bool(dpc, "triggered"));
    g_assert_cmpstr(qdict_get_str(dpc, "reason"), ==, "err-fatal");
    g_assert_cmpint(qdict_get_int(dpc, "source-id"), ==, NIC1_RID);
    g_assert_cmpint(qdict_get_int(dpc, "triggers"), ==, 1);
    qobject_unref(info);

    /*
     * held down until software clears Trigger Status (dpc_irq(), then
     * dpc_reset_link())
     */
    qtest_clock_step(t.qts, 100 * LINK_TRAINING_NS);
    ext_writew(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_STATUS,
               PCI_EXP_DPC_STATUS_INTERRUPT);
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE);
    assert_link(&t, false, false);
    ext_writew(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_STATUS,
               PCI_EXP_DPC_STATUS_TRIGGER);
    g_assert_cmphex(dpc_sta(&t), ==, 0);
    g_assert_cmphex(ext_readw(&t, 0, RP1_DEVFN,
                              DPC_OFFSET + PCI_EXP_DPC_SOURCE_ID), ==, 0);
    assert_trains(&t);

    /*
     * the card was reset by the link going down: its reporting enables
     * are gone, as Linux's pci_restore_state() after recovery knows
     */
    g_assert_cmphex(qpci_config_readw(t.nic, qpci_find_capability(t.nic,
                        PCI_CAP_ID_EXP, 0) + PCI_EXP_DEVCTL) &
                    PCI_EXP_DEVCTL_FERE, ==, 0);
    aer_reporting_on(&t);

    /* a masked interrupt: DPC still triggers, no message */
    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL);
    aer_inject(t.qts, "nic1", "DLP");
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE);
    g_assert_cmphex(msi_take(&t), ==, MSI_SENTINEL);
    slot_test_end(&t);
}

/* ERR_NONFATAL triggers only with Trigger Enable 10b */
static void test_dpc_err_nonfatal(void)
{
    SlotTest t;
    uint16_t aer;

    slot_test_start(&t, DPC_ON NIC_ERR_REPORTING);
    ecam_on(&t);
    aer = ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_ERR);
    aer_reporting_on(&t);

    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL);
    aer_inject(t.qts, "nic1", "COMP_TIME");     /* non-fatal by default */
    g_assert_cmphex(dpc_sta(&t), ==, 0);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, aer + PCI_ERR_ROOT_STATUS) &
                    PCI_ERR_ROOT_NONFATAL_RCV, ==, PCI_ERR_ROOT_NONFATAL_RCV);
    assert_link(&t, true, false);

    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_NONFATAL);
    aer_inject(t.qts, "nic1", "COMP_TIME");
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_NFE);
    assert_link(&t, false, false);
    slot_test_end(&t);
}

/*
 * Surprise link down with DPC: Surprise Down in the port's AER, DPC
 * triggered with reason "unmasked uncorrectable error" (what Linux's
 * dpc_is_surprise_removal() looks for).
 */
static void test_dpc_surprise_down(void)
{
    SlotTest t;
    uint16_t aer;

    slot_test_start(&t, DPC_ON);
    ecam_on(&t);
    aer = ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_ERR);
    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL);

    link_set(t.qts, "rp1", false);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, aer + PCI_ERR_UNCOR_STATUS) &
                    PCI_ERR_UNC_SURPDN, ==, PCI_ERR_UNC_SURPDN);
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR);
    {
        g_autofree char *down = port_down(t.qts, "rp1");

        g_assert_cmpstr(down, ==, "host,containment");
    }
    /* released by software, but the host still holds the link */
    ext_writew(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_STATUS,
               PCI_EXP_DPC_STATUS_TRIGGER);
    qtest_clock_step(t.qts, 10 * LINK_TRAINING_NS);
    assert_link(&t, false, false);
    link_set(t.qts, "rp1", true);
    assert_trains(&t);

    /* a masked Surprise Down is logged but triggers nothing */
    ext_writel(&t, 0, RP1_DEVFN, aer + PCI_ERR_UNCOR_STATUS, 0xffffffff);
    ext_writel(&t, 0, RP1_DEVFN, aer + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_SURPDN);
    link_set(t.qts, "rp1", false);
    g_assert_cmphex(dpc_sta(&t), ==, 0);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, aer + PCI_ERR_UNCOR_STATUS) &
                    PCI_ERR_UNC_SURPDN, ==, PCI_ERR_UNC_SURPDN);
    link_set(t.qts, "rp1", true);
    assert_trains(&t);
    ext_writel(&t, 0, RP1_DEVFN, aer + PCI_ERR_UNCOR_MASK, 0);

    /* surprise removal: contained, and nothing to retrain after */
    surprise_remove(t.qts, "nic1");
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");
    g_assert_cmphex(dpc_sta(&t) & PCI_EXP_DPC_STATUS_TRIGGER, ==,
                    PCI_EXP_DPC_STATUS_TRIGGER);
    ext_writew(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_STATUS,
               PCI_EXP_DPC_STATUS_TRIGGER);
    qtest_clock_step(t.qts, 10 * LINK_TRAINING_NS);
    g_assert_cmphex(lnksta(t.rp, t.exp) &
                    (PCI_EXP_LNKSTA_DLLLA | PCI_EXP_LNKSTA_LT), ==, 0);
    g_assert_false(port_flag(t.qts, "rp1", "card-kept"));
    slot_test_end(&t);
}

/* DPC Software Trigger: reads 0, reason "software"; ignored when disabled */
static void test_dpc_software_trigger(void)
{
    SlotTest t;

    slot_test_start(&t, DPC_ON);
    ecam_on(&t);
    dpc_ctl_write(&t, DPC_SW_TRIGGER);
    g_assert_cmphex(dpc_sta(&t), ==, 0);
    assert_link(&t, true, false);

    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL | DPC_SW_TRIGGER);
    g_assert_cmphex(ext_readw(&t, 0, RP1_DEVFN, DPC_OFFSET + PCI_EXP_DPC_CTL),
                    ==, PCI_EXP_DPC_CTL_EN_FATAL);
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_IN_EXT |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_SW_TRIGGER);
    assert_link(&t, false, false);
    slot_test_end(&t);
}

/* An uncorrectable error injected into the port itself triggers its DPC */
static void test_dpc_port_own_error(void)
{
    SlotTest t;

    slot_test_start(&t, DPC_ON);
    ecam_on(&t);
    dpc_ctl_write(&t, PCI_EXP_DPC_CTL_EN_FATAL);
    aer_inject(t.qts, "rp1", "COMP_TIME");      /* non-fatal, unmasked */
    g_assert_cmphex(dpc_sta(&t), ==, PCI_EXP_DPC_STATUS_TRIGGER |
                    PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR);
    slot_test_end(&t);
}

/* --------------------------------------------------------- AER over QMP */

/*
 * What HMP pcie_aer_inject_error does, over QMP: the card logs the error,
 * the root port receives the message (Root Error Status, Error Source
 * Identification) and interrupts.
 */
static void test_aer_inject(void)
{
    SlotTest t;
    uint16_t rp_aer, nic_aer;

    slot_test_start(&t, NIC_ERR_REPORTING);
    ecam_on(&t);
    rp_aer = ext_cap_find(&t, 0, RP1_DEVFN, PCI_EXT_CAP_ID_ERR);
    nic_aer = ext_cap_find(&t, RP1_SEC_BUS, 0, PCI_EXT_CAP_ID_ERR);
    g_assert_cmphex(nic_aer, !=, 0);
    port_msix_to_ram(&t);

    /* reporting off: logged, not signalled */
    aer_inject(t.qts, "nic1", "RCVR");
    g_assert_cmphex(ext_readl(&t, RP1_SEC_BUS, 0, nic_aer + PCI_ERR_COR_STATUS),
                    ==, PCI_ERR_COR_RCVR);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, rp_aer + PCI_ERR_ROOT_STATUS),
                    ==, 0);

    aer_reporting_on(&t);
    g_assert_cmphex(qpci_config_readw(t.nic, qpci_find_capability(t.nic,
                        PCI_CAP_ID_EXP, 0) + PCI_EXP_DEVCTL) &
                    PCI_EXP_DEVCTL_CERE, ==, PCI_EXP_DEVCTL_CERE);
    ext_writel(&t, 0, RP1_DEVFN, rp_aer + PCI_ERR_ROOT_COMMAND,
               PCI_ERR_ROOT_CMD_COR_EN);
    qmp_ok(t.qts, "{'execute': 'x-pcie-aer-inject', 'arguments':"
                  " {'id': '/machine/peripheral/nic1', 'error': '0x40',"
                  "  'correctable': true}}");     /* BAD_TLP by number */
    g_assert_cmphex(ext_readl(&t, RP1_SEC_BUS, 0, nic_aer + PCI_ERR_COR_STATUS),
                    ==, PCI_ERR_COR_RCVR | PCI_ERR_COR_BAD_TLP);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, rp_aer + PCI_ERR_ROOT_STATUS) &
                    PCI_ERR_ROOT_COR_RCV, ==, PCI_ERR_ROOT_COR_RCV);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, rp_aer + PCI_ERR_ROOT_ERR_SRC) &
                    0xffff, ==, NIC1_RID);
    g_assert_cmphex(msi_take(&t), ==, MSI_DATA);

    /* uncorrectable with a header: logged in the card's header log */
    qmp_ok(t.qts, "{'execute': 'x-pcie-aer-inject', 'arguments':"
                  " {'id': 'nic1', 'error': 'UNX_COMP',"
                  "  'header': [1, 2, 3, 4]}}");
    g_assert_cmphex(ext_readl(&t, RP1_SEC_BUS, 0,
                              nic_aer + PCI_ERR_UNCOR_STATUS), ==,
                    PCI_ERR_UNC_UNX_COMP);
    /* the base logs the header DWORDs big-endian, as TLPs are sent */
    g_assert_cmphex(ext_readl(&t, RP1_SEC_BUS, 0,
                              nic_aer + PCI_ERR_HEADER_LOG + 8), ==,
                    0x03000000);
    g_assert_cmphex(ext_readl(&t, 0, RP1_DEVFN, rp_aer + PCI_ERR_ROOT_STATUS) &
                    PCI_ERR_ROOT_NONFATAL_RCV, ==, PCI_ERR_ROOT_NONFATAL_RCV);
    slot_test_end(&t);
}

static void test_aer_inject_bad_input(void)
{
    SlotTest t;

    slot_test_start(&t, "-device pcie-root-port,id=rp2,chassis=1,slot=2,"
                    "bus=pcie.0,addr=0x3 "
                    "-device virtio-rng-pci,id=rng,bus=rp2 ");
    qmp_err(t.qts, "DeviceNotFound", "nosuchdev",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'nosuchdev', 'error': 'RCVR'}}");
    qmp_err(t.qts, "GenericError", "has no Advanced Error Reporting",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'rng', 'error': 'RCVR'}}");
    qmp_err(t.qts, "GenericError", "invalid error status value 'BOGUS'",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'nic1', 'error': 'BOGUS'}}");
    qmp_err(t.qts, "GenericError", "only valid with a numeric",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'nic1', 'error': 'RCVR',"
            "  'correctable': true}}");
    qmp_err(t.qts, "GenericError", "failed to inject error",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'nic1', 'error': '0x3'}}");
    qmp_err(t.qts, "GenericError", "at most 4 DWORDs",
            "{'execute': 'x-pcie-aer-inject',"
            " 'arguments': {'id': 'nic1', 'error': 'DLP',"
            "  'header': [1, 2, 3, 4, 5]}}");
    /* the query wants a port */
    qmp_err(t.qts, "GenericError", "not a PCI Express port with a slot",
            "{'execute': 'x-query-pcie-port',"
            " 'arguments': {'port': 'nic1'}}");
    slot_test_end(&t);
}

/* ------------------------------------------------------------ migration */

/* Does the stream in @path carry the link state subsection? */
static bool stream_has_link_state(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    static const char name[] = "pcie-root-port/plugfault-link";

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return memmem(data, len, name, sizeof(name) - 1) != NULL;
}

static void migrate_to_file(QTestState *qts, const char *path)
{
    QDict *resp, *ret;
    const char *status = "";
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    qmp_ok(qts, "{'execute': 'migrate', 'arguments': {'uri': %s}}", uri);
    while (strcmp(status, "completed")) {
        resp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        ret = qdict_get_qdict(resp, "return");
        status = qdict_get_try_str(ret, "status");
        g_assert_cmpstr(status, !=, "failed");
        status = !strcmp(status, "completed") ? "completed" : "";
        qobject_unref(resp);
        g_usleep(10000);
    }
}

/*
 * The link state migrates in a subsection sent only when it is not what a
 * reset leaves, so that a steady pc-q35-10.0 guest migrates to stock QEMU
 * 10.0 and back.
 */
static void test_migration(void)
{
    SlotTest t, d;
    g_autofree char *path = g_strdup_printf("%s/pcie-link-%d.mig",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *incoming = g_strdup_printf("-incoming file:%s "
                                                LINK_CONTROL_ON, path);
    g_autofree char *down = NULL;

    /* steady: no subsection */
    slot_test_start(&t, LINK_CONTROL_ON);
    migrate_to_file(t.qts, path);
    g_assert_false(stream_has_link_state(path));
    slot_test_end(&t);

    /* Link Disable set: the subsection goes, the destination keeps it */
    slot_test_start(&t, LINK_CONTROL_ON);
    qpci_config_writew(t.rp, t.exp + PCI_EXP_LNKCTL,
                       lnkctl(t.rp, t.exp) | PCI_EXP_LNKCTL_LD);
    migrate_to_file(t.qts, path);
    g_assert_true(stream_has_link_state(path));
    slot_test_end(&t);

    d.qts = qtest_initf(MACHINE_ARGS "%s", incoming);
    /* the incoming side may be done before QMP is up: poll, no event */
    for (;;) {
        QDict *resp = qtest_qmp(d.qts, "{'execute': 'query-status'}");
        bool running = qdict_get_bool(qdict_get_qdict(resp, "return"),
                                      "running");

        qobject_unref(resp);
        if (running) {
            break;
        }
        g_usleep(10000);
    }
    d.pcibus = qpci_new_pc(d.qts, NULL);
    d.rp = qpci_device_find(d.pcibus, RP1_DEVFN);
    d.exp = port_exp_cap(d.rp);
    /* the card does not answer (link down): no qpci_device_find() */
    d.nic = g_new0(QPCIDevice, 1);
    d.nic->bus = d.pcibus;
    d.nic->devfn = BEHIND(RP1_SEC_BUS);
    assert_link(&d, false, false);
    down = port_down(d.qts, "rp1");
    g_assert_cmpstr(down, ==, "link-disable");
    g_assert_true(port_flag(d.qts, "rp1", "card-kept"));
    qpci_config_writew(d.rp, d.exp + PCI_EXP_LNKCTL,
                       lnkctl(d.rp, d.exp) & ~PCI_EXP_LNKCTL_LD);
    assert_trains(&d);
    slot_test_end(&d);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_machine("q35") || !qtest_has_device("pcie-root-port") ||
        !qtest_has_device("e1000e")) {
        return g_test_run();     /* nothing to test on this build */
    }

    qtest_add_func("/pcie-slot-fault/sltctl-wmask", test_sltctl_wmask);
    qtest_add_func("/pcie-slot-fault/sltctl-wmask/events-off",
                   test_slot_fault_events_off);
    qtest_add_func("/pcie-slot-fault/surprise-remove/dlllarc",
                   test_surprise_remove);
    qtest_add_func("/pcie-slot-fault/broken-presence", test_broken_presence);
    qtest_add_func("/pcie-slot-fault/surprise-remove/no-dlllarc",
                   test_surprise_remove_no_dlllarc);
    qtest_add_func("/pcie-slot-fault/msix/surprise-remove",
                   test_surprise_remove_msix);
    qtest_add_func("/pcie-slot-fault/msix/dllsc-pfd-enables",
                   test_fault_events_msix);
    qtest_add_func("/pcie-slot-fault/link-down-up", test_link_down_up);
    qtest_add_func("/pcie-slot-fault/power-fault", test_power_fault);
    qtest_add_func("/pcie-slot-fault/bad-input", test_bad_input);
    qtest_add_func("/pcie-slot-fault/port-by-bus-name", test_port_by_bus_name);
    /* Link state that outlives the port or the machine's reset */
    qtest_add_func("/pcie-slot-fault/lifetime/reset-link-held-down",
                   test_reset_while_link_down);
    /* issue 11: link faults that look like link faults */
    qtest_add_func("/pcie-slot-fault/link-fault/power-cycle",
                   test_fault_power_cycle);
    qtest_add_func("/pcie-slot-fault/link-fault/quick-recovery",
                   test_fault_quick_recovery);
    qtest_add_func("/pcie-slot-fault/link-fault/device-del",
                   test_fault_device_del);
    qtest_add_func("/pcie-slot-fault/link-control/off-on-q35",
                   test_link_control_off);
    qtest_add_func("/pcie-slot-fault/link-control/link-disable",
                   test_link_disable);
    qtest_add_func("/pcie-slot-fault/link-control/link-disable-no-pcp",
                   test_link_disable_no_pcp);
    qtest_add_func("/pcie-slot-fault/link/acpi-hotplug-untouched",
                   test_acpi_hotplug_untouched);
    qtest_add_func("/pcie-slot-fault/link-control/retrain-link",
                   test_retrain_link);
    qtest_add_func("/pcie-slot-fault/link-control/secondary-bus-reset",
                   test_secondary_bus_reset);
    qtest_add_func("/pcie-slot-fault/link-control/system-reset",
                   test_reset_link_control);
    qtest_add_func("/pcie-slot-fault/dpc/capability", test_dpc_capability);
    qtest_add_func("/pcie-slot-fault/dpc/err-fatal", test_dpc_err_fatal);
    qtest_add_func("/pcie-slot-fault/dpc/err-nonfatal", test_dpc_err_nonfatal);
    qtest_add_func("/pcie-slot-fault/dpc/surprise-down",
                   test_dpc_surprise_down);
    qtest_add_func("/pcie-slot-fault/dpc/software-trigger",
                   test_dpc_software_trigger);
    qtest_add_func("/pcie-slot-fault/dpc/port-own-error",
                   test_dpc_port_own_error);
    qtest_add_func("/pcie-slot-fault/aer/inject", test_aer_inject);
    if (qtest_has_device("virtio-rng-pci")) {
        qtest_add_func("/pcie-slot-fault/aer/bad-input",
                       test_aer_inject_bad_input);
    }
    qtest_add_func("/pcie-slot-fault/link-control/migration", test_migration);
    if (qtest_has_device("x3130-upstream") &&
        qtest_has_device("xio3130-downstream")) {
        qtest_add_func("/pcie-slot-fault/lifetime/switch-removed-link-down",
                       test_surprise_remove_switch);
    }

    return g_test_run();
}
