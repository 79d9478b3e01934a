/*
 * plugfault: guest of the iotlb-race test (tests/plugfault/iotlb-race)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A bare q35 guest that keeps TLB entries for MMIO pages live while the
 * host changes the memory map below them.  Three MMIO pages matter:
 *
 *   0xfe000000   the probe of x-memory-commit-stall (reads 0x5ca1ab1e), which
 *                the host takes out of the map and puts back (probe-mapped);
 *   0xfec00000   the IOAPIC, above the probe (register select set to 1);
 *   32 GiB       the notify area of the virtio device at 00:04.0, whose
 *                modern BAR the guest maps there: the last section of the map.
 *
 * The guest loops: RAM-only work for a while (what real guests do between
 * MMIO accesses), then one MMIO read of the page its command line names
 * ("ioapic", "probe" or "notify").  Only the first MMIO access after the
 * RAM-only stretch can meet the window of a commit (each MMIO access ends
 * its translation block, and the TLB flush the commit queued runs before
 * the next one), hence one page per run.
 *
 * When the probe leaves the map, every section above it gets a new index.
 * The host's commit holds the BQL, which every MMIO access takes after it
 * resolved its TLB entry; a vCPU coming out of RAM-only code after the new
 * map is published, and before its flush runs, resolves its entry then.
 * In QEMU 10.0.13, which keeps only a section number in the entry, the
 * IOAPIC read lands in the next region (the HPET's page) and the notify
 * read indexes past the end of the new map (the abort in
 * iotlb_to_section); with the section kept in the entry but not checked
 * against the current map, the probe read reaches the probe although it
 * has left the map.  x-memory-commit-stall holds each commit open
 * (delay-ms), so every removal opens the window.
 *
 * Results for the host, at physical 0x10000 (read with HMP xp):
 *   [0] magic 0x10b1ace, [1] loop iterations,
 *   [2] IOAPIC reads that were not 1, [3] the last such value,
 *   [4] probe reads that were neither 0x5ca1ab1e nor unassigned (0),
 *   [5] the page read (1 ioapic, 2 probe, 3 notify)
 */

#include <stdint.h>

#define IOAPIC_REGSEL   0xfec00000u
#define PROBE_ADDR      0xfe000000u
#define PROBE_VALUE     0x5ca1ab1eu
#define VIRTIO_BAR_HI   0x8u            /* 0x8_0000_0000 = 32 GiB */
#define VIRTIO_NOTIFY   0x3000u         /* notify area in the modern BAR */
#define RAM_WORK        200000          /* loop iterations between reads */
#define STATUS_MAGIC    0x10b1aceu

static volatile uint32_t *const status = (volatile uint32_t *)0x10000;

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static uint32_t cfg_addr(int bus, int dev, int reg)
{
    return 0x80000000u | (bus << 16) | (dev << 11) | (reg & 0xfc);
}

static void cfg_write(int bus, int dev, int reg, uint32_t v)
{
    outl(0xcf8, cfg_addr(bus, dev, reg));
    outl(0xcfc, v);
}

/*
 * PAE paging with 2 MiB pages, to reach the BAR above 4 GiB:
 * virtual 0-1 GiB and 3-4 GiB identity, 1-2 GiB -> 32 GiB.
 */
#define PTE_2M          0x83ull         /* present, writable, 2 MiB page */
static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pd[3][512] __attribute__((aligned(4096)));

static volatile uint32_t *enable_paging(void)
{
    int i;

    for (i = 0; i < 512; i++) {
        uint64_t off = (uint64_t)i << 21;

        pd[0][i] = off | PTE_2M;
        pd[1][i] = (((uint64_t)VIRTIO_BAR_HI << 32) + off) | PTE_2M;
        pd[2][i] = (0xc0000000ull + off) | PTE_2M;
    }
    pdpt[0] = (uint32_t)pd[0] | 1;
    pdpt[1] = (uint32_t)pd[1] | 1;
    pdpt[3] = (uint32_t)pd[2] | 1;
    __asm__ volatile(
        "mov %%cr4, %%eax\n\t"
        "or $0x20, %%eax\n\t"                 /* CR4.PAE */
        "mov %%eax, %%cr4\n\t"
        "mov %0, %%cr3\n\t"
        "mov %%cr0, %%eax\n\t"
        "or $0x80000000, %%eax\n\t"           /* CR0.PG */
        "mov %%eax, %%cr0"
        : : "r"(pdpt) : "eax", "memory");
    return (volatile uint32_t *)(0x40000000u + VIRTIO_NOTIFY);
}

enum { READ_IOAPIC = 1, READ_PROBE, READ_NOTIFY };

/* The command line QEMU's -append passes in the multiboot information. */
static int read_mode(const uint32_t *mbi)
{
    const char *p, *q;

    if (!mbi || !(mbi[0] & (1u << 2))) {
        return READ_IOAPIC;
    }
    for (p = (const char *)mbi[4]; *p; p++) {
        static const char *const names[] = { "ioapic", "probe", "notify" };

        for (int m = 0; m < 3; m++) {
            const char *n = names[m];

            for (q = p; *n && *q == *n; q++, n++) {
                continue;
            }
            if (!*n) {
                return m + 1;
            }
        }
    }
    return READ_IOAPIC;
}

void guest_main(const uint32_t *mbi)
{
    int mode = read_mode(mbi);
    volatile uint32_t *notify;
    volatile uint32_t sink = 0;
    uint32_t v;
    int i;

    /* virtio device 00:04.0: modern BAR (BAR4, 64-bit) at 32 GiB */
    cfg_write(0, 4, 0x20, 0x0000000c);
    cfg_write(0, 4, 0x24, VIRTIO_BAR_HI);
    cfg_write(0, 4, 0x04, 0x0002);
    notify = enable_paging();
    *(volatile uint32_t *)IOAPIC_REGSEL = 1;
    status[5] = mode;
    status[0] = STATUS_MAGIC;

    for (;;) {
        for (i = 0; i < RAM_WORK; i++) {
            sink++;
        }
        switch (mode) {
        case READ_IOAPIC:
            v = *(volatile uint32_t *)IOAPIC_REGSEL;
            if (v != 1) {
                status[2]++;
                status[3] = v;
            }
            break;
        case READ_PROBE:
            v = *(volatile uint32_t *)PROBE_ADDR;
            if (v != PROBE_VALUE && v != 0) {
                status[4]++;
            }
            break;
        default:
            (void)*notify;
            break;
        }
        status[1]++;
    }
}
