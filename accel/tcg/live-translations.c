/*
 * plugfault: tracker of architecturally live translations to the MMIO of
 * devices in hot-plug slots, and the partition-removal check built on it
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What is watched.  Instead of keeping a list of physical ranges that
 * follows every BAR move, the TLB-fill hook looks at the MemoryRegion the
 * fill resolved to (QEMU has just looked it up): if it is not RAM and
 * belongs to a memory BAR of a PCI device sitting in a hot-plug slot whose
 * removal check is on, the fill is recorded.  So the watched set is exactly
 * "the BARs of those devices, wherever they are mapped right now", with no
 * hook on BAR mapping, and RAM fills (nearly all fills) cost one extra test
 * of memory_region_is_ram() once armed.
 *
 * What is live.  A record stays until the guest executes an invalidation
 * that covers it (target decoders call live_xlate_invalidate()).  QEMU's
 * own tlb_flush() calls (memory-map commits, TLB resizing, QEMU's lazy
 * "flush everything" for forms it does not implement precisely) never
 * reach this file.
 *
 * Device identity.  Each device instance gets a token when first seen;
 * records keep the token, the device's name and BAR, so they outlive the
 * device (stale-access detection needs that).  A released QOM property on
 * the device tells us when the instance is finalized.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "migration/blocker.h"
#include "qapi/qapi-commands-live-translations.h"
#include "qapi/qapi-events-live-translations.h"
#include "qapi/qapi-types-common.h"
#include "qom/object.h"
#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie_port.h"
#include "hw/core/cpu.h"
#include "exec/memory.h"
#include "exec/cputlb.h"
#include "exec/cpu-all.h"
#include "system/tcg.h"
#include "accel/tcg/live-translations.h"
#include "hw/pci/live-translations-check.h"
#include "trace.h"

bool live_xlate_armed;

typedef struct LTOwner {
    uint64_t token;
    Object *obj;            /* NULL once the device is finalized */
    char *name;             /* qdev id, else canonical path */
} LTOwner;

static struct {
    QemuMutex lock;         /* core, owners; taken after the BQL */
    LTCore *core;
    GHashTable *by_obj;     /* Object * -> LTOwner * */
    GHashTable *by_token;   /* token -> LTOwner * (never removed) */
    uint64_t next_token;
    LiveXlateContextFn context_fn;
    GHashTable *refused_power_off;  /* port PCIDevice * set */
    bool watch_all;         /* x-live-translations-watch-all */
} lt;

/*
 * A device with records was finalized: TLB misses must look for stale
 * translations.  Cleared when no record is left.
 */
static bool stale_possible;

static __thread bool in_stale_fill;

/*
 * A refused slot power-off is slot state the destination of a migration
 * would not have (it would cut the power SLTCTL asks for): block migration
 * while one is pending.  The records themselves are not migrated: the
 * destination's check starts with nothing live.
 */
static Error *refused_power_off_blocker;

static void refused_power_off_changed(void)
{
    if (g_hash_table_size(lt.refused_power_off) && !refused_power_off_blocker) {
        error_setg(&refused_power_off_blocker, "a slot power-off refused by "
                   "the live-translation check is pending");
        migrate_add_blocker(&refused_power_off_blocker, &error_warn);
    } else if (!g_hash_table_size(lt.refused_power_off) &&
               refused_power_off_blocker) {
        migrate_del_blocker(&refused_power_off_blocker);
    }
}

static void __attribute__((constructor)) live_xlate_init(void)
{
    qemu_mutex_init(&lt.lock);
    lt.core = lt_core_new();
    lt.by_obj = g_hash_table_new(NULL, NULL);
    lt.by_token = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                        NULL, NULL);
    lt.next_token = 1;
    lt.refused_power_off = g_hash_table_new(NULL, NULL);
}

void live_xlate_set_context_fn(LiveXlateContextFn fn)
{
    lt.context_fn = fn;
}

/* ---------------------------------------------------------------- owners */

static void owner_release(Object *obj, const char *name, void *opaque)
{
    LTOwner *o = opaque;

    qemu_mutex_lock(&lt.lock);
    g_hash_table_remove(lt.by_obj, obj);
    o->obj = NULL;
    if (lt_core_count(lt.core, o->token)) {
        qatomic_set(&stale_possible, true);
    }
    qemu_mutex_unlock(&lt.lock);
}

static char *device_name(DeviceState *dev)
{
    if (dev->id) {
        return g_strdup(dev->id);
    }
    return object_get_canonical_path(OBJECT(dev));
}

/* With lt.lock held; @create needs the BQL too. */
static LTOwner *owner_of(PCIDevice *d, bool create)
{
    LTOwner *o = g_hash_table_lookup(lt.by_obj, d);
    g_autofree char *prop = NULL;

    if (o || !create) {
        return o;
    }
    o = g_new0(LTOwner, 1);
    o->token = lt.next_token++;
    o->obj = OBJECT(d);
    o->name = device_name(DEVICE(d));
    g_hash_table_insert(lt.by_obj, d, o);
    g_hash_table_insert(lt.by_token, &o->token, o);
    prop = g_strdup_printf("x-live-translations-owner-%" PRIu64, o->token);
    object_property_add(OBJECT(d), prop, "uint64", NULL, NULL,
                        owner_release, o);
    return o;
}

static LTOwner *owner_by_token(uint64_t token)
{
    return g_hash_table_lookup(lt.by_token, &token);
}

/* ------------------------------------------------------ what is watched */

static bool machine_is(const char *prefix)
{
    Object *m = qdev_get_machine();

    return m && g_str_has_prefix(object_get_typename(m), prefix);
}

bool live_xlate_slot_strict(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);

    if (!s || !tcg_enabled()) {
        return false;
    }
    switch (s->x_strict_removal) {
    case ON_OFF_AUTO_ON:
        return true;
    case ON_OFF_AUTO_OFF:
        return false;
    default:
        return machine_is("powernv");
    }
}

static LiveXlateRootBusPolicy root_bus_policy;

void live_xlate_set_root_bus_policy(LiveXlateRootBusPolicy fn)
{
    root_bus_policy = fn;
}

/* x-strict-removal=on without TCG: the check cannot be made. */
static bool slot_wants_tcg(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);

    return s && s->x_strict_removal == ON_OFF_AUTO_ON && !tcg_enabled();
}

/* Is @d a device whose BARs the check watches? */
static bool device_watched(PCIDevice *d)
{
    PCIBus *bus = pci_get_bus(d);

    if (!bus) {
        return false;
    }
    if (bus->parent_dev) {
        return live_xlate_slot_strict(bus->parent_dev) ||
               (lt.watch_all && object_dynamic_cast(OBJECT(bus->parent_dev),
                                                    TYPE_PCIE_SLOT));
    }
    /* e.g. pseries: devices on a PHB's root bus, isolated through DRCs */
    if (root_bus_policy && root_bus_policy(d)) {
        return true;
    }
    /* watch-all: root-bus devices only where a machine made them pluggable */
    return lt.watch_all && root_bus_policy &&
           !object_dynamic_cast(OBJECT(d), TYPE_PCI_BRIDGE);
}

/*
 * The PCI device and BAR @mr belongs to (walking up containers, adding
 * their offsets to *@off).  NULL if none.
 */
static PCIDevice *mr_to_bar(MemoryRegion *mr, int *bar, hwaddr *off)
{
    for (; mr; mr = mr->container) {
        PCIDevice *d = (PCIDevice *)object_dynamic_cast(mr->owner,
                                                        TYPE_PCI_DEVICE);
        if (d) {
            for (int i = 0; i < PCI_ROM_SLOT; i++) {
                if (d->io_regions[i].memory == mr &&
                    !(d->io_regions[i].type & PCI_BASE_ADDRESS_SPACE_IO)) {
                    *bar = i;
                    return d;
                }
            }
        }
        *off += mr->addr;
    }
    return NULL;
}

void live_xlate_arm(void)
{
    if (tcg_enabled() && !qatomic_read(&live_xlate_armed)) {
        trace_live_xlate_arm();
        qatomic_set(&live_xlate_armed, true);
    }
}

/* ------------------------------------------------------------- fill hook */

void live_xlate_fill(CPUState *cpu, vaddr addr, hwaddr paddr, int lg_page_size,
                     MemoryRegionSection *section, hwaddr xlat)
{
    MemoryRegion *mr = section->mr;
    PCIDevice *d;
    LTRecord rec = { 0 };
    hwaddr off = 0;
    int bar = -1;
    bool locked;
    uint64_t size;

    if (memory_region_is_ram(mr) || memory_region_is_romd(mr) ||
        in_stale_fill) {
        return;
    }
    d = mr_to_bar(mr, &bar, &off);
    if (!d || !device_watched(d)) {
        return;
    }
    size = (uint64_t)1 << MAX(lg_page_size, TARGET_PAGE_BITS);
    rec.cpu = cpu->cpu_index;
    rec.page_size = size;
    rec.vaddr = addr & ~(size - 1);
    rec.paddr = paddr & ~(size - 1);
    rec.bar = bar;
    rec.bar_addr = (paddr & TARGET_PAGE_MASK) - xlat - off;
    rec.when_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    if (lt.context_fn) {
        lt.context_fn(cpu, addr, &rec);
    }

    locked = bql_locked();
    if (!locked) {
        bql_lock();
    }
    qemu_mutex_lock(&lt.lock);
    rec.owner = owner_of(d, true)->token;
    if (lt_core_record(lt.core, &rec)) {
        trace_live_xlate_record(rec.cpu, rec.vaddr, rec.page_size, rec.paddr,
                                owner_by_token(rec.owner)->name, bar,
                                rec.pid, rec.lpid);
    }
    qemu_mutex_unlock(&lt.lock);
    if (!locked) {
        bql_unlock();
    }
}

/* ------------------------------------------------------- invalidations */

void live_xlate_invalidate(CPUState *cpu, const LTInval *inv, const char *what)
{
    unsigned n;

    qemu_mutex_lock(&lt.lock);
    n = lt_core_invalidate(lt.core, inv);
    if (n && !lt_core_count(lt.core, 0)) {
        qatomic_set(&stale_possible, false);
    }
    qemu_mutex_unlock(&lt.lock);
    if (n) {
        trace_live_xlate_invalidate(cpu ? cpu->cpu_index : -1, what,
                                    inv->cpu, inv->va, n);
    }
}

/* ---------------------------------------------------------- stale access */

bool live_xlate_stale_fill(CPUState *cpu, vaddr addr, int mmu_idx)
{
    const LTRecord *r;
    LTRecord rec;
    LTOwner *old, *now;
    MemoryRegion *mr;
    AddressSpace *as = cpu_get_address_space(cpu, 0);
    hwaddr pa, xlat, len = 1, off = 0;
    PCIDevice *d;
    int bar = -1;
    bool locked;
    CPUTLBEntryFull full = { 0 };

    if (!qatomic_read(&stale_possible)) {
        return false;
    }
    qemu_mutex_lock(&lt.lock);
    r = lt_core_lookup(lt.core, cpu->cpu_index, addr);
    if (r) {
        rec = *r;
        old = owner_by_token(rec.owner);
    }
    qemu_mutex_unlock(&lt.lock);
    if (!r || !old || old->obj) {
        return false;       /* no translation, or its device is still there */
    }

    pa = rec.paddr + ((addr & TARGET_PAGE_MASK) - rec.vaddr);
    RCU_READ_LOCK_GUARD();
    mr = address_space_translate(as, pa, &xlat, &len, false,
                                 MEMTXATTRS_UNSPECIFIED);
    d = mr_to_bar(mr, &bar, &off);
    if (!d) {
        return false;       /* the old BAR's addresses reach no device now */
    }

    locked = bql_locked();
    if (!locked) {
        bql_lock();
    }
    qemu_mutex_lock(&lt.lock);
    now = owner_of(d, true);
    qemu_mutex_unlock(&lt.lock);
    trace_live_xlate_stale_access(cpu->cpu_index, addr, pa, old->name,
                                  rec.bar, now->name, bar);
    qapi_event_send_live_translation_stale_access(cpu->cpu_index, addr, pa,
                                                  old->name, rec.bar,
                                                  now->name, bar,
                                                  rec.when_ns);
    if (!locked) {
        bql_unlock();
    }

    /* Use the stale translation, as the hardware's TLB would. */
    full.phys_addr = pa;
    full.attrs = MEMTXATTRS_UNSPECIFIED;
    full.prot = PAGE_READ | PAGE_WRITE;
    full.lg_page_size = TARGET_PAGE_BITS;
    in_stale_fill = true;
    tlb_set_page_full(cpu, mmu_idx, addr & TARGET_PAGE_MASK, &full);
    in_stale_fill = false;
    return true;
}

/* ------------------------------------------------------- removal check */

typedef struct CheckState {
    GPtrArray *owners;      /* LTOwner * with live records */
} CheckState;

static void check_one(PCIBus *bus, PCIDevice *d, void *opaque)
{
    CheckState *cs = opaque;
    LTOwner *o = owner_of(d, false);

    if (o && lt_core_count(lt.core, o->token)) {
        g_ptr_array_add(cs->owners, o);
    }
}

static void first_rec(const LTRecord *r, void *opaque)
{
    LTRecord *out = opaque;

    if (!out->page_size) {
        *out = *r;
    }
}

/*
 * Refuse if any device in @devs (or below @bus) has live records: set
 * @errp, send the event, return false.  With lt.lock held.
 */
static bool refuse_if_live(GPtrArray *owners, const char *port_name,
                           const char *action, Error **errp)
{
    LTRecord r = { 0 };
    LTOwner *o;
    unsigned n;

    if (!owners->len) {
        return true;
    }
    o = g_ptr_array_index(owners, 0);
    n = lt_core_count(lt.core, o->token);
    lt_core_foreach(lt.core, o->token, 0, 0, first_rec, &r);

    trace_live_xlate_refused(action, o->name, n, r.cpu, r.vaddr, r.bar);
    qapi_event_send_live_translation_removal_refused(
        o->name, port_name, action, n, r.cpu, r.vaddr, r.page_size,
        r.paddr, r.bar);
    error_setg(errp, "%s of '%s' refused: %u live translation%s to its "
               "MMIO, e.g. vCPU %d virtual address 0x%" PRIx64
               " -> BAR %d physical 0x%" PRIx64 " (the guest has not "
               "invalidated it; see x-query-live-translations)",
               action, o->name, n, n == 1 ? "" : "s", r.cpu, r.vaddr,
               r.bar, r.paddr);
    return false;
}

bool live_xlate_slot_removal_allowed(PCIDevice *port, const char *action,
                                     Error **errp)
{
    PCIBus *sec;
    CheckState cs;
    bool ok;
    g_autofree char *port_name = NULL;

    if (slot_wants_tcg(port)) {
        error_setg(errp, "%s refused: the slot has x-strict-removal=on, and "
                   "the live-translation check needs TCG (-accel tcg)",
                   action);
        return false;
    }
    if (!live_xlate_slot_strict(port)) {
        return true;
    }
    sec = pci_bridge_get_sec_bus(PCI_BRIDGE(port));
    port_name = device_name(DEVICE(port));
    cs.owners = g_ptr_array_new();
    qemu_mutex_lock(&lt.lock);
    pci_for_each_device(sec, pci_bus_num(sec), check_one, &cs);
    ok = refuse_if_live(cs.owners, port_name, action, errp);
    qemu_mutex_unlock(&lt.lock);
    g_ptr_array_free(cs.owners, true);
    if (ok && g_hash_table_remove(lt.refused_power_off, port)) {
        refused_power_off_changed();
    }
    return ok;
}

bool live_xlate_device_removal_allowed(PCIDevice *d, const char *action,
                                       Error **errp)
{
    CheckState cs;
    bool ok;

    if (!device_watched(d)) {
        return true;
    }
    cs.owners = g_ptr_array_new();
    qemu_mutex_lock(&lt.lock);
    check_one(pci_get_bus(d), d, &cs);
    ok = refuse_if_live(cs.owners, "", action, errp);
    qemu_mutex_unlock(&lt.lock);
    g_ptr_array_free(cs.owners, true);
    return ok;
}

bool live_xlate_slot_power_off(PCIDevice *port)
{
    if (live_xlate_slot_removal_allowed(port, "slot power-off", NULL)) {
        return true;
    }
    g_hash_table_add(lt.refused_power_off, port);
    refused_power_off_changed();
    return false;
}

bool live_xlate_gate_power(PCIDevice *port, bool power)
{
    if (power) {
        if (g_hash_table_remove(lt.refused_power_off, port)) {
            refused_power_off_changed();
        }
        return true;
    }
    return g_hash_table_contains(lt.refused_power_off, port);
}

void live_xlate_slot_init(PCIDevice *port)
{
    if (slot_wants_tcg(port)) {
        warn_report("%s: x-strict-removal=on needs TCG: the live-translation "
                    "check reads the guest's TLB fills and invalidations, "
                    "which KVM does not expose; removals from this slot will "
                    "be refused", DEVICE(port)->id ?: "pcie slot");
    }
    if (live_xlate_slot_strict(port)) {
        live_xlate_arm();
    }
}

void live_xlate_slot_forget(PCIDevice *port)
{
    if (g_hash_table_remove(lt.refused_power_off, port)) {
        refused_power_off_changed();
    }
}

/* ------------------------------------------------------------------ QMP */

void qmp_x_live_translations_watch_all(bool enable, Error **errp)
{
    if (!tcg_enabled()) {
        error_setg(errp, "live translations are tracked only under TCG "
                   "(-accel tcg): KVM does not expose the guest's TLB fills "
                   "and invalidations");
        return;
    }
    lt.watch_all = enable;
    if (enable) {
        live_xlate_arm();
    }
}

typedef struct QueryState {
    LiveTranslationList **tail;
    uint64_t owner_filter;
} QueryState;

static void query_one(const LTRecord *r, void *opaque)
{
    QueryState *qs = opaque;
    LiveTranslation *t = g_new0(LiveTranslation, 1);
    LTOwner *o = owner_by_token(r->owner);

    t->cpu_index = r->cpu;
    t->vaddr = r->vaddr;
    t->page_size = r->page_size;
    t->paddr = r->paddr;
    t->device = g_strdup(o ? o->name : "?");
    t->present = o && o->obj;
    t->bar = r->bar;
    t->bar_address = r->bar_addr;
    t->pid = r->pid;
    t->lpid = r->lpid;
    t->global = r->global;
    t->recorded_ns = r->when_ns;
    QAPI_LIST_APPEND(qs->tail, t);
}

LiveTranslationList *qmp_x_query_live_translations(const char *device,
                                                   bool has_address,
                                                   uint64_t address,
                                                   bool has_size,
                                                   uint64_t size,
                                                   Error **errp)
{
    LiveTranslationList *head = NULL;
    QueryState qs = { .tail = &head };
    GHashTableIter it;
    gpointer v;

    if (!tcg_enabled()) {
        error_setg(errp, "live translations are tracked only under TCG "
                   "(-accel tcg): KVM does not expose the guest's TLB fills "
                   "and invalidations");
        return NULL;
    }
    if (has_size && !has_address) {
        error_setg(errp, "'size' needs 'address'");
        return NULL;
    }
    qemu_mutex_lock(&lt.lock);
    if (device) {
        bool found = false;

        /* a name can match several instances (removed and re-added) */
        g_hash_table_iter_init(&it, lt.by_token);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            LTOwner *o = v;

            if (!strcmp(o->name, device)) {
                found = true;
                lt_core_foreach(lt.core, o->token, has_address ? address : 0,
                                has_address ? (has_size ? size : 1) : 0,
                                query_one, &qs);
            }
        }
        if (!found && !object_resolve_path(device, NULL) &&
            !object_resolve_path_component(
                object_resolve_path("/machine/peripheral", NULL), device)) {
            qemu_mutex_unlock(&lt.lock);
            error_setg(errp, "Device '%s' not found", device);
            return NULL;
        }
    } else {
        lt_core_foreach(lt.core, 0, has_address ? address : 0,
                        has_address ? (has_size ? size : 1) : 0,
                        query_one, &qs);
    }
    qemu_mutex_unlock(&lt.lock);
    return head;
}
