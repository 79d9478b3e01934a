/*
 * plugfault: bookkeeping of architecturally live translations
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Pure data structure, no CPU, memory-API or device dependency, so that
 * tests/unit/test-live-translations.c can drive it directly.  The glue that
 * feeds it from the TLB fill path and from the guest's invalidation
 * instructions is accel/tcg/live-translations.c and the per-target files.
 *
 * A record is a translation the guest established (a TLB fill of a virtual
 * page that maps a watched physical range) and has not yet invalidated.
 * Records are keyed by (vCPU, virtual page, page size, PID, LPID).  A
 * second fill with the same key is the same translation unless its
 * physical page, device or BAR differ (the guest re-mapped the page
 * without invalidating it: a new translation, which replaces the record
 * and its time); otherwise it refreshes the protection, the MMU index and
 * the global bit, and keeps the time of the first fill, which is the
 * translation's age.
 *
 * Records are indexed by page (fills and by-address invalidations cost a
 * hash lookup per page size in use), by vCPU (a vCPU's flushes cost what
 * that vCPU holds) and by owner (the removal check costs what the device
 * holds).  The table is bounded (@max_records): a fill that finds it full
 * is not recorded individually; the owner then counts an untracked
 * translation in the fill's context (vCPU, PID, LPID, global), and the
 * context stays live until an invalidation that covers the whole context
 * (a by-address invalidation cannot: the address is not known).  So the
 * bound never makes a live translation look dead; it can only keep a
 * removal refused longer.
 */

#ifndef ACCEL_TCG_LIVE_TRANSLATIONS_CORE_H
#define ACCEL_TCG_LIVE_TRANSLATIONS_CORE_H

/* Default bound on records (about 200 bytes each). */
#define LT_CORE_DEFAULT_MAX_RECORDS     16384
/* Untracked contexts kept per owner before they merge into "any". */
#define LT_CORE_MAX_UNTRACKED_CTX       8

typedef struct LTRecord {
    int cpu;                /* vCPU index */
    uint64_t vaddr;         /* virtual address of the page (aligned) */
    uint64_t page_size;     /* guest page size of the translation */
    uint64_t paddr;         /* physical address of the page (aligned) */
    uint32_t pid;           /* POWER radix: PID (0 for quadrant 3); x86: PCID */
    uint32_t lpid;          /* POWER: LPID; x86: 0 */
    bool global;            /* x86: global page (survives CR3 writes) */
    int mmu_idx;            /* the MMU index (privilege, mode) of the fill */
    int prot;               /* PAGE_READ/WRITE/EXEC the translation grants */
    uint64_t owner;         /* token of the device instance owning the BAR */
    int bar;                /* BAR number */
    uint64_t bar_addr;      /* physical address of the BAR at fill time */
    int64_t when_ns;        /* QEMU_CLOCK_VIRTUAL at the first fill */
} LTRecord;

/*
 * What a guest invalidation covers.  Unset selectors match everything.
 * cpu < 0: every vCPU (broadcast tlbie); else that vCPU only.
 */
typedef struct LTInval {
    int cpu;
    bool by_va;
    uint64_t va;            /* start of the invalidated range */
    uint64_t va_size;       /* its size (page size of the invalidation) */
    uint64_t va_mask;       /* 0: compare whole addresses; else compare
                             * (record vaddr & va_mask) with (va & va_mask),
                             * for forms that only name part of the address
                             * (hash tlbie names the page within a segment) */
    bool by_pid;
    uint32_t pid;
    bool by_lpid;
    uint32_t lpid;
    bool keep_global;       /* x86: global records survive */
} LTInval;

typedef enum LTRecordResult {
    LT_RECORD_REFRESHED,    /* the same translation was already recorded */
    LT_RECORD_NEW,          /* a new record */
    LT_RECORD_UNTRACKED,    /* the table is full: counted, not recorded */
} LTRecordResult;

typedef struct LTCore LTCore;

/* @max_records: bound on records (0: LT_CORE_DEFAULT_MAX_RECORDS). */
LTCore *lt_core_new(unsigned max_records);
void lt_core_free(LTCore *core);

LTRecordResult lt_core_record(LTCore *core, const LTRecord *rec);

/* Forget what @inv covers; returns how many records were forgotten. */
unsigned lt_core_invalidate(LTCore *core, const LTInval *inv);

/* A vCPU was reset or unplugged / the machine was reset: all forgotten. */
unsigned lt_core_forget_cpu(LTCore *core, int cpu);
unsigned lt_core_forget_all(LTCore *core);

/* Number of records in total / for one owner (0: any owner). */
unsigned lt_core_count(LTCore *core, uint64_t owner);

/*
 * Translations of @owner not recorded because the table was full, still
 * live (their contexts were not invalidated as a whole).
 */
unsigned lt_core_untracked(LTCore *core, uint64_t owner);

/*
 * The owner's device is gone: its records (and any recorded for it later)
 * are stale.  lt_core_stale() counts a vCPU's stale records.
 */
void lt_core_owner_gone(LTCore *core, uint64_t owner);
unsigned lt_core_stale(LTCore *core, int cpu);

/* Does the core hold anything (records, untracked counts) of @owner? */
bool lt_core_owner_busy(LTCore *core, uint64_t owner);

/*
 * Iterate records (oldest first).  @owner 0 matches all;
 * [@pa_start, @pa_start + @pa_size) filters by physical address when
 * @pa_size != 0 (the range must not wrap).  The callback must not modify
 * the core.
 */
typedef void (*LTCoreIter)(const LTRecord *rec, void *opaque);
void lt_core_foreach(LTCore *core, uint64_t owner, uint64_t pa_start,
                     uint64_t pa_size, LTCoreIter fn, void *opaque);

/* The live record of @cpu covering @vaddr (any context), or NULL. */
const LTRecord *lt_core_lookup(LTCore *core, int cpu, uint64_t vaddr);

/* The live record of @cpu covering @vaddr in context @pid/@lpid, or NULL. */
const LTRecord *lt_core_lookup_ctx(LTCore *core, int cpu, uint64_t vaddr,
                                   uint32_t pid, uint32_t lpid);

#endif
