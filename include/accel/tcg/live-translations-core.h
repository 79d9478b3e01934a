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
 * Records are keyed by (vCPU, virtual page, context); a second fill with
 * the same key refreshes nothing but the physical address (the first
 * recording time is kept, it is the age of the translation).
 */

#ifndef ACCEL_TCG_LIVE_TRANSLATIONS_CORE_H
#define ACCEL_TCG_LIVE_TRANSLATIONS_CORE_H

typedef struct LTRecord {
    int cpu;                /* vCPU index */
    uint64_t vaddr;         /* virtual address of the page (aligned) */
    uint64_t page_size;     /* guest page size of the translation */
    uint64_t paddr;         /* physical address of the page (aligned) */
    uint32_t pid;           /* POWER radix: PID (0 for quadrant 3); x86: PCID */
    uint32_t lpid;          /* POWER: LPID; x86: 0 */
    bool global;            /* x86: global page (survives CR3 writes) */
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

typedef struct LTCore LTCore;

LTCore *lt_core_new(void);
void lt_core_free(LTCore *core);

/* Record a fill; returns true if it is a new record. */
bool lt_core_record(LTCore *core, const LTRecord *rec);

/* Forget what @inv covers; returns how many records were forgotten. */
unsigned lt_core_invalidate(LTCore *core, const LTInval *inv);

/* Number of records in total / for one owner (0: any owner). */
unsigned lt_core_count(LTCore *core, uint64_t owner);

/*
 * Iterate records (stable order: oldest first).  @owner 0 matches all;
 * [@pa_start, @pa_start + @pa_size) filters by physical address when
 * @pa_size != 0.  The callback must not modify the core.
 */
typedef void (*LTCoreIter)(const LTRecord *rec, void *opaque);
void lt_core_foreach(LTCore *core, uint64_t owner, uint64_t pa_start,
                     uint64_t pa_size, LTCoreIter fn, void *opaque);

/* The live record of @cpu covering @vaddr, or NULL. */
const LTRecord *lt_core_lookup(LTCore *core, int cpu, uint64_t vaddr);

#endif
