/*
 * plugfault: tracker of architecturally live translations to the MMIO of
 * watched PCI devices (the partition-removal check's data)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What is watched is decided by hw/pci/live-translations-check.c, under
 * the BQL, when a device is realized; this file keeps one owner per device
 * instance, keyed by the PCIDevice, with its name and whether it is
 * watched.  The TLB-fill hook looks at the MemoryRegion the fill resolved
 * to (QEMU has just looked it up): if it is not RAM and is (inside) a
 * memory BAR of a watched device, the fill is recorded.  So the watched
 * set is "those BARs, wherever they are mapped right now", with no hook on
 * BAR mapping, and RAM fills (nearly all fills) cost one extra test of
 * memory_region_is_ram() once armed.
 *
 * The fill hook runs inside tlb_set_page_full() on a vCPU thread.  It
 * never takes the BQL and never waits for anything but the tracker's own
 * lock, a leaf lock held only for bounded work (hash lookups, one insert;
 * the table is bounded, see live-translations-core.h); the device it
 * records against stays alive for as long as the fill's RCU critical
 * section holds the map it resolved.  A device being unrealized keeps its
 * owner (and so its name and token) until an RCU grace period after the
 * unrealize, so a fill that resolved the device's BAR just before the
 * removal records a stale translation, never a translation to a freed or
 * reused device.
 *
 * What is live.  A record stays until the guest executes an invalidation
 * that covers it (target decoders call live_xlate_invalidate()), the vCPU
 * is reset or unplugged, or the machine is reset.  QEMU's own tlb_flush()
 * calls (memory-map commits, TLB resizing, QEMU's lazy "flush everything"
 * for forms it does not implement precisely) never reach this file.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-events-live-translations.h"
#include "qom/object.h"
#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/core/cpu.h"
#include "exec/memory.h"
#include "exec/cputlb.h"
#include "exec/cpu-all.h"
#include "exec/page-protection.h"
#include "system/reset.h"
#include "system/tcg.h"
#include "accel/tcg/live-translations.h"
#include "hw/pci/live-translations-check.h"
#include "trace.h"

bool live_xlate_armed;

typedef struct LTOwner {
    uint64_t token;
    PCIDevice *dev;         /* the device instance (a key: never
                             * dereferenced here) */
    char *name;             /* qdev id, else canonical path (at realize) */
    bool watched;
    bool gone;              /* unrealized */
} LTOwner;

typedef struct LTStaleEvent {
    int cpu;
    uint64_t vaddr;
    uint64_t paddr;
    char *old_name;
    int old_bar;
    char *new_name;
    int new_bar;
    int64_t recorded_ns;
} LTStaleEvent;

static struct {
    QemuMutex lock;         /* the leaf lock over everything below */
    LTCore *core;
    GHashTable *by_dev;     /* PCIDevice * -> LTOwner *, until an RCU grace
                             * period after the device's unrealize */
    GHashTable *by_token;   /* token -> LTOwner * (while alive or held) */
    GPtrArray *gone;        /* unrealized owners whose records remain */
    uint64_t next_token;
    LiveXlateContextFn context_fn;
    uint32_t *stale;        /* per vCPU index: stale records (atomic) */
    unsigned nstale;
    bool any_stale;
    QEMUBH *event_bh;
    GQueue events;          /* LTStaleEvent * for the main loop */
} lt;

static __thread bool in_stale_fill;

static void __attribute__((constructor)) live_xlate_init(void)
{
    qemu_mutex_init(&lt.lock);
    lt.core = lt_core_new(0);
    lt.by_dev = g_hash_table_new(NULL, NULL);
    lt.by_token = g_hash_table_new(g_int64_hash, g_int64_equal);
    lt.gone = g_ptr_array_new();
    lt.next_token = 1;
    g_queue_init(&lt.events);
}

void live_xlate_set_context_fn(LiveXlateContextFn fn)
{
    lt.context_fn = fn;
}

static void live_xlate_arm(void);

/* ---------------------------------------------------------------- owners */

static void owner_free(LTOwner *o)
{
    g_hash_table_remove(lt.by_token, &o->token);
    g_free(o->name);
    g_free(o);
}

/* With lt.lock: free gone owners the core no longer holds anything of. */
static void prune_gone(void)
{
    guint i = 0;

    while (i < lt.gone->len) {
        LTOwner *o = g_ptr_array_index(lt.gone, i);

        if (!lt_core_owner_busy(lt.core, o->token) &&
            g_hash_table_lookup(lt.by_dev, o->dev) != o) {
            g_ptr_array_remove_index_fast(lt.gone, i);
            owner_free(o);
        } else {
            i++;
        }
    }
}

/* With lt.lock: refresh the per-vCPU stale counts the TLB-miss hook reads. */
static void update_stale(void)
{
    bool any = false;

    if (!lt.gone->len && !lt.any_stale) {
        return;
    }
    for (unsigned cpu = 0; cpu < lt.nstale; cpu++) {
        unsigned n = lt_core_stale(lt.core, cpu);

        qatomic_set(&lt.stale[cpu], n);
        any |= n != 0;
    }
    lt.any_stale = any;
}

static void tracker_device_added(PCIDevice *dev, const char *name,
                                 bool watched)
{
    LTOwner *o = g_new0(LTOwner, 1);

    o->dev = dev;
    o->name = g_strdup(name);
    o->watched = watched;
    qemu_mutex_lock(&lt.lock);
    o->token = lt.next_token++;
    /*
     * A gone owner may still hold this address if the old device was freed
     * (its maps, hence any fill that could resolve it, are gone with it)
     * before the owner's grace period ended: the new device takes over.
     */
    g_hash_table_replace(lt.by_dev, dev, o);
    g_hash_table_insert(lt.by_token, &o->token, o);
    qemu_mutex_unlock(&lt.lock);
    if (watched) {
        live_xlate_arm();
    }
}

static void tracker_device_set_watched(PCIDevice *dev, bool watched)
{
    LTOwner *o;

    qemu_mutex_lock(&lt.lock);
    o = g_hash_table_lookup(lt.by_dev, dev);
    if (o && !o->gone) {
        o->watched = watched;
    }
    qemu_mutex_unlock(&lt.lock);
    if (watched) {
        live_xlate_arm();
    }
}

typedef struct LTRetire {
    struct rcu_head rcu;
    LTOwner *owner;
} LTRetire;

/* An RCU grace period after the unrealize: no fill can resolve it now. */
static void owner_retire(LTRetire *r)
{
    LTOwner *o = r->owner;

    qemu_mutex_lock(&lt.lock);
    if (g_hash_table_lookup(lt.by_dev, o->dev) == o) {
        g_hash_table_remove(lt.by_dev, o->dev);
    }
    prune_gone();
    qemu_mutex_unlock(&lt.lock);
    g_free(r);
}

static void tracker_device_removed(PCIDevice *dev)
{
    LTRetire *r;
    LTOwner *o;

    qemu_mutex_lock(&lt.lock);
    o = g_hash_table_lookup(lt.by_dev, dev);
    if (!o || o->gone) {
        qemu_mutex_unlock(&lt.lock);
        return;
    }
    o->gone = true;
    lt_core_owner_gone(lt.core, o->token);
    g_ptr_array_add(lt.gone, o);
    update_stale();
    qemu_mutex_unlock(&lt.lock);
    r = g_new0(LTRetire, 1);
    r->owner = o;
    call_rcu(r, owner_retire, rcu);
}

static void first_rec(const LTRecord *r, void *opaque)
{
    LTRecord *out = opaque;

    if (!out->page_size) {
        *out = *r;
    }
}

static unsigned tracker_device_live(PCIDevice *dev, LiveXlateInfo *oldest,
                                    unsigned *untracked)
{
    LTRecord r = { 0 };
    LTOwner *o;
    unsigned n = 0;

    qemu_mutex_lock(&lt.lock);
    o = g_hash_table_lookup(lt.by_dev, dev);
    if (o && !o->gone) {
        n = lt_core_count(lt.core, o->token);
        *untracked = lt_core_untracked(lt.core, o->token);
        lt_core_foreach(lt.core, o->token, 0, 0, first_rec, &r);
    }
    qemu_mutex_unlock(&lt.lock);
    *oldest = (LiveXlateInfo) {
        .cpu = r.cpu, .vaddr = r.vaddr, .page_size = r.page_size,
        .paddr = r.paddr, .bar = r.bar,
    };
    return n;
}

/* ------------------------------------------------------ what is watched */

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

static void event_bh(void *opaque);

static void system_reset(void *opaque)
{
    qemu_mutex_lock(&lt.lock);
    lt_core_forget_all(lt.core);
    prune_gone();
    update_stale();
    qemu_mutex_unlock(&lt.lock);
}

/* Under the BQL. */
static void live_xlate_arm(void)
{
    MachineState *ms = MACHINE(qdev_get_machine());

    if (!tcg_enabled() || qatomic_read(&live_xlate_armed)) {
        return;
    }
    trace_live_xlate_arm();
    lt.event_bh = qemu_bh_new(event_bh, NULL);
    qemu_mutex_lock(&lt.lock);
    lt.nstale = MAX(ms->smp.max_cpus, 1);
    lt.stale = g_new0(uint32_t, lt.nstale);
    qemu_mutex_unlock(&lt.lock);
    qemu_register_reset(system_reset, NULL);
    qatomic_set(&live_xlate_armed, true);
}

/* ------------------------------------------------------------- fill hook */

void live_xlate_fill(CPUState *cpu, vaddr addr, const CPUTLBEntryFull *full,
                     int mmu_idx, MemoryRegionSection *section, hwaddr xlat)
{
    MemoryRegion *mr = section->mr;
    PCIDevice *d;
    LTRecord rec = { 0 };
    LTOwner *o;
    hwaddr off = 0;
    int bar = -1;
    uint64_t size;

    if (memory_region_is_ram(mr) || memory_region_is_romd(mr) ||
        in_stale_fill) {
        return;
    }
    d = mr_to_bar(mr, &bar, &off);
    if (!d) {
        return;
    }
    size = (uint64_t)1 << MAX(full->lg_page_size, TARGET_PAGE_BITS);
    rec.cpu = cpu->cpu_index;
    rec.page_size = size;
    rec.vaddr = addr & ~(size - 1);
    rec.paddr = full->phys_addr & ~(size - 1);
    rec.prot = full->prot;
    rec.mmu_idx = mmu_idx;
    rec.bar = bar;
    rec.bar_addr = (full->phys_addr & TARGET_PAGE_MASK) - xlat - off;
    rec.when_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    if (lt.context_fn) {
        lt.context_fn(cpu, addr, &rec);
    }

    qemu_mutex_lock(&lt.lock);
    o = g_hash_table_lookup(lt.by_dev, d);
    if (o && o->watched) {
        LTRecordResult res;

        rec.owner = o->token;
        res = lt_core_record(lt.core, &rec);
        if (o->gone) {
            /* it resolved the BAR before the device's unrealize */
            lt_core_owner_gone(lt.core, o->token);
            update_stale();
        }
        if (res != LT_RECORD_REFRESHED) {
            trace_live_xlate_record(rec.cpu, rec.vaddr, rec.page_size,
                                    rec.paddr, o->name, bar, rec.pid,
                                    rec.lpid, res == LT_RECORD_UNTRACKED);
        }
    }
    qemu_mutex_unlock(&lt.lock);
}

/* ------------------------------------------------------- invalidations */

void live_xlate_invalidate(CPUState *cpu, const LTInval *inv, const char *what)
{
    unsigned n;

    qemu_mutex_lock(&lt.lock);
    n = lt_core_invalidate(lt.core, inv);
    if (n || lt.gone->len) {
        prune_gone();
        update_stale();
    }
    qemu_mutex_unlock(&lt.lock);
    if (n) {
        trace_live_xlate_invalidate(cpu ? cpu->cpu_index : -1, what,
                                    inv->cpu, inv->va, n);
    }
}

void live_xlate_cpu_reset(CPUState *cpu)
{
    unsigned n;

    if (!qatomic_read(&live_xlate_armed)) {
        return;
    }
    qemu_mutex_lock(&lt.lock);
    n = lt_core_forget_cpu(lt.core, cpu->cpu_index);
    prune_gone();
    update_stale();
    qemu_mutex_unlock(&lt.lock);
    if (n) {
        trace_live_xlate_invalidate(cpu->cpu_index, "vCPU reset/unplug",
                                    cpu->cpu_index, 0, n);
    }
}

/* ---------------------------------------------------------- stale access */

static void event_free(LTStaleEvent *ev)
{
    g_free(ev->old_name);
    g_free(ev->new_name);
    g_free(ev);
}

/*
 * In the main loop.  The events are throttled by the monitor
 * (scripts/patches: monitor-throttle-plugfault-events).
 */
static void event_bh(void *opaque)
{
    LTStaleEvent *ev;

    for (;;) {
        qemu_mutex_lock(&lt.lock);
        ev = g_queue_pop_head(&lt.events);
        qemu_mutex_unlock(&lt.lock);
        if (!ev) {
            return;
        }
        qapi_event_send_live_translation_stale_access(
            ev->cpu, ev->vaddr, ev->paddr, ev->old_name, ev->old_bar,
            ev->new_name, ev->new_bar, ev->recorded_ns);
        event_free(ev);
    }
}

/* At most this many events wait for the main loop; more are counted only. */
#define LT_MAX_PENDING_EVENTS 64

static int access_prot(MMUAccessType type)
{
    switch (type) {
    case MMU_DATA_LOAD:
        return PAGE_READ;
    case MMU_DATA_STORE:
        return PAGE_WRITE;
    default:
        return PAGE_EXEC;
    }
}

bool live_xlate_stale_fill(CPUState *cpu, vaddr addr, MMUAccessType type,
                           int mmu_idx)
{
    const LTRecord *r;
    LTRecord rec = { 0 }, ctx = { 0 };
    LTOwner *old, *now;
    MemoryRegion *mr;
    AddressSpace *as = cpu_get_address_space(cpu, 0);
    hwaddr pa, xlat, len = 1, off = 0;
    PCIDevice *d;
    int bar = -1;
    CPUTLBEntryFull full = { 0 };
    LTStaleEvent *ev = NULL;

    if ((unsigned)cpu->cpu_index >= qatomic_read(&lt.nstale) ||
        !qatomic_read(&lt.stale[cpu->cpu_index])) {
        return false;
    }
    if (lt.context_fn) {
        lt.context_fn(cpu, addr, &ctx);
    }
    qemu_mutex_lock(&lt.lock);
    r = lt_core_lookup_ctx(lt.core, cpu->cpu_index, addr, ctx.pid, ctx.lpid);
    old = r ? g_hash_table_lookup(lt.by_token, &r->owner) : NULL;
    if (r) {
        rec = *r;
    }
    qemu_mutex_unlock(&lt.lock);
    /*
     * Only a translation whose device is gone, used the way it was made:
     * for the privilege and mode it was filled for (MMU index) and for an
     * access it permitted.  Anything else takes the normal path (the
     * guest's page tables).
     */
    if (!r || !old || !old->gone || rec.mmu_idx != mmu_idx ||
        !(rec.prot & access_prot(type))) {
        return false;
    }

    pa = rec.paddr + ((addr & TARGET_PAGE_MASK) - rec.vaddr);
    RCU_READ_LOCK_GUARD();
    mr = address_space_translate(as, pa, &xlat, &len, false,
                                 MEMTXATTRS_UNSPECIFIED);
    d = mr_to_bar(mr, &bar, &off);
    if (!d) {
        return false;       /* the old BAR's addresses reach no device now */
    }

    qemu_mutex_lock(&lt.lock);
    now = g_hash_table_lookup(lt.by_dev, d);
    if (!now || now->gone) {
        /*
         * Not a new device: a device being removed (this one, or another
         * whose owner is gone too) whose BAR the map still holds while its
         * removal's commit is under way.  The normal fill sees it as the
         * guest's page tables say.
         */
        qemu_mutex_unlock(&lt.lock);
        return false;
    }
    trace_live_xlate_stale_access(cpu->cpu_index, addr, pa, old->name,
                                  rec.bar, now->name, bar);
    if (g_queue_get_length(&lt.events) < LT_MAX_PENDING_EVENTS) {
        ev = g_new0(LTStaleEvent, 1);
        *ev = (LTStaleEvent) {
            .cpu = cpu->cpu_index, .vaddr = addr, .paddr = pa,
            .old_name = g_strdup(old->name), .old_bar = rec.bar,
            .new_name = g_strdup(now->name), .new_bar = bar,
            .recorded_ns = rec.when_ns,
        };
        g_queue_push_tail(&lt.events, ev);
    }
    qemu_mutex_unlock(&lt.lock);
    if (ev) {
        qemu_bh_schedule(lt.event_bh);
    }

    /* Use the stale translation, as the hardware's TLB would. */
    full.phys_addr = pa;
    full.attrs = MEMTXATTRS_UNSPECIFIED;
    full.prot = rec.prot;
    full.lg_page_size = TARGET_PAGE_BITS;
    in_stale_fill = true;
    tlb_set_page_full(cpu, mmu_idx, addr & TARGET_PAGE_MASK, &full);
    in_stale_fill = false;
    return true;
}

/* ------------------------------------------------------------------ QMP */

typedef struct QueryState {
    LiveTranslationList **tail;
    LTOwner *owner;
} QueryState;

static void query_one(const LTRecord *r, void *opaque)
{
    QueryState *qs = opaque;
    LiveTranslation *t = g_new0(LiveTranslation, 1);
    LTOwner *o = qs->owner ? qs->owner
                           : g_hash_table_lookup(lt.by_token, &r->owner);

    t->cpu_index = r->cpu;
    t->vaddr = r->vaddr;
    t->page_size = r->page_size;
    t->paddr = r->paddr;
    t->device = g_strdup(o ? o->name : "?");
    t->present = o && !o->gone;
    t->bar = r->bar;
    t->bar_address = r->bar_addr;
    t->pid = r->pid;
    t->lpid = r->lpid;
    t->global = r->global;
    t->recorded_ns = r->when_ns;
    QAPI_LIST_APPEND(qs->tail, t);
}

static LiveTranslationList *tracker_query(const char *device, uint64_t pa,
                                          uint64_t size, bool *found)
{
    LiveTranslationList *head = NULL;
    QueryState qs = { .tail = &head };
    GHashTableIter it;
    gpointer v;

    *found = false;
    qemu_mutex_lock(&lt.lock);
    if (!device) {
        lt_core_foreach(lt.core, 0, pa, size, query_one, &qs);
    } else {
        /* a name can match several instances (removed and re-added) */
        g_hash_table_iter_init(&it, lt.by_token);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            LTOwner *o = v;

            if (!strcmp(o->name, device)) {
                *found = true;
                qs.owner = o;
                lt_core_foreach(lt.core, o->token, pa, size, query_one, &qs);
            }
        }
    }
    qemu_mutex_unlock(&lt.lock);
    return head;
}

static const LiveXlateTracker tracker = {
    .device_added = tracker_device_added,
    .device_set_watched = tracker_device_set_watched,
    .device_removed = tracker_device_removed,
    .device_live = tracker_device_live,
    .query = tracker_query,
    .arm = live_xlate_arm,
};

static void live_xlate_register(void)
{
    live_xlate_register_tracker(&tracker);
}
type_init(live_xlate_register)
