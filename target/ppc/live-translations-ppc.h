/*
 * plugfault: POWER invalidations seen by the live-translation tracker
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_PPC_LIVE_TRANSLATIONS_PPC_H
#define TARGET_PPC_LIVE_TRANSLATIONS_PPC_H

/*
 * Hooks in target/ppc/mmu_helper.c (hook patch "target/ppc: tell the
 * live-translation tracker what tlbie invalidates"): TCG helpers.
 */
void live_xlate_ppc_tlbie_isa300(CPUPPCState *env, target_ulong rb,
                                 target_ulong rs, uint32_t flags);
void live_xlate_ppc_tlbie(CPUPPCState *env, target_ulong rb);
void live_xlate_ppc_tlbia(CPUPPCState *env);

#endif
