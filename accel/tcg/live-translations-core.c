/*
 * plugfault: bookkeeping of architecturally live translations
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See include/accel/tcg/live-translations-core.h.  Records live in one
 * array scanned linearly: only fills into the MMIO of watched devices are
 * recorded, a few pages per driver and vCPU, and the scans run on guest
 * invalidations, which are rare next to memory accesses.
 */

#include "qemu/osdep.h"
#include "accel/tcg/live-translations-core.h"

struct LTCore {
    GArray *recs;           /* LTRecord, oldest first */
};

LTCore *lt_core_new(void)
{
    LTCore *core = g_new0(LTCore, 1);

    core->recs = g_array_new(false, true, sizeof(LTRecord));
    return core;
}

void lt_core_free(LTCore *core)
{
    if (core) {
        g_array_free(core->recs, true);
        g_free(core);
    }
}

static bool same_key(const LTRecord *a, const LTRecord *b)
{
    return a->cpu == b->cpu && a->vaddr == b->vaddr &&
           a->pid == b->pid && a->lpid == b->lpid;
}

bool lt_core_record(LTCore *core, const LTRecord *rec)
{
    for (guint i = 0; i < core->recs->len; i++) {
        LTRecord *r = &g_array_index(core->recs, LTRecord, i);

        if (same_key(r, rec)) {
            if (r->paddr != rec->paddr || r->owner != rec->owner ||
                r->bar != rec->bar) {
                /* the guest re-mapped the page elsewhere: a new translation */
                *r = *rec;
                return true;
            }
            r->page_size = rec->page_size;
            r->global = rec->global;
            return false;
        }
    }
    g_array_append_val(core->recs, *rec);
    return true;
}

static bool ranges_meet(uint64_t a, uint64_t asz, uint64_t b, uint64_t bsz)
{
    /* [a, a + asz) and [b, b + bsz) overlap; sizes are > 0 */
    return a <= b + (bsz - 1) && b <= a + (asz - 1);
}

static bool covers(const LTInval *inv, const LTRecord *r)
{
    if (inv->cpu >= 0 && inv->cpu != r->cpu) {
        return false;
    }
    if (inv->keep_global && r->global) {
        return false;
    }
    if (inv->by_pid && inv->pid != r->pid) {
        return false;
    }
    if (inv->by_lpid && inv->lpid != r->lpid) {
        return false;
    }
    if (inv->by_va) {
        uint64_t size = MAX(inv->va_size, 1);

        if (inv->va_mask) {
            uint64_t page_mask = ~(MAX(r->page_size, size) - 1);
            uint64_t m = inv->va_mask & page_mask;

            if ((r->vaddr & m) != (inv->va & m)) {
                return false;
            }
        } else if (!ranges_meet(r->vaddr, MAX(r->page_size, 1), inv->va, size)) {
            return false;
        }
    }
    return true;
}

unsigned lt_core_invalidate(LTCore *core, const LTInval *inv)
{
    unsigned n = 0;
    guint i = 0;

    while (i < core->recs->len) {
        if (covers(inv, &g_array_index(core->recs, LTRecord, i))) {
            g_array_remove_index(core->recs, i);    /* keeps the order */
            n++;
        } else {
            i++;
        }
    }
    return n;
}

unsigned lt_core_count(LTCore *core, uint64_t owner)
{
    unsigned n = 0;

    for (guint i = 0; i < core->recs->len; i++) {
        if (!owner || g_array_index(core->recs, LTRecord, i).owner == owner) {
            n++;
        }
    }
    return n;
}

void lt_core_foreach(LTCore *core, uint64_t owner, uint64_t pa_start,
                     uint64_t pa_size, LTCoreIter fn, void *opaque)
{
    for (guint i = 0; i < core->recs->len; i++) {
        const LTRecord *r = &g_array_index(core->recs, LTRecord, i);

        if (owner && r->owner != owner) {
            continue;
        }
        if (pa_size && !ranges_meet(r->paddr, MAX(r->page_size, 1),
                                    pa_start, pa_size)) {
            continue;
        }
        fn(r, opaque);
    }
}

const LTRecord *lt_core_lookup(LTCore *core, int cpu, uint64_t vaddr)
{
    for (guint i = 0; i < core->recs->len; i++) {
        const LTRecord *r = &g_array_index(core->recs, LTRecord, i);

        if (r->cpu == cpu && vaddr >= r->vaddr &&
            vaddr - r->vaddr < MAX(r->page_size, 1)) {
            return r;
        }
    }
    return NULL;
}
