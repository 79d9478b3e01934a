/*
 * plugfault: x86 invalidations seen by the live-translation tracker
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What ends a recorded translation (Intel SDM vol. 3, 4.10.4.1):
 *   invlpg          the page, on this vCPU (global or not, any PCID);
 *   mov to CR3      non-global translations of the new PCID (all of them
 *                   without CR4.PCIDE); nothing when CR4.PCIDE=1 and bit 63
 *                   of the source is set (PCID preservation);
 *   mov to CR4      everything when PGE changes, PCIDE goes 1->0, or PAE,
 *                   PSE, SMEP or LA57 change;
 *   mov to CR0      everything when PG changes.
 * INVPCID: TCG offers neither PCID nor INVPCID in CPUID (the guest gets #UD),
 * so there is nothing to decode.
 * Fill context: PCID (CR3[11:0] with CR4.PCIDE) and the leaf PTE's global
 * bit (with CR4.PGE), noted by the page walk just before the fill.
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "accel/tcg/live-translations.h"
#include "live-translations-x86.h"

static __thread bool leaf_global;

void live_xlate_x86_leaf(CPUX86State *env, uint64_t pte)
{
    leaf_global = (pte & PG_GLOBAL_MASK) && (env->cr[4] & CR4_PGE_MASK);
}

static uint32_t pcid_of(CPUX86State *env, target_ulong cr3)
{
    return (env->cr[4] & CR4_PCIDE_MASK) ? (cr3 & 0xfff) : 0;
}

static void x86_context(CPUState *cs, vaddr addr, LTRecord *rec)
{
    CPUX86State *env = cpu_env(cs);

    rec->pid = pcid_of(env, env->cr[3]);
    rec->global = (env->cr[0] & CR0_PG_MASK) && leaf_global;
}

static void flush_all(CPUX86State *env, const char *what)
{
    CPUState *cs = env_cpu(env);
    LTInval inv = { .cpu = cs->cpu_index };

    live_xlate_invalidate(cs, &inv, what);
}

void live_xlate_x86_invlpg(CPUX86State *env, target_ulong addr)
{
    CPUState *cs = env_cpu(env);
    LTInval inv = { .cpu = cs->cpu_index, .by_va = true, .va = addr,
                    .va_size = 1 };

    if (qatomic_read(&live_xlate_armed)) {
        live_xlate_invalidate(cs, &inv, "invlpg");
    }
}

void live_xlate_x86_cr0(CPUX86State *env, uint32_t new_cr0)
{
    if (qatomic_read(&live_xlate_armed) &&
        ((new_cr0 ^ env->cr[0]) & CR0_PG_MASK)) {
        flush_all(env, "mov cr0 (PG)");
    }
}

void live_xlate_x86_cr3(CPUX86State *env, target_ulong new_cr3)
{
    CPUState *cs = env_cpu(env);
    LTInval inv = { .cpu = cs->cpu_index, .keep_global = true,
                    .by_pid = true };

    if (!qatomic_read(&live_xlate_armed) || !(env->cr[0] & CR0_PG_MASK)) {
        return;
    }
    if ((env->cr[4] & CR4_PCIDE_MASK) && (new_cr3 & (1ULL << 63))) {
        return;             /* PCID preserved */
    }
    inv.pid = pcid_of(env, new_cr3);
    live_xlate_invalidate(cs, &inv, "mov cr3");
}

void live_xlate_x86_cr4(CPUX86State *env, uint32_t new_cr4)
{
    uint32_t changed = new_cr4 ^ env->cr[4];

    if (!qatomic_read(&live_xlate_armed)) {
        return;
    }
    if ((changed & (CR4_PGE_MASK | CR4_PAE_MASK | CR4_PSE_MASK |
                    CR4_SMEP_MASK | CR4_LA57_MASK)) ||
        ((env->cr[4] & CR4_PCIDE_MASK) && !(new_cr4 & CR4_PCIDE_MASK))) {
        flush_all(env, "mov cr4");
    }
}

static void live_xlate_x86_register(void)
{
    live_xlate_set_context_fn(x86_context);
}
type_init(live_xlate_x86_register)
