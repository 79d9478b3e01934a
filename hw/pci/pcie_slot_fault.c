/*
 * plugfault: fault injection on PCI Express hot-plug slots
 *
 * Surprise removal, link down/up and power faults on any port that QEMU
 * models with a PCIe slot capability (pcie-root-port, the PowerNV PHB root
 * port, switch downstream ports), driven from QMP (qapi/pcie-slot-fault.json).
 *
 * The base slot model knows three slot events (attention button, presence
 * detect changed, command completed).  Hooks in hw/pci/pcie.c let this file
 * add the two a real slot also reports: Data Link Layer State Changed (on
 * ports with Data Link Layer Link Active Reporting, as the spec requires)
 * and Power Fault Detected (on slots with a power controller).
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-pcie-slot-fault.h"
#include "hw/hotplug.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/pcie_slot_fault.h"
#include "hw/pci/live-translations-check.h"
#include "hw/qdev-core.h"
#include "hw/qdev-find.h"
#include "migration/blocker.h"
#include "qom/object.h"
#include "trace.h"

/*
 * Ports whose link QMP holds down.  Kept outside the device state: while it
 * is not empty, migration is blocked (see x-pcie-link-set's documentation).
 */
static GHashTable *links_down;
static Error *link_down_blocker;

static uint8_t *exp_cap(PCIDevice *port)
{
    return port->config + port->exp.exp_cap;
}

static bool port_reports_link(PCIDevice *port)
{
    return pci_get_long(exp_cap(port) + PCI_EXP_LNKCAP) &
           PCI_EXP_LNKCAP_DLLLARC;
}

/* The link's DLLLA bit, kept wherever the base keeps it up to date. */
static void set_dllla(PCIDevice *port, bool active)
{
    if (!(port->cap_present & QEMU_PCIE_LNKSTA_DLLLA) &&
        !port_reports_link(port)) {
        return;
    }
    if (active) {
        pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_LNKSTA,
                                   PCI_EXP_LNKSTA_DLLLA);
    } else {
        pci_word_test_and_clear_mask(exp_cap(port) + PCI_EXP_LNKSTA,
                                     PCI_EXP_LNKSTA_DLLLA);
    }
}

/*
 * Make DLLSCE/PFDE writable and DLLSC/PFD write-1-to-clear exactly when the
 * port's capabilities allow them.  Idempotent: models that change LNKCAP or
 * SLTCAP after the base's slot init (the PowerNV root port) call it again.
 */
static void allow_event(PCIDevice *port, uint16_t enable, uint16_t status,
                        bool allowed)
{
    uint32_t pos = port->exp.exp_cap;
    uint16_t wmask = pci_get_word(port->wmask + pos + PCI_EXP_SLTCTL);
    uint16_t w1cmask = pci_get_word(port->w1cmask + pos + PCI_EXP_SLTSTA);

    pci_set_word(port->wmask + pos + PCI_EXP_SLTCTL,
                 allowed ? wmask | enable : wmask & ~enable);
    pci_set_word(port->w1cmask + pos + PCI_EXP_SLTSTA,
                 allowed ? w1cmask | status : w1cmask & ~status);
}

/*
 * x-slot-fault-events=off keeps SLTCTL.DLLSCE/PFDE read-only zero, as in the
 * base: a guest's pciehp sets DLLSCE on every port with link reporting
 * (q35's pcie-root-port has it), and a stock QEMU refuses config space with
 * bits set that its write mask lacks, so such a port migrates to stock only
 * with the events off (tests/plugfault/migration).  auto: on.
 */
static bool slot_fault_events(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port), TYPE_PCIE_SLOT);

    return !s || s->x_slot_fault_events != ON_OFF_AUTO_OFF;
}

void pcie_slot_fault_init(PCIDevice *port)
{
    uint32_t sltcap = pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP);
    bool events = slot_fault_events(port);

    allow_event(port, PCI_EXP_SLTCTL_DLLSCE, PCI_EXP_SLTSTA_DLLSC,
                events && port_reports_link(port));
    allow_event(port, PCI_EXP_SLTCTL_PFDE, PCI_EXP_SLTSTA_PFD,
                events && (sltcap & PCI_EXP_SLTCAP_PCP));
    live_xlate_slot_init(port);
}

static void link_down_forget(PCIDevice *port)
{
    if (links_down && g_hash_table_remove(links_down, port) &&
        g_hash_table_size(links_down) == 0) {
        migrate_del_blocker(&link_down_blocker);
    }
}

void pcie_slot_fault_forget(PCIDevice *port)
{
    link_down_forget(port);
    live_xlate_slot_forget(port);
}

void pcie_slot_fault_reset(PCIDevice *port)
{
    uint8_t *cap = exp_cap(port);

    /* A reset retrains the link: a held-down link comes back up. */
    if (pcie_slot_fault_link_is_down(port)) {
        link_down_forget(port);
        if (pci_get_word(cap + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS) {
            set_dllla(port, true);
        }
    }
    pci_word_test_and_clear_mask(cap + PCI_EXP_SLTCTL,
                                 PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    pci_word_test_and_clear_mask(cap + PCI_EXP_SLTSTA,
                                 PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_PFD);
}

bool pcie_slot_fault_event_pending(PCIDevice *port, uint16_t sltctl,
                                   uint16_t sltsta)
{
    return ((sltsta & PCI_EXP_SLTSTA_DLLSC) &&
            (sltctl & PCI_EXP_SLTCTL_DLLSCE)) ||
           ((sltsta & PCI_EXP_SLTSTA_PFD) && (sltctl & PCI_EXP_SLTCTL_PFDE));
}

bool pcie_slot_fault_link_is_down(PCIDevice *port)
{
    return links_down && g_hash_table_contains(links_down, port);
}

/*
 * The base changed DLLLA (hot-plug, or detach on power-off): a port that
 * reports link state must raise DLLSC (PCIe Base spec, Slot Status).  The
 * caller signals the slot event afterwards.
 */
void pcie_slot_fault_dllla_changed(PCIDevice *port)
{
    if (port_reports_link(port) && slot_fault_events(port)) {
        pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                   PCI_EXP_SLTSTA_DLLSC);
    }
}

bool pcie_slot_fault_gate_power(PCIDevice *port, bool power)
{
    /* a power-off refused by the live-translation check keeps power */
    power = live_xlate_gate_power(port, power);
    if (!pcie_slot_fault_link_is_down(port)) {
        return power;
    }
    /* A card plugged in while the link is held down does not train. */
    set_dllla(port, false);
    return false;
}

static void signal_events(PCIDevice *port, uint16_t events)
{
    /* DLLSC and PFD only where they are events (x-slot-fault-events) */
    if (!slot_fault_events(port)) {
        events &= ~(PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_PFD);
    }
    pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_SLTSTA, events);
    trace_pcie_slot_fault_signal(DEVICE(port)->canonical_path, events,
                                 pci_get_word(exp_cap(port) + PCI_EXP_SLTSTA),
                                 pci_get_word(exp_cap(port) + PCI_EXP_SLTCTL));
    pcie_cap_slot_fault_notify(port);
}

bool pcie_slot_fault_port_check(PCIDevice *port, Error **errp)
{
    g_autofree char *path = object_get_canonical_path(OBJECT(port));
    const char *name = DEVICE(port)->id ? DEVICE(port)->id : path;

    if (!pci_is_express(port) ||
        !object_dynamic_cast(OBJECT(port), TYPE_PCI_BRIDGE) ||
        !(pci_get_word(exp_cap(port) + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_SLOT)) {
        error_setg(errp, "'%s' is not a PCI Express port with a slot", name);
        return false;
    }
    if (!(pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC)) {
        error_setg(errp, "the slot of '%s' is not hot-plug capable", name);
        return false;
    }
    if (BUS(pci_bridge_get_sec_bus(PCI_BRIDGE(port)))->hotplug_handler !=
        HOTPLUG_HANDLER(port)) {
        /* e.g. q35's ACPI PCI hot-plug: the guest would never hear of it */
        error_setg(errp, "the slot of '%s' is not under native PCIe hot-plug "
                   "control (ACPI PCI hot-plug owns it)", name);
        error_append_hint(errp, "On q35 use -global "
                          "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off\n");
        return false;
    }
    return true;
}

static void unplug_one(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    HotplugHandler *ctrl = qdev_get_hotplug_handler(DEVICE(dev));

    trace_pcie_slot_fault_detach(DEVICE(dev)->canonical_path);
    hotplug_handler_unplug(ctrl, DEVICE(dev), &error_abort);
    object_unparent(OBJECT(dev));
}

void pcie_slot_fault_surprise_remove(PCIDevice *port)
{
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(port));
    uint16_t events = PCI_EXP_SLTSTA_PDC;

    trace_pcie_slot_fault_surprise_remove(DEVICE(port)->canonical_path);
    set_dllla(port, false);
    if (port_reports_link(port)) {
        events |= PCI_EXP_SLTSTA_DLLSC;
    }
    pci_for_each_device_under_bus(sec, unplug_one, NULL);
    live_xlate_slot_unplugged(port);    /* no power-off pending any more */
    link_down_forget(port);             /* nothing left behind the link */
    pci_word_test_and_clear_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                 PCI_EXP_SLTSTA_PDS);
    signal_events(port, events);
}

static void set_enabled_one(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    pci_set_enabled(dev, *(bool *)opaque);
}

void pcie_slot_fault_set_link(PCIDevice *port, bool up)
{
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(port));
    uint8_t *cap = exp_cap(port);
    bool powered = true;

    trace_pcie_slot_fault_link(DEVICE(port)->canonical_path, up);
    if (up) {
        link_down_forget(port);
        if (pci_get_long(cap + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP) {
            powered = (pci_get_word(cap + PCI_EXP_SLTCTL) &
                       PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_ON;
        }
        if (pci_get_word(cap + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS) {
            set_dllla(port, true);
        }
    } else {
        if (!links_down) {
            links_down = g_hash_table_new(NULL, NULL);
        }
        if (g_hash_table_size(links_down) == 0) {
            error_setg(&link_down_blocker,
                       "a PCIe link is held down by x-pcie-link-set");
            migrate_add_blocker(&link_down_blocker, &error_warn);
        }
        g_hash_table_add(links_down, port);
        set_dllla(port, false);
        powered = false;
    }
    pci_for_each_device_under_bus(sec, set_enabled_one, &powered);
    signal_events(port, port_reports_link(port) ? PCI_EXP_SLTSTA_DLLSC : 0);
}

void pcie_slot_fault_power_fault(PCIDevice *port)
{
    trace_pcie_slot_fault_power_fault(DEVICE(port)->canonical_path);
    signal_events(port, PCI_EXP_SLTSTA_PFD);
}

/* ------------------------------------------------------------------ QMP */

typedef struct BusSearch {
    const char *name;
    DeviceState *port;
} BusSearch;

static int find_bus_cb(Object *obj, void *opaque)
{
    BusSearch *search = opaque;
    BusState *bus = (BusState *)object_dynamic_cast(obj, TYPE_PCI_BUS);

    if (bus && bus->name && !strcmp(bus->name, search->name) && bus->parent) {
        search->port = bus->parent;
        return 1;
    }
    return 0;
}

static PCIDevice *find_port(const char *name, Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(name, NULL);
    BusSearch search = { name, NULL };

    if (!dev) {
        object_child_foreach_recursive(qdev_get_machine(), find_bus_cb,
                                       &search);
        dev = search.port;
    }
    if (!dev) {
        error_setg(errp, "no device or PCI bus named '%s'", name);
        return NULL;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE)) {
        error_setg(errp, "'%s' is not a PCI device", name);
        return NULL;
    }
    if (!pcie_slot_fault_port_check(PCI_DEVICE(dev), errp)) {
        return NULL;
    }
    return PCI_DEVICE(dev);
}

void qmp_x_pcie_surprise_remove(const char *id, Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(id, errp);
    PCIBus *bus;

    if (!dev) {
        return;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE)) {
        error_setg(errp, "'%s' is not a PCI device", id);
        return;
    }
    bus = pci_get_bus(PCI_DEVICE(dev));
    if (pci_bus_is_root(bus) || !bus->parent_dev) {
        error_setg(errp, "'%s' is not in a PCIe slot (it is on a root bus)",
                   id);
        return;
    }
    if (!pcie_slot_fault_port_check(bus->parent_dev, errp)) {
        error_prepend(errp, "cannot surprise-remove '%s': ", id);
        return;
    }
    if (!live_xlate_slot_removal_allowed(bus->parent_dev, "surprise removal",
                                         errp)) {
        return;
    }
    pcie_slot_fault_surprise_remove(bus->parent_dev);
}

void qmp_x_pcie_link_set(const char *port, bool up, Error **errp)
{
    PCIDevice *p = find_port(port, errp);

    if (!p) {
        return;
    }
    if (pcie_slot_fault_link_is_down(p) != up) {
        error_setg(errp, "the link of '%s' is already %s", port,
                   up ? "up" : "down");
        return;
    }
    pcie_slot_fault_set_link(p, up);
}

void qmp_x_pcie_power_fault(const char *port, Error **errp)
{
    PCIDevice *p = find_port(port, errp);

    if (!p) {
        return;
    }
    if (!(pci_get_long(exp_cap(p) + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP)) {
        error_setg(errp, "the slot of '%s' has no power controller", port);
        return;
    }
    pcie_slot_fault_power_fault(p);
}
