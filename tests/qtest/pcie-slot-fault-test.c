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

    g_assert_cmphex(lnksta(t.rp, t.exp) & PCI_EXP_LNKSTA_DLLLA, ==,
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
    /* An empty slot has a link to take down, too */
    link_set(qts, bus_name, false);
    g_assert_cmphex(sltsta(port, exp) & PCI_EXP_SLTSTA_DLLSC, ==,
                    PCI_EXP_SLTSTA_DLLSC);

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
    if (qtest_has_device("x3130-upstream") &&
        qtest_has_device("xio3130-downstream")) {
        qtest_add_func("/pcie-slot-fault/lifetime/switch-removed-link-down",
                       test_surprise_remove_switch);
    }

    return g_test_run();
}
