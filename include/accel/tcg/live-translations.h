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
#include "exec/mmu-access-type.h"
#include "hw/core/cpu.h"
#include "accel/tcg/live-translations-core.h"

/*
 * True once a watched device or watch-all needs the tracker, under TCG.
 * The TLB-fill and TLB-miss hooks cost one well-predicted branch on this
 * flag while it is false.
 */
extern bool live_xlate_armed;

/*
 * Hooks in accel/tcg/cputlb.c (scripts/patches/0021-...): the fill just
 * resolved (@full, @mmu_idx, the section and offset found for it), and a
 * TLB miss that a stale translation of a removed device may satisfy (true:
 * the stale translation was installed).
 */
void live_xlate_fill(CPUState *cpu, vaddr addr, const CPUTLBEntryFull *full,
                     int mmu_idx, MemoryRegionSection *section, hwaddr xlat);
bool live_xlate_stale_fill(CPUState *cpu, vaddr addr, MMUAccessType type,
                           int mmu_idx);

/* Target decoders of guest invalidations call this (any vCPU thread). */
void live_xlate_invalidate(CPUState *cpu, const LTInval *inv, const char *what);

/* A vCPU was reset or is being unplugged: its translations are gone. */
void live_xlate_cpu_reset(CPUState *cpu);

/* Per-target context of a fill: PID/LPID, PCID, global bit. */
typedef void (*LiveXlateContextFn)(CPUState *cpu, vaddr addr, LTRecord *rec);
void live_xlate_set_context_fn(LiveXlateContextFn fn);

#endif
