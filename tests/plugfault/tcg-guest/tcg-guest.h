/*
 * plugfault: the mailbox of the bare x86 TCG guest (tests/plugfault/tcg-guest)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host writes cmd, arg0, arg1, then increments seq; the guest runs the
 * command and sets done = seq.  Shared by guest.c and the qtests.  The
 * bootstrap processor serves TCG_GUEST_MAILBOX; an application processor
 * it started (TCG_GUEST_START_AP) serves TCG_GUEST_AP_MAILBOX, the same
 * commands but START_AP, with the same page tables.  One CPU at a time.
 */

#ifndef TCG_GUEST_H
#define TCG_GUEST_H

#define TCG_GUEST_MAILBOX   0x20000     /* guest-physical, identity-mapped */
#define TCG_GUEST_AP_MAILBOX 0x20100
#define TCG_GUEST_AP_START  0x8000      /* the AP's real-mode entry (SIPI) */
#define TCG_GUEST_MAGIC     0x7c9e57u
#define TCG_GUEST_WINDOW    0x400000    /* 2 MiB of 4 KiB pages MAP controls */
/* 80 MiB of 4 KiB pages FILL_MANY and INVLPG_MANY control */
#define TCG_GUEST_BIG_WINDOW    0x20000000
#define TCG_GUEST_BIG_PAGES     20480

/* PTE flags for TCG_GUEST_MAP */
#define TCG_GUEST_PTE_P     0x1ull
#define TCG_GUEST_PTE_RW    0x2ull
#define TCG_GUEST_PTE_U     0x4ull
#define TCG_GUEST_PTE_G     0x100ull
#define TCG_GUEST_PTE_NX    (1ull << 63)

enum {
    TCG_GUEST_MAP = 1,      /* arg0 va, arg1 pa | flags (no invalidation) */
    TCG_GUEST_UNMAP,        /* arg0 va (no invalidation) */
    TCG_GUEST_INVLPG,       /* arg0 va */
    TCG_GUEST_KREAD,        /* arg0 va -> result (~0 and a fault if it faults) */
    TCG_GUEST_KWRITE,       /* arg0 va, arg1 value */
    TCG_GUEST_KEXEC,        /* arg0 va: call it */
    TCG_GUEST_UREAD,        /* arg0 va, read in ring 3 -> result */
    TCG_GUEST_CR3,          /* reload CR3 (non-global translations) */
    TCG_GUEST_PGE_TOGGLE,   /* CR4.PGE off and on (all translations) */
    TCG_GUEST_CFG_WRITE,    /* arg0 bus << 16 | devfn << 8 | reg, arg1 value */
    TCG_GUEST_CFG_READ,     /* arg0 as above -> result */
    TCG_GUEST_FILL_MANY,    /* arg0 pa | flags, arg1 n: map the first n pages
                               of the big window at pa, read each once */
    TCG_GUEST_INVLPG_MANY,  /* arg1 n: invlpg the first n pages of it */
    TCG_GUEST_START_AP,     /* arg0 APIC ID: INIT, SIPI, SIPI (the AP sets
                               its mailbox's magic when it serves it) */
    TCG_GUEST_RDTSC,        /* -> result: TSC >> 8 (calibration) */
    TCG_GUEST_KREAD_AFTER,  /* arg0 va, arg1 TSC ticks: result = SPINNING,
                               spin that long (no exit from TCG's CPU loop,
                               so no BQL), then KREAD: a fill at a time
                               the host chose */
};

#define TCG_GUEST_SPINNING  0x5b1a0000u

typedef struct TcgGuestMailbox {
    uint32_t magic;
    uint32_t seq;
    uint32_t done;
    uint32_t cmd;
    uint64_t arg0;
    uint64_t arg1;
    uint32_t result;
    uint32_t faults;        /* page faults so far */
    uint32_t fault_addr;    /* CR2 of the last one */
    uint32_t unexpected;    /* non-zero: the guest stopped on an exception */
} TcgGuestMailbox;

#endif
