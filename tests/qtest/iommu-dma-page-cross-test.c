/*
 * plugfault: device DMA through an IOMMU that crosses a page boundary
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * virtio keeps its rings in MemoryRegionCaches; behind an IOMMU every
 * access goes through address_space_{read,write}_cached_slow().  An access
 * that crosses an IOMMU page must continue in the page the IOMMU maps the
 * next IOVA page to, which need not be the physically next page: Linux's
 * dma_alloc_coherent() maps scattered pages at contiguous IOVAs.  The base
 * continued at the physical address after the first page, so a used-ring
 * element that straddled two IOVA pages had its id written to the right
 * page and its len to the page after the first one
 * (hook patch "physmem: translate every IOMMU page of a cached slow-path
 * access").
 *
 * Here a bare "driver" programs intel-iommu (legacy mode, second-level
 * tables) to map the two IOVA pages a used ring spans to non-adjacent
 * guest pages, sets up virtio-net's transmit queue and posts descriptors
 * until the device writes the straddling element; canaries in the page
 * after the first one must stay whole, and the element's second half must
 * land in the page the IOMMU maps it to.  Two layouts: a used ring placed
 * so that element 7 straddles (any queue size), and the layout Linux gives
 * a 1024-entry queue (element 247 straddles), which is what a 6.12 guest
 * hit with QEMU 10.0.13's default queue size.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "standard-headers/linux/pci_regs.h"

#define IOMMU_BASE      0xfed90000ull
#define DMAR_GCMD       0x18
#define DMAR_GSTS       0x1c
#define DMAR_RTADDR     0x20
#define DMAR_FSTS       0x34
#define GCMD_TE         (1u << 31)
#define GCMD_SRTP       (1u << 30)

#define NIC_DEVFN       QPCI_DEVFN(3, 0)
#define COMMON          0x0             /* in BAR 4, the virtio modern BAR */
#define NOTIFY          0x3000
#define NOTIFY_MULT     4

/* virtio-net-pci at 00:03.0 through libqos */
typedef struct Nic {
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} Nic;

/* guest-physical layout of the IOMMU tables */
#define ROOT_TABLE      0x100000ull
#define CTX_TABLE       0x101000ull
#define SL_PML4         0x102000ull
#define SL_PDPT         0x103000ull
#define SL_PD           0x104000ull
#define SL_PT           0x105000ull     /* maps IOVA 0-2 MiB */

#define CANARY          0xaaaaaaaau
#define CANARY2         0x55555555u

typedef struct Layout {
    const char *name;
    unsigned qsize;
    uint64_t desc, avail, used;         /* IOVAs */
    uint64_t used_gpa[2];               /* the two IOVA pages of the used ring */
    unsigned straddler;                 /* the used element across the pages */
} Layout;

static void nic_open(QTestState *qts, Nic *nic)
{
    nic->bus = qpci_new_pc(qts, NULL);
    nic->dev = qpci_device_find(nic->bus, NIC_DEVFN);
    g_assert_nonnull(nic->dev);
    g_assert_cmphex(qpci_config_readw(nic->dev, PCI_VENDOR_ID), ==, 0x1af4);
    g_assert_cmphex(qpci_config_readw(nic->dev, PCI_DEVICE_ID), ==, 0x1041);
    nic->bar = qpci_iomap(nic->dev, 4, NULL);
    qpci_device_enable(nic->dev);       /* memory decode, bus master */
}

static void nic_close(Nic *nic)
{
    qpci_iounmap(nic->dev, nic->bar);
    g_free(nic->dev);
    qpci_free_pc(nic->bus);
}

static void map_page(QTestState *qts, uint64_t iova, uint64_t gpa)
{
    g_assert(iova < 2 * 1024 * 1024);
    qtest_writeq(qts, SL_PT + (iova >> 12) * 8, gpa | 3);   /* R W */
}

/* IOVA -> GPA through our own tables (for the driver's memory writes) */
static uint64_t gpa_of(QTestState *qts, uint64_t iova)
{
    uint64_t pte = qtest_readq(qts, SL_PT + (iova >> 12) * 8);

    g_assert(pte & 1);
    return (pte & ~0xfffull) | (iova & 0xfff);
}

static void iommu_setup(QTestState *qts)
{
    qtest_memset(qts, ROOT_TABLE, 0, 0x6000);
    qtest_writeq(qts, ROOT_TABLE + 0 * 16, CTX_TABLE | 1);          /* bus 0 */
    /* context entry: present, TT 0 (second level), AW 2 (4 levels), DID 1 */
    qtest_writeq(qts, CTX_TABLE + NIC_DEVFN * 16, SL_PML4 | 1);
    qtest_writeq(qts, CTX_TABLE + NIC_DEVFN * 16 + 8, (1 << 8) | 2);
    qtest_writeq(qts, SL_PML4, SL_PDPT | 3);
    qtest_writeq(qts, SL_PDPT, SL_PD | 3);
    qtest_writeq(qts, SL_PD, SL_PT | 3);

    qtest_writeq(qts, IOMMU_BASE + DMAR_RTADDR, ROOT_TABLE);
    qtest_writel(qts, IOMMU_BASE + DMAR_GCMD, GCMD_SRTP);
    g_assert(qtest_readl(qts, IOMMU_BASE + DMAR_GSTS) & GCMD_SRTP);
    qtest_writel(qts, IOMMU_BASE + DMAR_GCMD, GCMD_TE);
    g_assert(qtest_readl(qts, IOMMU_BASE + DMAR_GSTS) & GCMD_TE);
}

static void nic_setup(Nic *nic, const Layout *l)
{
    QPCIDevice *d = nic->dev;
    QPCIBar b = nic->bar;
    uint32_t feat_hi;

    qpci_io_writeb(d, b, COMMON + 0x14, 0);                 /* reset */
    qpci_io_writeb(d, b, COMMON + 0x14, 1 | 2);             /* ACK, DRIVER */
    qpci_io_writel(d, b, COMMON + 0x00, 1);
    feat_hi = qpci_io_readl(d, b, COMMON + 0x04);
    g_assert(feat_hi & 1);                                  /* VERSION_1 */
    g_assert(feat_hi & 2);                                  /* ACCESS_PLATFORM */
    qpci_io_writel(d, b, COMMON + 0x08, 1);
    qpci_io_writel(d, b, COMMON + 0x0c, 1 | 2);
    qpci_io_writel(d, b, COMMON + 0x08, 0);
    qpci_io_writel(d, b, COMMON + 0x0c, 0);
    qpci_io_writeb(d, b, COMMON + 0x14, 1 | 2 | 8);         /* FEATURES_OK */
    g_assert_cmphex(qpci_io_readb(d, b, COMMON + 0x14), ==, 1 | 2 | 8);

    qpci_io_writew(d, b, COMMON + 0x16, 1);                 /* transmit queue */
    g_assert_cmpuint(qpci_io_readw(d, b, COMMON + 0x1e), ==, 1); /* notify off */
    qpci_io_writew(d, b, COMMON + 0x18, l->qsize);
    qpci_io_writeq(d, b, COMMON + 0x20, l->desc);
    qpci_io_writeq(d, b, COMMON + 0x28, l->avail);
    qpci_io_writeq(d, b, COMMON + 0x30, l->used);
    qpci_io_writew(d, b, COMMON + 0x1c, 1);                 /* enable */
    qpci_io_writeb(d, b, COMMON + 0x14, 1 | 2 | 8 | 4);     /* DRIVER_OK */
}

static bool max_queue_size_at_least(unsigned n)
{
    QTestState *qts = qtest_init("-M q35 -nodefaults -nic none "
                                 "-device virtio-net-pci,addr=3,"
                                 "disable-legacy=on,romfile=");
    Nic nic;
    unsigned max;

    nic_open(qts, &nic);
    qpci_io_writew(nic.dev, nic.bar, COMMON + 0x16, 1);
    max = qpci_io_readw(nic.dev, nic.bar, COMMON + 0x18);
    nic_close(&nic);
    qtest_quit(qts);
    return max >= n;
}

static void test_layout(const void *opaque)
{
    const Layout *l = opaque;
    QTestState *qts;
    uint64_t iova, buf = 0x1f0000, buf_gpa = 0x7f0000;
    uint64_t straddle = l->used + 4 + 8ull * l->straddler;
    uint64_t second_half_gpa = l->used_gpa[1];
    unsigned n = l->straddler + 1, i;
    uint16_t used_idx = 0;
    Nic nic;

    g_assert_cmphex((straddle & 0xfff) + 8, >, 0x1000);    /* it straddles */
    qts = qtest_initf("-M q35 -nodefaults -nic none "
                      "-device intel-iommu,intremap=off "
                      "-device virtio-net-pci,id=nic,addr=3,disable-legacy=on,"
                      "iommu_platform=on,romfile=");
    iommu_setup(qts);

    /* rings: desc and avail identity-mapped, used ring in two far pages */
    for (iova = l->desc & ~0xfffull; iova < ((l->avail + 6 + 2 * l->qsize +
                                              0xfff) & ~0xfffull);
         iova += 0x1000) {
        map_page(qts, iova, 0x200000 + iova);
    }
    map_page(qts, l->used & ~0xfffull, l->used_gpa[0]);
    map_page(qts, (l->used & ~0xfffull) + 0x1000, l->used_gpa[1]);
    map_page(qts, buf, buf_gpa);
    g_assert_cmphex(l->used_gpa[0] + 0x1000, !=, l->used_gpa[1]);

    qtest_memset(qts, 0x200000 + (l->desc & ~0xfffull), 0, 0x8000);
    qtest_memset(qts, l->used_gpa[0], 0, 0x1000);
    qtest_memset(qts, l->used_gpa[1], 0x55, 0x1000);        /* CANARY2 */
    qtest_memset(qts, l->used_gpa[0] + 0x1000, 0xaa, 0x1000); /* CANARY */
    qtest_memset(qts, buf_gpa, 0, 0x100);

    nic_open(qts, &nic);
    nic_setup(&nic, l);

    /* n single-buffer packets: 12-byte virtio-net header + a 60-byte frame */
    for (i = 0; i < n; i++) {
        uint64_t d = gpa_of(qts, l->desc + 16ull * i);

        qtest_writeq(qts, d, buf);
        qtest_writel(qts, d + 8, 72);
        qtest_writew(qts, d + 12, 0);
        qtest_writew(qts, gpa_of(qts, l->avail + 4 + 2 * i), i);
    }
    qtest_writew(qts, gpa_of(qts, l->avail), 1);            /* NO_INTERRUPT */
    qtest_writew(qts, gpa_of(qts, l->avail + 2), n);
    qpci_io_writew(nic.dev, nic.bar, NOTIFY + 1 * NOTIFY_MULT, 1);

    for (i = 0; i < 5000 && used_idx != n; i++) {
        used_idx = qtest_readw(qts, gpa_of(qts, l->used + 2));
        if (used_idx != n) {
            g_usleep(1000);
        }
    }
    g_assert_cmpuint(used_idx, ==, n);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + DMAR_FSTS), ==, 0);

    /* the straddling element: id in the first page, len in the second */
    g_assert_cmphex(qtest_readl(qts, gpa_of(qts, straddle)), ==, l->straddler);
    g_assert_cmphex(qtest_readl(qts, second_half_gpa), ==, 0);  /* TX len 0 */
    g_assert_cmphex(qtest_readl(qts, second_half_gpa + 4), ==, CANARY2);
    /* nothing went to the page after the first one */
    for (i = 0; i < 0x1000; i += 4) {
        g_assert_cmphex(qtest_readl(qts, l->used_gpa[0] + 0x1000 + i), ==,
                        CANARY);
    }
    nic_close(&nic);
    qtest_quit(qts);
}

static const Layout layouts[] = {
    {
        .name = "element-7",
        .qsize = 256,
        .desc = 0x10000, .avail = 0x12000, .used = 0x20fc0,
        .used_gpa = { 0x400000, 0x600000 },
        .straddler = 7,
    }, {
        /* vring_create_virtqueue(1024, SMP_CACHE_BYTES): used at +0x4840 */
        .name = "linux-1024",
        .qsize = 1024,
        .desc = 0x40000, .avail = 0x44000, .used = 0x44840,
        .used_gpa = { 0x500000, 0x700000 },
        .straddler = 247,
    },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("intel-iommu") ||
        !qtest_has_device("virtio-net-pci")) {
        g_test_skip("needs intel-iommu and virtio-net-pci");
        return g_test_run();
    }
    for (int i = 0; i < ARRAY_SIZE(layouts); i++) {
        g_autofree char *path = g_strdup_printf("/iommu-dma-page-cross/%s",
                                                layouts[i].name);

        if (layouts[i].qsize > 256 && !max_queue_size_at_least(layouts[i].qsize)) {
            continue;       /* a base whose queues stay at 256 entries */
        }
        qtest_add_data_func(path, &layouts[i], test_layout);
    }
    return g_test_run();
}
