/*
 * plugfault: tracker of architecturally live translations to the MMIO of
 * devices in hot-plug slots, and the partition-removal check built on it
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See docs/architecture.rst ("Live translations").  TCG only.
 */

#ifndef ACCEL_TCG_LIVE_TRANSLATIONS_H
#define ACCEL_TCG_LIVE_TRANSLATIONS_H

#include "exec/memory.h"
#include "accel/tcg/live-translations-core.h"

/*
 * True once a slot with the removal check is realized under TCG (or
 * records remain).  The TLB-fill hook costs one well-predicted branch on
 * this flag while it is false.
 */
extern bool live_xlate_armed;

/* Hooks in accel/tcg/cputlb.c (scripts/patches/0010-...). */
void live_xlate_fill(CPUState *cpu, vaddr addr, hwaddr paddr, int lg_page_size,
                     MemoryRegionSection *section, hwaddr xlat);
bool live_xlate_stale_fill(CPUState *cpu, vaddr addr, int mmu_idx);

/* Target decoders of guest invalidations call this (any vCPU thread). */
void live_xlate_invalidate(CPUState *cpu, const LTInval *inv, const char *what);

/* Per-target context of a fill: PID/LPID, PCID, global bit. */
typedef void (*LiveXlateContextFn)(CPUState *cpu, vaddr addr, LTRecord *rec);
void live_xlate_set_context_fn(LiveXlateContextFn fn);

#endif
