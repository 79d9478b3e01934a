/*
 * plugfault: bookkeeping of architecturally live translations
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See include/accel/tcg/live-translations-core.h.
 */

#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "qemu/host-utils.h"
#include "accel/tcg/live-translations-core.h"

typedef struct LTOwnerRecs LTOwnerRecs;
typedef struct LTCpuRecs LTCpuRecs;
typedef struct LTRec LTRec;

/* Records at one (vCPU, virtual page, page size), of any PID/LPID */
typedef struct LTPageKey {
    uint64_t vpage;
    int cpu;
    int lg;                     /* log2 of the page size */
} LTPageKey;

struct LTRec {
    LTRecord r;
    int lg;
    LTRec *page_next;           /* the others at the same LTPageKey */
    LTOwnerRecs *o;
    LTCpuRecs *c;
    QTAILQ_ENTRY(LTRec) all;    /* oldest first */
    QTAILQ_ENTRY(LTRec) by_cpu;
    QTAILQ_ENTRY(LTRec) by_owner;
};

typedef struct LTUntracked {
    int cpu;
    uint32_t pid;
    uint32_t lpid;
    bool global;
    unsigned n;
} LTUntracked;

struct LTOwnerRecs {
    uint64_t token;
    QTAILQ_HEAD(, LTRec) recs;
    unsigned n;
    bool gone;
    LTUntracked untracked[LT_CORE_MAX_UNTRACKED_CTX];
    unsigned n_untracked_ctx;
    unsigned untracked_any;     /* merged contexts: cleared by a full flush */
};

struct LTCpuRecs {
    int cpu;
    QTAILQ_HEAD(, LTRec) recs;
    unsigned n;
    unsigned stale;             /* records whose owner is gone */
    uint64_t lg_count[64];      /* records per page size */
};

struct LTCore {
    unsigned max;
    unsigned n;
    unsigned owners_untracked;  /* owners with untracked translations */
    QTAILQ_HEAD(, LTRec) all;
    GHashTable *pages;          /* LTPageKey * -> LTRec * chain */
    GHashTable *cpus;           /* cpu -> LTCpuRecs * */
    GHashTable *owners;         /* token -> LTOwnerRecs * */
};

/* A by-address invalidation this many pages long scans the vCPU instead. */
#define LT_PAGE_LOOKUP_MAX 64

static guint page_key_hash(gconstpointer p)
{
    const LTPageKey *k = p;

    return g_int64_hash(&k->vpage) ^ (k->cpu * 31 + k->lg);
}

static gboolean page_key_equal(gconstpointer a, gconstpointer b)
{
    const LTPageKey *x = a, *y = b;

    return x->vpage == y->vpage && x->cpu == y->cpu && x->lg == y->lg;
}

LTCore *lt_core_new(unsigned max_records)
{
    LTCore *core = g_new0(LTCore, 1);

    core->max = max_records ? max_records : LT_CORE_DEFAULT_MAX_RECORDS;
    QTAILQ_INIT(&core->all);
    core->pages = g_hash_table_new_full(page_key_hash, page_key_equal,
                                        g_free, NULL);
    core->cpus = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    core->owners = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                         NULL, g_free);
    return core;
}

void lt_core_free(LTCore *core)
{
    LTRec *r, *next;

    if (!core) {
        return;
    }
    QTAILQ_FOREACH_SAFE(r, &core->all, all, next) {
        g_free(r);
    }
    g_hash_table_destroy(core->pages);
    g_hash_table_destroy(core->cpus);
    g_hash_table_destroy(core->owners);
    g_free(core);
}

static int lg_of(uint64_t size)
{
    return size ? 63 - clz64(size) : 0;
}

/* ---------------------------------------------------------------- owners */

static LTOwnerRecs *owner_get(LTCore *core, uint64_t token, bool create)
{
    LTOwnerRecs *o = g_hash_table_lookup(core->owners, &token);

    if (!o && create) {
        o = g_new0(LTOwnerRecs, 1);
        o->token = token;
        QTAILQ_INIT(&o->recs);
        g_hash_table_insert(core->owners, &o->token, o);
    }
    return o;
}

static unsigned owner_untracked(const LTOwnerRecs *o)
{
    unsigned n = o->untracked_any;

    for (unsigned i = 0; i < o->n_untracked_ctx; i++) {
        n += o->untracked[i].n;
    }
    return n;
}

/* Free an owner that holds nothing (a gone one is not needed any more). */
static void owner_put(LTCore *core, LTOwnerRecs *o)
{
    if (!o->n && !o->n_untracked_ctx && !o->untracked_any) {
        g_hash_table_remove(core->owners, &o->token);
    }
}

static void untracked_add(LTCore *core, LTOwnerRecs *o, const LTRecord *rec)
{
    bool had = o->n_untracked_ctx || o->untracked_any;

    for (unsigned i = 0; i < o->n_untracked_ctx; i++) {
        LTUntracked *u = &o->untracked[i];

        if (u->cpu == rec->cpu && u->pid == rec->pid && u->lpid == rec->lpid &&
            u->global == rec->global) {
            u->n++;
            return;
        }
    }
    if (o->n_untracked_ctx < LT_CORE_MAX_UNTRACKED_CTX) {
        o->untracked[o->n_untracked_ctx++] = (LTUntracked) {
            .cpu = rec->cpu, .pid = rec->pid, .lpid = rec->lpid,
            .global = rec->global, .n = 1,
        };
    } else {
        o->untracked_any++;
    }
    if (!had) {
        core->owners_untracked++;
    }
}

/* Does @inv end every translation of context @u (whose addresses are not known)? */
static bool covers_context(const LTInval *inv, const LTUntracked *u)
{
    if (inv->by_va) {
        return false;
    }
    if (!u) {                   /* the merged "any" context */
        return inv->cpu < 0 && !inv->by_pid && !inv->by_lpid &&
               !inv->keep_global;
    }
    return (inv->cpu < 0 || inv->cpu == u->cpu) &&
           (!inv->by_pid || inv->pid == u->pid) &&
           (!inv->by_lpid || inv->lpid == u->lpid) &&
           !(inv->keep_global && u->global);
}

static void untracked_clear(LTCore *core, LTOwnerRecs *o, const LTInval *inv,
                            int cpu)
{
    bool had = o->n_untracked_ctx || o->untracked_any;
    unsigned i = 0;

    while (i < o->n_untracked_ctx) {
        LTUntracked *u = &o->untracked[i];

        if ((inv && covers_context(inv, u)) || (!inv && (cpu < 0 ||
                                                         u->cpu == cpu))) {
            o->untracked[i] = o->untracked[--o->n_untracked_ctx];
        } else {
            i++;
        }
    }
    if ((inv && covers_context(inv, NULL)) || (!inv && cpu < 0)) {
        o->untracked_any = 0;
    }
    if (had && !o->n_untracked_ctx && !o->untracked_any) {
        core->owners_untracked--;
    }
}

/* ------------------------------------------------------------------ cpus */

static LTCpuRecs *cpu_get(LTCore *core, int cpu, bool create)
{
    LTCpuRecs *c = g_hash_table_lookup(core->cpus, GINT_TO_POINTER(cpu));

    if (!c && create) {
        c = g_new0(LTCpuRecs, 1);
        c->cpu = cpu;
        QTAILQ_INIT(&c->recs);
        g_hash_table_insert(core->cpus, GINT_TO_POINTER(cpu), c);
    }
    return c;
}

/* --------------------------------------------------------------- records */

static LTRec **chain_of(LTCore *core, int cpu, int lg, uint64_t vpage,
                        LTPageKey **key_out)
{
    LTPageKey k = { .vpage = vpage, .cpu = cpu, .lg = lg };
    gpointer orig, val;

    if (g_hash_table_lookup_extended(core->pages, &k, &orig, &val)) {
        *key_out = orig;
        return (LTRec **)&((LTPageKey *)orig)[1];
    }
    *key_out = NULL;
    return NULL;
}

/*
 * The page table's values live right after their keys (one allocation per
 * page): the chain head pointer.  Keeps the hash table a set of keys.
 */
static LTRec **chain_add(LTCore *core, int cpu, int lg, uint64_t vpage)
{
    LTPageKey *k;
    LTRec **head = chain_of(core, cpu, lg, vpage, &k);

    if (head) {
        return head;
    }
    k = g_malloc0(sizeof(LTPageKey) + sizeof(LTRec *));
    k->vpage = vpage;
    k->cpu = cpu;
    k->lg = lg;
    g_hash_table_add(core->pages, k);
    return (LTRec **)&k[1];
}

static void rec_link_owner(LTCore *core, LTRec *r)
{
    r->o = owner_get(core, r->r.owner, true);
    QTAILQ_INSERT_TAIL(&r->o->recs, r, by_owner);
    r->o->n++;
    if (r->o->gone) {
        r->c->stale++;
    }
}

static void rec_unlink_owner(LTCore *core, LTRec *r)
{
    LTOwnerRecs *o = r->o;

    QTAILQ_REMOVE(&o->recs, r, by_owner);
    o->n--;
    if (o->gone) {
        r->c->stale--;
    }
    r->o = NULL;
    owner_put(core, o);
}

static void rec_remove(LTCore *core, LTRec *r)
{
    LTPageKey *k;
    LTRec **head = chain_of(core, r->r.cpu, r->lg,
                            r->r.vaddr, &k);
    LTRec **p;

    for (p = head; *p != r; p = &(*p)->page_next) {
        g_assert(*p);
    }
    *p = r->page_next;
    if (!*head) {
        g_hash_table_remove(core->pages, k);
    }
    rec_unlink_owner(core, r);
    QTAILQ_REMOVE(&r->c->recs, r, by_cpu);
    r->c->n--;
    r->c->lg_count[r->lg]--;
    if (!r->c->n) {
        g_hash_table_remove(core->cpus, GINT_TO_POINTER(r->c->cpu));
    }
    QTAILQ_REMOVE(&core->all, r, all);
    core->n--;
    g_free(r);
}

LTRecordResult lt_core_record(LTCore *core, const LTRecord *rec)
{
    int lg = lg_of(MAX(rec->page_size, 1));
    LTPageKey *k;
    LTRec **head = chain_of(core, rec->cpu, lg, rec->vaddr, &k);
    LTRec *r;

    for (r = head ? *head : NULL; r; r = r->page_next) {
        if (r->r.pid != rec->pid || r->r.lpid != rec->lpid) {
            continue;
        }
        if (r->r.paddr != rec->paddr || r->r.owner != rec->owner ||
            r->r.bar != rec->bar) {
            /* the guest re-mapped the page elsewhere: a new translation */
            if (r->r.owner != rec->owner) {
                rec_unlink_owner(core, r);
                r->r = *rec;
                rec_link_owner(core, r);
            } else {
                r->r = *rec;
            }
            QTAILQ_REMOVE(&core->all, r, all);
            QTAILQ_INSERT_TAIL(&core->all, r, all);
            return LT_RECORD_NEW;
        }
        r->r.page_size = rec->page_size;
        r->r.global = rec->global;
        r->r.prot = rec->prot;
        r->r.mmu_idx = rec->mmu_idx;
        return LT_RECORD_REFRESHED;
    }

    if (core->n >= core->max) {
        untracked_add(core, owner_get(core, rec->owner, true), rec);
        return LT_RECORD_UNTRACKED;
    }
    r = g_new0(LTRec, 1);
    r->r = *rec;
    r->lg = lg;
    head = chain_add(core, rec->cpu, lg, rec->vaddr);
    r->page_next = *head;
    *head = r;
    r->c = cpu_get(core, rec->cpu, true);
    QTAILQ_INSERT_TAIL(&r->c->recs, r, by_cpu);
    r->c->n++;
    r->c->lg_count[lg]++;
    rec_link_owner(core, r);
    QTAILQ_INSERT_TAIL(&core->all, r, all);
    core->n++;
    return LT_RECORD_NEW;
}

/* The last byte of [a, a + size), size > 0, saturating at the top. */
static uint64_t last_of(uint64_t a, uint64_t size)
{
    return a + (size - 1) < a ? UINT64_MAX : a + (size - 1);
}

static bool ranges_meet(uint64_t a, uint64_t asz, uint64_t b, uint64_t bsz)
{
    /* [a, a + asz) and [b, b + bsz) overlap; sizes are > 0 */
    return a <= last_of(b, bsz) && b <= last_of(a, asz);
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

static unsigned invalidate_list(LTCore *core, LTCpuRecs *c,
                                const LTInval *inv)
{
    LTRec *r, *next;
    unsigned n = 0;

    if (c) {
        QTAILQ_FOREACH_SAFE(r, &c->recs, by_cpu, next) {
            if (covers(inv, &r->r)) {
                rec_remove(core, r);
                n++;
            }
        }
    } else {
        QTAILQ_FOREACH_SAFE(r, &core->all, all, next) {
            if (covers(inv, &r->r)) {
                rec_remove(core, r);
                n++;
            }
        }
    }
    return n;
}

/* By address, through the page index: the pages of each size in use. */
static unsigned invalidate_pages(LTCore *core, LTCpuRecs *c,
                                 const LTInval *inv)
{
    uint64_t size = MAX(inv->va_size, 1);
    uint64_t last = last_of(inv->va, size);
    unsigned n = 0;

    for (int lg = 0; lg < 64 && c->n; lg++) {
        uint64_t mask, p, first, end;

        if (!c->lg_count[lg]) {
            continue;
        }
        mask = ~(((uint64_t)1 << lg) - 1);
        first = inv->va & mask;
        end = last & mask;
        if (((end - first) >> lg) >= LT_PAGE_LOOKUP_MAX) {
            return n + invalidate_list(core, c, inv);
        }
        for (p = first;; p += (uint64_t)1 << lg) {
            LTPageKey *k;
            LTRec **head = chain_of(core, c->cpu, lg, p, &k);
            LTRec *r = head ? *head : NULL;

            while (r) {
                LTRec *next = r->page_next;
                bool last_one = c->n == 1;

                if (covers(inv, &r->r)) {
                    rec_remove(core, r);
                    n++;
                    if (last_one) {
                        return n;       /* @c was freed with its last record */
                    }
                }
                r = next;
            }
            if (p == end) {
                break;
            }
        }
    }
    return n;
}

static void untracked_invalidate(LTCore *core, const LTInval *inv, int cpu)
{
    GHashTableIter it;
    gpointer v;

    if (!core->owners_untracked) {
        return;
    }
    g_hash_table_iter_init(&it, core->owners);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        LTOwnerRecs *o = v;

        if (o->n_untracked_ctx || o->untracked_any) {
            untracked_clear(core, o, inv, cpu);
            if (!o->n && !o->n_untracked_ctx && !o->untracked_any) {
                g_hash_table_iter_remove(&it);
            }
        }
    }
}

unsigned lt_core_invalidate(LTCore *core, const LTInval *inv)
{
    unsigned n = 0;

    untracked_invalidate(core, inv, 0);
    if (!core->n) {
        return 0;
    }
    if (inv->cpu >= 0) {
        LTCpuRecs *c = cpu_get(core, inv->cpu, false);

        if (!c) {
            return 0;
        }
        return inv->by_va && !inv->va_mask ? invalidate_pages(core, c, inv)
                                           : invalidate_list(core, c, inv);
    }
    if (inv->by_va && !inv->va_mask) {
        /* a snapshot: a vCPU's entry goes with its last record */
        GList *list = g_hash_table_get_values(core->cpus);

        for (GList *l = list; l; l = l->next) {
            n += invalidate_pages(core, l->data, inv);
        }
        g_list_free(list);
        return n;
    }
    return invalidate_list(core, NULL, inv);
}

unsigned lt_core_forget_cpu(LTCore *core, int cpu)
{
    LTCpuRecs *c = cpu_get(core, cpu, false);
    LTRec *r, *next;
    unsigned n = 0;

    untracked_invalidate(core, NULL, cpu);
    if (!c) {
        return 0;
    }
    QTAILQ_FOREACH_SAFE(r, &c->recs, by_cpu, next) {
        bool last_one = c->n == 1;

        rec_remove(core, r);
        n++;
        if (last_one) {
            break;
        }
    }
    return n;
}

unsigned lt_core_forget_all(LTCore *core)
{
    LTRec *r, *next;
    unsigned n = 0;

    untracked_invalidate(core, NULL, -1);
    QTAILQ_FOREACH_SAFE(r, &core->all, all, next) {
        rec_remove(core, r);
        n++;
    }
    return n;
}

unsigned lt_core_count(LTCore *core, uint64_t owner)
{
    LTOwnerRecs *o;

    if (!owner) {
        return core->n;
    }
    o = owner_get(core, owner, false);
    return o ? o->n : 0;
}

unsigned lt_core_untracked(LTCore *core, uint64_t owner)
{
    LTOwnerRecs *o = owner_get(core, owner, false);

    return o ? owner_untracked(o) : 0;
}

void lt_core_owner_gone(LTCore *core, uint64_t owner)
{
    LTOwnerRecs *o = owner_get(core, owner, false);
    LTRec *r;

    if (!o || o->gone) {
        return;
    }
    o->gone = true;
    QTAILQ_FOREACH(r, &o->recs, by_owner) {
        r->c->stale++;
    }
}

unsigned lt_core_stale(LTCore *core, int cpu)
{
    LTCpuRecs *c = cpu_get(core, cpu, false);

    return c ? c->stale : 0;
}

bool lt_core_owner_busy(LTCore *core, uint64_t owner)
{
    return owner_get(core, owner, false) != NULL;
}

void lt_core_foreach(LTCore *core, uint64_t owner, uint64_t pa_start,
                     uint64_t pa_size, LTCoreIter fn, void *opaque)
{
    LTRec *r;

    if (owner) {
        LTOwnerRecs *o = owner_get(core, owner, false);

        if (!o) {
            return;
        }
        QTAILQ_FOREACH(r, &o->recs, by_owner) {
            if (!pa_size || ranges_meet(r->r.paddr, MAX(r->r.page_size, 1),
                                        pa_start, pa_size)) {
                fn(&r->r, opaque);
            }
        }
        return;
    }
    QTAILQ_FOREACH(r, &core->all, all) {
        if (!pa_size || ranges_meet(r->r.paddr, MAX(r->r.page_size, 1),
                                    pa_start, pa_size)) {
            fn(&r->r, opaque);
        }
    }
}

static const LTRecord *lookup(LTCore *core, int cpu, uint64_t vaddr,
                              bool any_ctx, uint32_t pid, uint32_t lpid)
{
    LTCpuRecs *c = cpu_get(core, cpu, false);

    if (!c) {
        return NULL;
    }
    for (int lg = 0; lg < 64; lg++) {
        LTPageKey *k;
        LTRec **head;

        if (!c->lg_count[lg]) {
            continue;
        }
        head = chain_of(core, cpu, lg, vaddr & ~(((uint64_t)1 << lg) - 1), &k);
        for (LTRec *r = head ? *head : NULL; r; r = r->page_next) {
            if (any_ctx || (r->r.pid == pid && r->r.lpid == lpid)) {
                return &r->r;
            }
        }
    }
    return NULL;
}

const LTRecord *lt_core_lookup(LTCore *core, int cpu, uint64_t vaddr)
{
    return lookup(core, cpu, vaddr, true, 0, 0);
}

const LTRecord *lt_core_lookup_ctx(LTCore *core, int cpu, uint64_t vaddr,
                                   uint32_t pid, uint32_t lpid)
{
    return lookup(core, cpu, vaddr, false, pid, lpid);
}
