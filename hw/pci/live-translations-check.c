/*
 * plugfault: the partition-removal check (live translations): policy
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See include/hw/pci/live-translations-check.h and docs/architecture.rst
 * ("Live translations").  Which devices are watched is decided here, under
 * the BQL, when a device is realized (and again when watch-all changes),
 * and handed to the tracker; the tracker's TLB-fill hook then needs no QOM
 * or bus walk and never takes the BQL.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-live-translations.h"
#include "qapi/qapi-events-live-translations.h"
#include "qom/object.h"
#include "migration/blocker.h"
#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/live-translations-check.h"
#include "hw/qdev-find.h"
#include "system/tcg.h"
#include "trace.h"

static const LiveXlateTracker *tracker;
static LiveXlateRootBusPolicy root_bus_policy;
static GPtrArray *type_defaults;        /* const char * QOM type names */
static bool watch_all;                  /* x-live-translations-watch-all */

/*
 * A refused slot power-off is slot state the destination of a migration
 * would not have (it would cut the power SLTCTL asks for): block migration
 * while one is pending.  The tracker's records are not migrated: the
 * destination's check starts with nothing live.
 */
static GHashTable *refused_power_off;   /* port PCIDevice * set */
static Error *refused_power_off_blocker;

void live_xlate_register_tracker(const LiveXlateTracker *t)
{
    tracker = t;
}

/* The tracker works only where the guest's TLB fills are seen. */
static bool tracking(void)
{
    return tracker && tcg_enabled();
}

void live_xlate_set_root_bus_policy(LiveXlateRootBusPolicy fn)
{
    root_bus_policy = fn;
}

void live_xlate_set_type_default(const char *type)
{
    if (!type_defaults) {
        type_defaults = g_ptr_array_new();
    }
    g_ptr_array_add(type_defaults, (gpointer)type);
}

static char *device_name(DeviceState *dev)
{
    char *path;

    if (dev->id) {
        return g_strdup(dev->id);
    }
    path = object_get_canonical_path(OBJECT(dev));
    return path ? path : g_strdup_printf("(unnamed %s)",
                                         object_get_typename(OBJECT(dev)));
}

/* ------------------------------------------------------ what is watched */

static bool type_default_on(Object *obj)
{
    for (guint i = 0; type_defaults && i < type_defaults->len; i++) {
        if (object_dynamic_cast(obj, g_ptr_array_index(type_defaults, i))) {
            return true;
        }
    }
    return false;
}

/* The nearest slot above the switch @port is a downstream port of. */
static PCIDevice *slot_above(PCIDevice *port)
{
    PCIBus *bus = pci_get_bus(port);
    PCIDevice *up = bus ? bus->parent_dev : NULL;     /* switch upstream port */
    PCIBus *upbus = up ? pci_get_bus(up) : NULL;
    PCIDevice *above = upbus ? upbus->parent_dev : NULL;

    return above && object_dynamic_cast(OBJECT(above), TYPE_PCIE_SLOT) ?
           above : NULL;
}

static bool slot_strict_setting(PCIDevice *port, int depth)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);
    PCIDevice *above;

    if (!s) {
        return false;
    }
    switch (s->x_strict_removal) {
    case ON_OFF_AUTO_ON:
        return true;
    case ON_OFF_AUTO_OFF:
        return false;
    default:
        if (type_default_on(OBJECT(port))) {
            return true;
        }
        above = depth < 8 ? slot_above(port) : NULL;
        return above && slot_strict_setting(above, depth + 1);
    }
}

bool live_xlate_slot_strict(PCIDevice *port)
{
    return tracking() && slot_strict_setting(port, 0);
}

/* x-strict-removal=on without the tracker: the check cannot be made. */
static bool slot_wants_tracker(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);

    return s && s->x_strict_removal == ON_OFF_AUTO_ON && !tracking();
}

/* Is @d a device whose BARs the tracker records? */
static bool device_watched(PCIDevice *d)
{
    PCIBus *bus = pci_get_bus(d);

    if (!bus || !tracking()) {
        return false;
    }
    if (bus->parent_dev) {
        return live_xlate_slot_strict(bus->parent_dev) ||
               (watch_all && object_dynamic_cast(OBJECT(bus->parent_dev),
                                                 TYPE_PCIE_SLOT));
    }
    /* e.g. pseries: devices on a PHB's root bus, isolated through DRCs */
    if (root_bus_policy && root_bus_policy(d)) {
        return true;
    }
    /* watch-all: root-bus devices only where a machine made them pluggable */
    return watch_all && root_bus_policy &&
           !object_dynamic_cast(OBJECT(d), TYPE_PCI_BRIDGE);
}

void live_xlate_pci_device_realized(PCIDevice *dev)
{
    g_autofree char *name = NULL;

    if (!tracker) {
        return;
    }
    name = device_name(DEVICE(dev));
    tracker->device_added(dev, name, device_watched(dev));
}

void live_xlate_pci_device_unrealized(PCIDevice *dev)
{
    if (tracker) {
        tracker->device_removed(dev);
    }
}

static int rewatch_one(Object *obj, void *opaque)
{
    PCIDevice *d = (PCIDevice *)object_dynamic_cast(obj, TYPE_PCI_DEVICE);

    if (d && DEVICE(d)->realized) {
        tracker->device_set_watched(d, device_watched(d));
    }
    return 0;
}

/* ------------------------------------------------------- removal check */

typedef struct LiveSearch {
    PCIDevice *dev;             /* the first device found with live ones */
    unsigned n, untracked;
    LiveXlateInfo oldest;
} LiveSearch;

static void search_one(PCIDevice *d, LiveSearch *ls)
{
    LiveXlateInfo info = { 0 };
    unsigned untracked = 0;
    unsigned n;

    if (ls->dev) {
        return;
    }
    n = tracker->device_live(d, &info, &untracked);
    if (n || untracked) {
        ls->dev = d;
        ls->n = n;
        ls->untracked = untracked;
        ls->oldest = info;
    }
}

/* @bus and every bus below it (switches). */
static void search_bus(PCIBus *bus, LiveSearch *ls, int depth)
{
    for (int i = 0; i < ARRAY_SIZE(bus->devices) && !ls->dev; i++) {
        PCIDevice *d = bus->devices[i];

        if (!d) {
            continue;
        }
        search_one(d, ls);
        if (depth < 16 && object_dynamic_cast(OBJECT(d), TYPE_PCI_BRIDGE)) {
            search_bus(pci_bridge_get_sec_bus(PCI_BRIDGE(d)), ls, depth + 1);
        }
    }
}

/* Refuse if @ls found live translations: set @errp, send the event. */
static bool refuse_if_live(LiveSearch *ls, const char *slot,
                           const char *action, Error **errp)
{
    g_autofree char *name = NULL;
    unsigned total;

    if (!ls->dev) {
        return true;
    }
    name = device_name(DEVICE(ls->dev));
    total = ls->n + ls->untracked;
    trace_live_xlate_refused(action, name, ls->n, ls->untracked,
                             ls->oldest.cpu, ls->oldest.vaddr, ls->oldest.bar);
    qapi_event_send_live_translation_removal_refused(
        name, slot, action, total, ls->n ? ls->oldest.cpu : -1,
        ls->oldest.vaddr, ls->oldest.page_size, ls->oldest.paddr,
        ls->n ? ls->oldest.bar : -1);
    if (!ls->n) {
        error_setg(errp, "%s of '%s' refused: %u live translation%s to its "
                   "MMIO that the table of live translations was too full "
                   "to record one by one (the guest has not invalidated "
                   "their contexts; see x-query-live-translations)",
                   action, name, total, total == 1 ? "" : "s");
        return false;
    }
    error_setg(errp, "%s of '%s' refused: %u live translation%s to its "
               "MMIO, e.g. vCPU %d virtual address 0x%" PRIx64
               " -> BAR %d physical 0x%" PRIx64 " (the guest has not "
               "invalidated it; see x-query-live-translations)",
               action, name, total, total == 1 ? "" : "s", ls->oldest.cpu,
               ls->oldest.vaddr, ls->oldest.bar, ls->oldest.paddr);
    return false;
}

bool live_xlate_slot_removal_allowed(PCIDevice *port, const char *action,
                                     Error **errp)
{
    LiveSearch ls = { 0 };
    g_autofree char *port_name = NULL;

    if (slot_wants_tracker(port)) {
        error_setg(errp, "%s refused: the slot has x-strict-removal=on, and "
                   "the live-translation check needs TCG (-accel tcg)",
                   action);
        return false;
    }
    if (!live_xlate_slot_strict(port)) {
        return true;
    }
    search_bus(pci_bridge_get_sec_bus(PCI_BRIDGE(port)), &ls, 0);
    port_name = device_name(DEVICE(port));
    return refuse_if_live(&ls, port_name, action, errp);
}

bool live_xlate_device_removal_allowed(PCIDevice *d, const char *slot,
                                       const char *action, Error **errp)
{
    LiveSearch ls = { 0 };

    if (!tracking()) {
        return true;
    }
    search_one(d, &ls);
    if (object_dynamic_cast(OBJECT(d), TYPE_PCI_BRIDGE)) {
        search_bus(pci_bridge_get_sec_bus(PCI_BRIDGE(d)), &ls, 0);
    }
    return refuse_if_live(&ls, slot, action, errp);
}

static void refused_power_off_changed(void)
{
    guint n = refused_power_off ? g_hash_table_size(refused_power_off) : 0;

    if (n && !refused_power_off_blocker) {
        error_setg(&refused_power_off_blocker, "a slot power-off refused by "
                   "the live-translation check is pending");
        migrate_add_blocker(&refused_power_off_blocker, &error_warn);
    } else if (!n && refused_power_off_blocker) {
        migrate_del_blocker(&refused_power_off_blocker);
    }
}

static void refused_power_off_forget(PCIDevice *port)
{
    if (refused_power_off && g_hash_table_remove(refused_power_off, port)) {
        refused_power_off_changed();
    }
}

bool live_xlate_slot_power_off(PCIDevice *port)
{
    if (live_xlate_slot_removal_allowed(port, "slot power-off", NULL)) {
        return true;
    }
    if (!refused_power_off) {
        refused_power_off = g_hash_table_new(NULL, NULL);
    }
    g_hash_table_add(refused_power_off, port);
    refused_power_off_changed();
    return false;
}

bool live_xlate_gate_power(PCIDevice *port, bool power)
{
    if (power) {
        refused_power_off_forget(port);     /* the guest wants it on again */
        return true;
    }
    return refused_power_off && g_hash_table_contains(refused_power_off, port);
}

void live_xlate_slot_unplugged(PCIDevice *port)
{
    refused_power_off_forget(port);
}

void live_xlate_slot_init(PCIDevice *port)
{
    if (slot_wants_tracker(port)) {
        g_autofree char *name = device_name(DEVICE(port));

        warn_report("%s: x-strict-removal=on needs TCG: the live-translation "
                    "check reads the guest's TLB fills and invalidations, "
                    "which KVM does not expose; removals from this slot will "
                    "be refused", name);
    }
    if (live_xlate_slot_strict(port)) {
        tracker->arm();
    }
}

void live_xlate_slot_forget(PCIDevice *port)
{
    refused_power_off_forget(port);
}

/* ------------------------------------------------------------------ QMP */

void qmp_x_live_translations_watch_all(bool enable, Error **errp)
{
    if (!tracking()) {
        error_setg(errp, "live translations are tracked only under TCG "
                   "(-accel tcg): KVM does not expose the guest's TLB fills "
                   "and invalidations");
        return;
    }
    watch_all = enable;
    if (enable) {
        tracker->arm();
    }
    object_child_foreach_recursive(object_get_root(), rewatch_one, NULL);
}

LiveTranslationList *qmp_x_query_live_translations(const char *device,
                                                   bool has_address,
                                                   uint64_t address,
                                                   bool has_size,
                                                   uint64_t size,
                                                   Error **errp)
{
    LiveTranslationList *list = NULL;
    bool found = false;

    if (has_size && !has_address) {
        error_setg(errp, "'size' needs 'address'");
        return NULL;
    }
    if (!has_size) {
        size = 1;
    }
    if (has_address && !size) {
        error_setg(errp, "'size' must not be 0");
        return NULL;
    }
    if (has_address && address + (size - 1) < address) {
        error_setg(errp, "the range at 0x%" PRIx64 " of size 0x%" PRIx64
                   " wraps around the end of the address space", address,
                   size);
        return NULL;
    }
    if (tracking()) {
        list = tracker->query(device, has_address ? address : 0,
                              has_address ? size : 0, &found);
    }
    /* a removed device's records still answer to its name */
    if (device && !found && !qdev_find_by_id_or_path(device, errp)) {
        qapi_free_LiveTranslationList(list);
        return NULL;
    }
    return list;
}
