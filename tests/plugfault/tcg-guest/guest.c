/*
 * plugfault: the bare x86 guest of the TCG qtests
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A q35 guest with no OS that does, one at a time, what a qtest asks it
 * through a mailbox in RAM: map and unmap 4 KiB pages in a window of
 * virtual addresses (PAE paging, NX on), read, write and execute through
 * them in ring 0 or read in ring 3, invalidate with invlpg, CR3 or CR4,
 * map one page at every page of an 80 MiB window and read them all,
 * access PCI configuration space, and start an application processor that
 * serves a mailbox of its own.  So a test controls every TLB fill
 * and every invalidation the live-translation tracker sees, under TCG
 * (the qtest runs QEMU with -accel tcg; the qtest protocol still reads and
 * writes guest memory).  tests/qtest/live-translations-tcg-test.c drives
 * it; tcg-guest.h is the mailbox layout both sides use.
 */

#include <stdint.h>
#include "tcg-guest.h"

extern void gdt_load_tss(void);
extern void pf_entry(void), other_entry(void), int80_entry(void);
extern uint32_t k_read32(uint32_t va);
extern void k_write32(uint32_t va, uint32_t val);
extern void k_exec(uint32_t va);
extern uint32_t u_read32(uint32_t va);
extern const uint8_t ap_trampoline[], ap_trampoline_end[];
extern uint64_t gdt_tss;
extern uint8_t stack_top[];
extern volatile uint32_t pf_count, pf_addr, unexpected;

static volatile TcgGuestMailbox *const bsp_mb =
    (volatile TcgGuestMailbox *)TCG_GUEST_MAILBOX;
static volatile TcgGuestMailbox *const ap_mb =
    (volatile TcgGuestMailbox *)TCG_GUEST_AP_MAILBOX;

/* PAE tables: 0-1 GiB and 3-4 GiB identity (2 MiB pages, user-accessible
 * PDEs), the window at TCG_GUEST_WINDOW in 4 KiB pages. */
static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pd[2][512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint64_t big_pt[TCG_GUEST_BIG_PAGES] __attribute__((aligned(4096)));

static struct {
    uint32_t link, esp0, ss0, rest[23];
} __attribute__((packed, aligned(16))) tss;

static uint64_t idt[256] __attribute__((aligned(8)));

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t gate(void (*fn)(void), unsigned dpl)
{
    uint32_t a = (uint32_t)fn;

    /* 32-bit interrupt gate, selector 0x08 */
    return (uint64_t)(a & 0xffff) | (0x08ull << 16) |
           ((uint64_t)(0x8e | dpl << 5) << 40) |
           ((uint64_t)(a >> 16) << 48);
}

static void load_idt(void)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr;

    idtr.limit = sizeof(idt) - 1;
    idtr.base = (uint32_t)idt;
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* EFER.NXE, then CR4.PAE|PGE, CR3, CR0.PG|WP: the tables setup_cpu built */
static void enable_paging(void)
{
    __asm__ volatile("mov $0xc0000080, %%ecx\n\trdmsr\n\t"
                     "or $0x800, %%eax\n\twrmsr" : : : "eax", "ecx", "edx");
    __asm__ volatile("mov %%cr4, %%eax\n\tor $0xa0, %%eax\n\t"
                     "mov %%eax, %%cr4\n\tmov %0, %%cr3\n\t"
                     "mov %%cr0, %%eax\n\tor $0x80010000, %%eax\n\t"
                     "mov %%eax, %%cr0"
                     : : "r"(pdpt) : "eax", "memory");
}

static void setup_cpu(void)
{
    uint32_t t = (uint32_t)&tss;
    int i;

    /*
     * Mask both 8259s (the firmware left the PIT's IRQ 0 on): with
     * interrupts off a pending one would still send the vCPU to TCG's
     * interrupt check, which takes the BQL, at every block it runs.
     */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);

    tss.esp0 = (uint32_t)stack_top;
    tss.ss0 = 0x10;
    gdt_tss = (uint64_t)(sizeof(tss) - 1) | ((uint64_t)(t & 0xffffff) << 16) |
              (0x89ull << 40) | ((uint64_t)(t >> 24) << 56);
    gdt_load_tss();

    for (i = 0; i < 256; i++) {
        idt[i] = gate(other_entry, 0);
    }
    idt[14] = gate(pf_entry, 0);
    idt[0x80] = gate(int80_entry, 3);
    load_idt();

    for (i = 0; i < 512; i++) {
        pd[0][i] = ((uint64_t)i << 21) | 0x87;          /* P RW U PS */
        pd[1][i] = (0xc0000000ull + ((uint64_t)i << 21)) | 0x87;
    }
    pd[0][TCG_GUEST_WINDOW >> 21] = (uint32_t)pt | 0x7;  /* P RW U */
    for (i = 0; i < TCG_GUEST_BIG_PAGES / 512; i++) {
        pd[0][(TCG_GUEST_BIG_WINDOW >> 21) + i] =
            (uint32_t)&big_pt[i * 512] | 0x7;
    }
    pdpt[0] = (uint32_t)pd[0] | 1;
    pdpt[3] = (uint32_t)pd[1] | 1;
    enable_paging();
}

#define LAPIC_ICR_LO    0xfee00300u     /* identity-mapped by pd[1] */
#define LAPIC_ICR_HI    0xfee00310u

static void lapic_ipi(uint32_t apic_id, uint32_t lo)
{
    *(volatile uint32_t *)LAPIC_ICR_HI = apic_id << 24;
    *(volatile uint32_t *)LAPIC_ICR_LO = lo;
    while (*(volatile uint32_t *)LAPIC_ICR_LO & 0x1000) {  /* send pending */
        __asm__ volatile("pause");
    }
}

/* INIT, then SIPI twice (vector: the page of TCG_GUEST_AP_START) */
static void start_ap(uint32_t apic_id)
{
    uint8_t *dst = (uint8_t *)TCG_GUEST_AP_START;
    const uint8_t *src;

    for (src = ap_trampoline; src < ap_trampoline_end; src++) {
        *dst++ = *src;
    }
    ap_mb->magic = 0;
    lapic_ipi(apic_id, 0x0000c500);             /* INIT, level, assert */
    lapic_ipi(apic_id, 0x00008500);             /* INIT, level, de-assert */
    lapic_ipi(apic_id, 0x00004600 | TCG_GUEST_AP_START >> 12);
    lapic_ipi(apic_id, 0x00004600 | TCG_GUEST_AP_START >> 12);
}

static uint64_t *pte_of(uint32_t va)
{
    uint32_t i = (va - TCG_GUEST_WINDOW) >> 12;

    return i < 512 ? &pt[i] : 0;
}

static uint32_t cfg_addr(uint32_t bdf_reg)
{
    return 0x80000000u | (bdf_reg & 0xfffffc);
}

static void run(volatile TcgGuestMailbox *mb, uint32_t cmd, uint64_t a0,
                uint64_t a1)
{
    uint64_t *pte;
    uint32_t cr, i;

    mb->result = 0;
    switch (cmd) {
    case TCG_GUEST_MAP:                 /* a0 = va, a1 = pa | PTE flags */
        pte = pte_of(a0);
        if (pte) {
            *pte = a1;
        } else {
            mb->result = ~0u;
        }
        break;
    case TCG_GUEST_UNMAP:               /* no invalidation, like vunmap */
        pte = pte_of(a0);
        if (pte) {
            *pte = 0;
        } else {
            mb->result = ~0u;
        }
        break;
    case TCG_GUEST_INVLPG:
        __asm__ volatile("invlpg (%0)" : : "r"((uint32_t)a0) : "memory");
        break;
    case TCG_GUEST_KREAD:
        mb->result = k_read32(a0);
        break;
    case TCG_GUEST_KWRITE:
        k_write32(a0, a1);
        break;
    case TCG_GUEST_KEXEC:
        k_exec(a0);
        break;
    case TCG_GUEST_UREAD:
        mb->result = u_read32(a0);
        break;
    case TCG_GUEST_CR3:
        __asm__ volatile("mov %%cr3, %%eax\n\tmov %%eax, %%cr3"
                         : : : "eax", "memory");
        break;
    case TCG_GUEST_PGE_TOGGLE:          /* everything, global pages too */
        __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
        __asm__ volatile("mov %0, %%cr4" : : "r"(cr & ~0x80u) : "memory");
        __asm__ volatile("mov %0, %%cr4" : : "r"(cr) : "memory");
        break;
    case TCG_GUEST_CFG_WRITE:           /* a0 = bus << 16 | devfn << 8 | reg */
        outl(0xcf8, cfg_addr(a0));
        outl(0xcfc, a1);
        break;
    case TCG_GUEST_CFG_READ:
        outl(0xcf8, cfg_addr(a0));
        mb->result = inl(0xcfc);
        break;
    case TCG_GUEST_FILL_MANY:           /* a0 = pa | flags, a1 = pages */
        if (a1 > TCG_GUEST_BIG_PAGES) {
            mb->result = ~0u;
            break;
        }
        for (i = 0; i < a1; i++) {
            big_pt[i] = a0;
        }
        for (i = 0; i < a1; i++) {
            /* volatile: a load the compiler keeps (the fill) */
            (void)*(volatile uint32_t *)(TCG_GUEST_BIG_WINDOW + i * 4096);
        }
        break;
    case TCG_GUEST_INVLPG_MANY:         /* a1 = pages */
        for (i = 0; i < a1 && i < TCG_GUEST_BIG_PAGES; i++) {
            __asm__ volatile("invlpg (%0)"
                             : : "r"(TCG_GUEST_BIG_WINDOW + i * 4096)
                             : "memory");
        }
        break;
    case TCG_GUEST_RDTSC:
        mb->result = rdtsc() >> 8;
        break;
    case TCG_GUEST_KREAD_AFTER: {       /* a0 = va, a1 = TSC ticks */
        uint64_t until = rdtsc() + a1;

        mb->result = TCG_GUEST_SPINNING;
        while (rdtsc() < until) {
            /* no pause: TCG leaves the CPU loop for it and takes the BQL */
        }
        mb->result = k_read32(a0);
        break;
    }
    case TCG_GUEST_START_AP:            /* a0 = APIC ID */
        if (mb == bsp_mb) {
            start_ap(a0);
        } else {
            mb->result = ~0u;
        }
        break;
    default:
        mb->result = ~0u;
        break;
    }
    mb->faults = pf_count;
    mb->fault_addr = pf_addr;
    mb->unexpected = unexpected;
}

/* Serve @mb for ever. */
static void serve(volatile TcgGuestMailbox *mb)
{
    uint32_t seen = 0;

    mb->done = 0;
    mb->magic = TCG_GUEST_MAGIC;
    for (;;) {
        uint32_t seq = mb->seq;

        if (seq == seen) {
            __asm__ volatile("pause");
            continue;
        }
        run(mb, mb->cmd, mb->arg0, mb->arg1);
        seen = seq;
        mb->done = seq;
    }
}

void guest_main(void)
{
    setup_cpu();
    serve(bsp_mb);
}

/* From boot.S's ap_entry32: flat protected mode, interrupts off, no TSS. */
void ap_main(void)
{
    load_idt();
    enable_paging();
    serve(ap_mb);
}
