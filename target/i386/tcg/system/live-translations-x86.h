/*
 * plugfault: x86 invalidations seen by the live-translation tracker
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_I386_LIVE_TRANSLATIONS_X86_H
#define TARGET_I386_LIVE_TRANSLATIONS_X86_H

/*
 * Hooks (hook patch "target/i386: tell the live-translation tracker about
 * invlpg and CR writes").  target/i386/helper.c is built for
 * every accelerator; without TCG there is no tracker and they do nothing.
 */
#ifdef CONFIG_TCG
void live_xlate_x86_leaf(CPUX86State *env, uint64_t pte);
void live_xlate_x86_invlpg(CPUX86State *env, target_ulong addr);
void live_xlate_x86_cr0(CPUX86State *env, uint32_t new_cr0);
void live_xlate_x86_cr3(CPUX86State *env, target_ulong new_cr3);
void live_xlate_x86_cr4(CPUX86State *env, uint32_t new_cr4);
#else
static inline void live_xlate_x86_cr0(CPUX86State *env, uint32_t new_cr0)
{
}

static inline void live_xlate_x86_cr3(CPUX86State *env, target_ulong new_cr3)
{
}

static inline void live_xlate_x86_cr4(CPUX86State *env, uint32_t new_cr4)
{
}
#endif

#endif
