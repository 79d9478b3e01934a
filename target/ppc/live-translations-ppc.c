/*
 * plugfault: POWER invalidations seen by the live-translation tracker
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Decodes the guest's TLB invalidations into what they cover
 * (accel/tcg/live-translations.c forgets the records they cover), and tells
 * the tracker the context of a fill.  QEMU itself turns most of these forms
 * into a full flush of its softmmu TLB; that flush is QEMU's business and
 * is not what decides liveness here: the instruction's operands are.
 *
 * Radix (ISA 3.0 tlbie/tlbiel, effective R=1):
 *   IS=0 by EA (page size from AP; PID from RS when PRS=1; LPID from RS for
 *   tlbie in hypervisor state, else LPIDR), IS=1 by PID (and LPID), IS=2 by LPID, IS=3
 *   all.  RIC=1 (page-walk cache only) forgets nothing; invalid forms
 *   (RIC=3, ...) forget nothing.  tlbie applies to every vCPU, tlbiel to
 *   the executing one.
 * Hash (effective R=0, and pre-3.0 tlbie): IS=0 names a virtual page; the
 *   fill only knows the effective address, so a record is forgotten when
 *   its page offset within a 256MB segment matches (a superset of the
 *   exact VSID match: it can forget a translation of another segment at
 *   the same offset, never keeps one the instruction covered).  IS=2/3
 *   forget by LPID / everything.  tlbia forgets everything of the vCPU.
 *   slbia/slbie invalidate SLB entries (EA -> VA), not TLB entries
 *   (VA -> RA): they forget nothing.
 * Fill context: radix quadrant 3 (the kernel's) uses PID 0, quadrant 0 the
 *   PIDR; LPID is LPIDR.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "cpu.h"
#include "mmu-book3s-v3.h"
#include "accel/tcg/live-translations.h"
#include "live-translations-ppc.h"

#define HASH_SEGMENT_PAGE_MASK  0x0ffff000ull   /* page within 256MB */

static void ppc_context(CPUState *cs, vaddr addr, LTRecord *rec)
{
    CPUPPCState *env = cpu_env(cs);

    rec->lpid = env->spr[SPR_LPIDR];
    rec->pid = 0;
    if ((env->spr[SPR_LPCR] & LPCR_HR) && (addr >> 62) == 0) {
        rec->pid = env->spr[SPR_BOOKS_PID];
    }
}

static void hash_tlbie(CPUPPCState *env, target_ulong rb, unsigned is,
                       bool local, uint32_t lpid, const char *what)
{
    CPUState *cs = env_cpu(env);
    LTInval inv = { .cpu = local ? cs->cpu_index : -1 };

    switch (is) {
    case 0:
        inv.by_va = true;
        inv.va = rb & TARGET_PAGE_MASK;
        inv.va_size = TARGET_PAGE_SIZE;
        inv.va_mask = HASH_SEGMENT_PAGE_MASK;
        break;
    case 2:
        inv.by_lpid = true;
        inv.lpid = lpid;
        break;
    case 3:
        break;
    default:
        return;             /* reserved */
    }
    live_xlate_invalidate(cs, &inv, what);
}

void live_xlate_ppc_tlbie_isa300(CPUPPCState *env, target_ulong rb,
                                 target_ulong rs, uint32_t flags)
{
    CPUState *cs = env_cpu(env);
    unsigned ric = (flags & TLBIE_F_RIC_MASK) >> TLBIE_F_RIC_SHIFT;
    bool prs = flags & TLBIE_F_PRS;
    bool r = flags & TLBIE_F_R;
    bool local = flags & TLBIE_F_LOCAL;
    unsigned is = extract64(rb, PPC_BIT_NR(53), 2);
    bool hv = FIELD_EX64(env->msr, MSR, HV);
    /* RS's LPID is used by tlbie in hypervisor state only */
    uint32_t lpid = (local || !hv) ? env->spr[SPR_LPIDR] : extract64(rs, 0, 32);
    uint32_t pid = extract64(rs, 32, 32);
    bool effR = hv ? r : !!(env->spr[SPR_LPCR] & LPCR_HR);
    LTInval inv = { .cpu = local ? cs->cpu_index : -1 };
    const char *what = local ? "tlbiel" : "tlbie";

    if (!qatomic_read(&live_xlate_armed)) {
        return;
    }
    if (!effR) {
        hash_tlbie(env, rb, is, local, lpid, what);
        return;
    }
    if (ric == 1 || ric == 3 || (ric == 2 && is == 0) || (!prs && is == 1)) {
        return;             /* page-walk cache only, or an invalid form */
    }
    /* IS widens the scope: 0 a page, 1 a PID, 2 an LPID, 3 everything */
    if (is == 0) {
        static const uint64_t ap_size[8] = {
            [0] = 4 * KiB, [5] = 64 * KiB, [1] = 2 * MiB, [2] = 1 * GiB,
        };
        unsigned ap = extract64(rb, PPC_BIT_NR(58), 3);

        if (!ap_size[ap]) {
            return;         /* invalid AP: invalid form */
        }
        inv.by_va = true;
        inv.va_size = ap_size[ap];
        inv.va = rb & PPC_BITMASK(0, 51) & ~(inv.va_size - 1);
    }
    inv.by_pid = is == 1 || (is == 0 && prs);
    inv.pid = pid;
    inv.by_lpid = is != 3;
    inv.lpid = lpid;
    live_xlate_invalidate(cs, &inv, what);
}

void live_xlate_ppc_tlbie(CPUPPCState *env, target_ulong rb)
{
    if (qatomic_read(&live_xlate_armed)) {
        hash_tlbie(env, rb, 0, false, env->spr[SPR_LPIDR], "tlbie");
    }
}

void live_xlate_ppc_tlbia(CPUPPCState *env)
{
    CPUState *cs = env_cpu(env);
    LTInval inv = { .cpu = cs->cpu_index };

    if (qatomic_read(&live_xlate_armed)) {
        live_xlate_invalidate(cs, &inv, "tlbia");
    }
}

static void live_xlate_ppc_register(void)
{
    live_xlate_set_context_fn(ppc_context);
}
type_init(live_xlate_ppc_register)
