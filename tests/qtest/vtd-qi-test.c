/*
 * plugfault: qtest of the intel-iommu queued-invalidation engine
 * (hw/i386/intel_iommu_qi.c) and the ATS endpoint side
 * (hw/pci/pcie_ats_inval.c): every register and descriptor case, device-TLB
 * completions and time-outs to the nanosecond of virtual time, IQE/ICE/ITE,
 * and a malformed-input sweep.  -accel qtest, no guest, no firmware.
 *
 * Register values are the VT-d specification's, spelled out here rather
 * than taken from the model's headers.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qemu/bswap.h"
#include "migration/migration-qmp.h"
#include "migration/migration-util.h"

#define IOMMU_BASE      0xfed90000ULL

#define GCMD            0x18
#define GSTS            0x1c
#define ECAP            0x10
#define FSTS            0x34
#define FECTL           0x38
#define FEDATA          0x3c
#define FEADDR          0x40
#define IQH             0x80
#define IQT             0x88
#define IQA             0x90
#define ICS             0x9c
#define IECTL           0xa0
#define IEDATA          0xa4
#define IEADDR          0xa8
#define IQER            0xb0
#define IRTA            0xb8

#define GCMD_QIE        (1u << 26)
#define GCMD_IRE        (1u << 25)
#define GCMD_SIRTP      (1u << 24)
#define ECAP_QI         (1ull << 1)
#define ECAP_DT         (1ull << 2)
#define ECAP_SMTS       (1ull << 43)

#define FSTS_PPF        0x02u
#define FSTS_IQE        0x10u
#define FSTS_ICE        0x20u
#define FSTS_ITE        0x40u
#define FECTL_IM        0x80000000u
#define FECTL_IP        0x40000000u

#define IQA_DW          0x800ull

/* memory layout */
#define QUEUE           0x100000ull
#define STATUS          0x200000ull
#define BADRAM          0x7000000000ull     /* no RAM there */

/* q35: PCIEXBAR at config 0x60 of 00:00.0; ECAM where we put it */
#define ECAM            0xb0000000ull
#define RP_DEVFN        0x10                /* root port at 00:02.0 */
#define EP_SID          0x0100              /* endpoint at 01:00.0 */

#define TIMEOUT_NS      1000000ull          /* x-ite-timeout-ns */
#define LATENCY_NS      2000ull             /* PCIE_ATS_INVAL_LATENCY_NS */
#define EVENT_RATE_NS   1000000000ll        /* X_VTD_QI_ERROR rate limit */

typedef struct T {
    QTestState *qts;
    bool dw;
    unsigned nslots;
} T;

static uint32_t rd32(T *t, unsigned off)
{
    return qtest_readl(t->qts, IOMMU_BASE + off);
}

static uint64_t rd64(T *t, unsigned off)
{
    return qtest_readq(t->qts, IOMMU_BASE + off);
}

static void wr32(T *t, unsigned off, uint32_t v)
{
    qtest_writel(t->qts, IOMMU_BASE + off, v);
}

static void wr64(T *t, unsigned off, uint64_t v)
{
    qtest_writeq(t->qts, IOMMU_BASE + off, v);
}

static void cfg_outl(T *t, unsigned bus, unsigned devfn, unsigned off,
                     uint32_t v)
{
    qtest_outl(t->qts, 0xcf8, 0x80000000u | bus << 16 | devfn << 8 | off);
    qtest_outl(t->qts, 0xcfc, v);
}

static uint64_t ecam(unsigned bus, unsigned devfn, unsigned off)
{
    return ECAM + ((uint64_t)bus << 20) + ((uint64_t)devfn << 12) + off;
}

/* Find the ATS capability of the endpoint at @bus:00.0, set its Enable. */
static void ats_enable_at(T *t, unsigned bus, bool on)
{
    unsigned off = 0x100;

    while (off) {
        uint32_t hdr = qtest_readl(t->qts, ecam(bus, 0, off));

        if ((hdr & 0xffff) == 0x000f) {
            qtest_writew(t->qts, ecam(bus, 0, off + 6), on ? 0x8000 : 0);
            g_assert_cmphex(qtest_readw(t->qts, ecam(bus, 0, off + 6)), ==,
                            on ? 0x8000 : 0);
            return;
        }
        off = hdr >> 20;
    }
    g_assert_not_reached();
}

static void ats_enable(T *t, bool on)
{
    ats_enable_at(t, 1, on);
}

/*
 * q35 + intel-iommu + a virtio-net-pci ats=on behind pcie-root-port rp1,
 * bus numbers set, ECAM on, ATS enabled; QI enabled with @qs and @dw.
 */
static T *setup(const char *extra_iommu, unsigned qs, bool dw, bool ats)
{
    T *t = g_new0(T, 1);

    t->qts = qtest_initf(
        "-M q35 -nodefaults -nic none "
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off "
        "-device intel-iommu,intremap=off,device-iotlb=on,"
        "x-ite-timeout-ns=%llu%s "
        "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=2 "
        "-device virtio-net-pci,id=nic,bus=rp1,ats=on,disable-legacy=on,"
        "iommu_platform=on,romfile=",
        (unsigned long long)TIMEOUT_NS, extra_iommu ? extra_iommu : "");

    /* ECAM at 0xb0000000, 256 buses */
    cfg_outl(t, 0, 0, 0x64, 0);
    cfg_outl(t, 0, 0, 0x60, (uint32_t)ECAM | 1);
    /* root port: primary 0, secondary 1, subordinate 1 */
    cfg_outl(t, 0, RP_DEVFN, 0x18, 0x010100);
    g_assert_cmphex(qtest_readl(t->qts, ecam(1, 0, 0)), ==, 0x10411af4);
    if (ats) {
        ats_enable(t, true);
    }

    t->dw = dw;
    t->nslots = 1u << (qs + 8 - (dw ? 1 : 0));
    qtest_memset(t->qts, QUEUE, 0, 0x10000);
    qtest_memset(t->qts, STATUS, 0, 0x1000);
    wr32(t, FEADDR, 0xfee00000);
    wr32(t, FEDATA, 0x31);
    wr64(t, IQA, QUEUE | (dw ? IQA_DW : 0) | qs);
    wr64(t, IQT, 0);
    wr32(t, GCMD, GCMD_QIE);
    g_assert_cmphex(rd32(t, GSTS), ==, GCMD_QIE);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    return t;
}

static void teardown(T *t)
{
    qtest_quit(t->qts);
    g_free(t);
}

static void put(T *t, unsigned slot, uint64_t lo, uint64_t hi)
{
    unsigned sz = t->dw ? 32 : 16;

    qtest_writeq(t->qts, QUEUE + slot * sz, lo);
    qtest_writeq(t->qts, QUEUE + slot * sz + 8, hi);
    if (t->dw) {
        qtest_writeq(t->qts, QUEUE + slot * sz + 16, 0);
        qtest_writeq(t->qts, QUEUE + slot * sz + 24, 0);
    }
}

static void tail(T *t, unsigned slot)
{
    wr64(t, IQT, (uint64_t)slot << (t->dw ? 5 : 4));
}

static uint32_t status(T *t, unsigned i)
{
    return qtest_readl(t->qts, STATUS + 4 * i);
}

/* descriptors */
static uint64_t wait_lo(uint32_t data, bool iflag, bool fn)
{
    return 0x5 | (1u << 5) | (iflag ? 1u << 4 : 0) | (fn ? 1u << 6 : 0) |
           (uint64_t)data << 32;
}
#define WAIT_HI(i)      (STATUS + 4 * (i))
#define IOTLB_GLOBAL    0x12ull
#define CC_GLOBAL       0x11ull
#define IEC_GLOBAL      0x4ull
static uint64_t devtlb_lo(uint16_t sid, unsigned qdep)
{
    return 0x3 | (uint64_t)(qdep & 0x1f) << 16 | (uint64_t)sid << 32;
}
#define DEVTLB_HI_ALL   0x7ffffffffffff001ull

/* X_VTD_QI_ERROR already sent (a QMP round trip reads it in), or NULL */
static QDict *event_sent(T *t)
{
    qtest_qmp_assert_success(t->qts, "{ 'execute': 'query-status' }");
    return qtest_qmp_event_ref(t->qts, "X_VTD_QI_ERROR");
}

/*
 * The next X_VTD_QI_ERROR.  The monitor sends at most one a second (of
 * virtual time under qtest) and holds back the last one raised within the
 * second: if none has been sent, let that second pass.
 */
static QDict *event(T *t)
{
    QDict *ev = event_sent(t);
    QDict *data;

    if (!ev) {
        qtest_clock_step(t->qts, EVENT_RATE_NS);
        ev = qtest_qmp_eventwait_ref(t->qts, "X_VTD_QI_ERROR");
    }
    data = qdict_get_qdict(ev, "data");

    qobject_ref(data);
    qobject_unref(ev);
    return data;
}

static void check_event(T *t, const char *kind, int64_t sid, int64_t head,
                        int64_t tl, int64_t iqei)
{
    QDict *d = event(t);

    g_assert_cmpstr(qdict_get_str(d, "kind"), ==, kind);
    g_assert_cmpint(qdict_get_int(d, "sid"), ==, sid);
    g_assert_cmpint(qdict_get_int(d, "head"), ==, head);
    g_assert_cmpint(qdict_get_int(d, "tail"), ==, tl);
    if (iqei >= 0) {
        g_assert_cmpint(qdict_get_int(d, "iqei"), ==, iqei);
    } else {
        g_assert_false(qdict_haskey(d, "iqei"));
    }
    qobject_unref(d);
}

static void inject(T *t, const char *mode, int64_t delay)
{
    QDict *r;

    if (delay >= 0) {
        r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                      "{'id': 'nic', 'mode': %s, 'delay-ns': %" PRId64 "}}",
                      mode, delay);
    } else {
        r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                      "{'id': 'nic', 'mode': %s}}", mode);
    }
    g_assert(qdict_haskey(r, "return"));
    qobject_unref(r);
}

static void inject_delay(T *t, uint64_t delay)
{
    qtest_qmp_assert_success(t->qts, "{'execute': 'x-ats-inject', "
                             "'arguments': {'id': 'nic', 'mode': 'delay', "
                             "'delay-ns': %" PRIu64 "}}", delay);
}

/* ------------------------------------------------------------ registers */

static void test_registers(void)
{
    T *t = setup(NULL, 0, false, true);
    uint64_t ecap = rd64(t, ECAP);

    g_assert_cmphex(ecap & (ECAP_QI | ECAP_DT | ECAP_SMTS), ==,
                    ECAP_QI | ECAP_DT);
    g_assert_cmphex(rd64(t, IQER), ==, 0);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM);
    g_assert_cmphex(rd32(t, ICS), ==, 0);
    g_assert_cmphex(rd32(t, IECTL), ==, 0x80000000);
    g_assert_cmphex(rd64(t, IQA), ==, QUEUE);

    /* IQER is read-only */
    wr64(t, IQER, ~0ull);
    g_assert_cmphex(rd64(t, IQER), ==, 0);
    /* FSTS: writing ones to clear status that is clear changes nothing */
    wr32(t, FSTS, 0xffffffff);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    /* IQH is read-only */
    wr64(t, IQH, 0x50);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    /* IQT keeps QT only (bits 18:4) */
    wr64(t, IQT, 0xffffffffffffffffull & ~0x7fff0ull);
    g_assert_cmphex(rd64(t, IQT), ==, 0);
    teardown(t);
}

/*
 * A quadword write at a 32-bit register at a quadword-aligned offset
 * (FECTL, IECTL, IEADDR) writes it and the next register, as two
 * doublewords; the base asserted size == 4 there and aborted (make fuzz).
 */
static void test_qword_write_32bit_regs(void)
{
    QTestState *qts = qtest_init("-M q35 -nodefaults "
                                 "-device intel-iommu,intremap=off");

    qtest_writeq(qts, IOMMU_BASE + FECTL, 0x0000abcd80000000ULL);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + FECTL), ==, 0x80000000);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + FEDATA), ==, 0xabcd);
    qtest_writeq(qts, IOMMU_BASE + IECTL, 0x1234567880000000ULL);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + IECTL), ==, 0x80000000);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + IEDATA), ==, 0x12345678);
    qtest_writeq(qts, IOMMU_BASE + IEADDR, 0x00000001fee01004ULL);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + IEADDR), ==, 0xfee01004);
    /* QEMU is still there */
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + 0x0), ==, 0x10);
    qtest_quit(qts);
}

static void test_reset(void)
{
    T *t = setup(NULL, 0, false, true);

    inject(t, "drop", -1);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 32);

    qobject_unref(qtest_qmp(t->qts, "{ 'execute': 'system_reset' }"));
    qtest_qmp_eventwait(t->qts, "RESET");
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd64(t, IQER), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    g_assert_cmphex(rd32(t, GSTS), ==, 0);
    teardown(t);
}

/* ------------------------------------------------------------ descriptors */

static void test_sync_descriptors(void)
{
    T *t = setup(NULL, 0, false, true);

    put(t, 0, CC_GLOBAL, 0);
    put(t, 1, IOTLB_GLOBAL, 0);
    put(t, 2, IEC_GLOBAL, 0);
    put(t, 3, wait_lo(0x1234, false, false), WAIT_HI(0));
    tail(t, 4);
    g_assert_cmphex(status(t, 0), ==, 0x1234);
    g_assert_cmphex(rd64(t, IQH), ==, 0x40);
    g_assert_cmphex(rd32(t, ICS), ==, 0);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);

    /* IF: ICS.IWC, IECTL.IP (masked) */
    put(t, 4, wait_lo(0x5678, true, false), WAIT_HI(1));
    tail(t, 5);
    g_assert_cmphex(status(t, 1), ==, 0x5678);
    g_assert_cmphex(rd32(t, ICS), ==, 1);
    g_assert_cmphex(rd32(t, IECTL), ==, 0xc0000000);
    wr32(t, ICS, 1);
    g_assert_cmphex(rd32(t, ICS), ==, 0);
    g_assert_cmphex(rd32(t, IECTL), ==, 0x80000000);

    /* IF with the interrupt unmasked: delivered, IP stays clear */
    wr32(t, IECTL, 0);
    put(t, 5, 0x5 | (1u << 4), 0);
    tail(t, 6);
    g_assert_cmphex(rd32(t, ICS), ==, 1);
    g_assert_cmphex(rd32(t, IECTL), ==, 0);

    /* a wait with neither SW nor IF is a valid no-op */
    put(t, 6, 0x5, 0);
    tail(t, 7);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 0x70);
    teardown(t);
}

static void test_devtlb_latency(void)
{
    T *t = setup(NULL, 0, false, true);

    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0xaa, false, false), WAIT_HI(0));
    put(t, 2, IOTLB_GLOBAL, 0);
    put(t, 3, wait_lo(0xbb, false, false), WAIT_HI(1));
    tail(t, 4);
    /* all four fetched (no fence), both waits behind the device-TLB one */
    g_assert_cmphex(rd64(t, IQH), ==, 0x40);
    g_assert_cmphex(status(t, 0), ==, 0);
    g_assert_cmphex(status(t, 1), ==, 0);
    qtest_clock_step(t->qts, LATENCY_NS - 1);
    g_assert_cmphex(status(t, 0), ==, 0);
    g_assert_cmphex(status(t, 1), ==, 0);
    qtest_clock_step(t->qts, 1);
    g_assert_cmphex(status(t, 0), ==, 0xaa);
    g_assert_cmphex(status(t, 1), ==, 0xbb);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);

    /* delay mode: exactly the delay */
    inject(t, "delay", 5000);
    put(t, 4, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 5, wait_lo(0xcc, false, false), WAIT_HI(2));
    tail(t, 6);
    qtest_clock_step(t->qts, 4999);
    g_assert_cmphex(status(t, 2), ==, 0);
    qtest_clock_step(t->qts, 1);
    g_assert_cmphex(status(t, 2), ==, 0xcc);

    /* respond again */
    inject(t, "respond", -1);
    put(t, 6, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 7, wait_lo(0xdd, false, false), WAIT_HI(3));
    tail(t, 8);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 3), ==, 0xdd);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);
}

static void test_fence_and_depth(void)
{
    T *t = setup(NULL, 0, false, true);

    /* FN: nothing after the wait is fetched until it completes */
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, true), WAIT_HI(0));
    put(t, 2, wait_lo(2, false, false), WAIT_HI(1));
    tail(t, 3);
    g_assert_cmphex(rd64(t, IQH), ==, 0x20);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 1);
    g_assert_cmphex(status(t, 1), ==, 2);
    g_assert_cmphex(rd64(t, IQH), ==, 0x30);

    /* queue depth 1: the second request waits for the first answer */
    put(t, 3, devtlb_lo(EP_SID, 1), DEVTLB_HI_ALL);
    put(t, 4, devtlb_lo(EP_SID, 1), DEVTLB_HI_ALL);
    put(t, 5, wait_lo(3, false, false), WAIT_HI(2));
    tail(t, 6);
    g_assert_cmphex(rd64(t, IQH), ==, 0x40);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(rd64(t, IQH), ==, 0x60);
    g_assert_cmphex(status(t, 2), ==, 0);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 2), ==, 3);

    /* queue depth 0 means 32: two go out at once */
    put(t, 6, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 7, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 8, wait_lo(4, false, false), WAIT_HI(3));
    tail(t, 9);
    g_assert_cmphex(rd64(t, IQH), ==, 0x90);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 3), ==, 4);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);
}

static void test_wrap(void)
{
    T *t = setup(NULL, 0, false, true);
    unsigned i;

    g_assert_cmpuint(t->nslots, ==, 256);
    for (i = 0; i < 250; i++) {
        put(t, i, IOTLB_GLOBAL, 0);
    }
    tail(t, 250);
    g_assert_cmphex(rd64(t, IQH), ==, 250 << 4);
    for (i = 250; i < 256; i++) {
        put(t, i, IOTLB_GLOBAL, 0);
    }
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x77, false, false), WAIT_HI(0));
    tail(t, 2);
    g_assert_cmphex(rd64(t, IQH), ==, 2 << 4);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 0x77);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);
}

/* 256-bit descriptors (scalable mode, IQA.DW) */
static void test_dw256(void)
{
    T *t = setup(",x-scalable-mode=on", 1, true, true);

    g_assert_cmphex(rd64(t, ECAP) & ECAP_SMTS, ==, ECAP_SMTS);
    g_assert_cmpuint(t->nslots, ==, 256);
    g_assert_cmphex(rd64(t, IQA), ==, QUEUE | IQA_DW | 1);
    put(t, 0, IOTLB_GLOBAL, 0);
    put(t, 1, 0x7, 0);                              /* PASID-cache */
    put(t, 2, 0x6 | (2ull << 4), 0);                /* PASID-IOTLB, all */
    put(t, 3, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 4, wait_lo(0x99, false, false), WAIT_HI(0));
    tail(t, 5);
    g_assert_cmphex(rd64(t, IQH), ==, 5 << 5);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 0x99);

    /* upper 128 bits must be zero: reserved */
    put(t, 5, wait_lo(0x11, false, false), WAIT_HI(1));
    qtest_writeq(t->qts, QUEUE + 5 * 32 + 24, 1);
    tail(t, 6);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 4);
    g_assert_cmphex(rd64(t, IQH), ==, 5 << 5);
    check_event(t, "iqe", 0, 5, 6, 4);
    qtest_writeq(t->qts, QUEUE + 5 * 32 + 24, 0);
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(status(t, 1), ==, 0x11);
    g_assert_cmphex(rd64(t, IQH), ==, 6 << 5);

    /* tail with bit 4 set in 256-bit mode */
    wr64(t, IQT, (7 << 5) | 0x10);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 1);
    g_assert_cmphex(rd64(t, IQH), ==, 6 << 5);
    teardown(t);
}

/* a PASID descriptor in a 128-bit queue: bad width; without SM: bad type */
static void test_width_and_type(void)
{
    T *t = setup(",x-scalable-mode=on", 0, false, true);

    put(t, 0, 0x6 | (2ull << 4), 0);
    tail(t, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 5);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    teardown(t);

    t = setup(NULL, 0, false, true);
    put(t, 0, 0x6 | (2ull << 4), 0);
    tail(t, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 3);
    teardown(t);
}

/* ------------------------------------------------------------ re-entry */

/*
 * A wait descriptor whose status address is the IOMMU's own IQT register,
 * completed from the endpoint answer (outside any MMIO dispatch, so QEMU's
 * memory re-entrancy guard does not stop the write): the write moves the
 * tail while the engine is fetching.  The descriptor is processed once and
 * fetching goes on to the new tail, never past it.
 */
static void test_reentrant_iqt_write(void)
{
    T *t = setup(NULL, 0, false, true);
    unsigned i;

    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, true), WAIT_HI(0));         /* FN */
    put(t, 2, wait_lo(4 << 4, false, false), IOMMU_BASE + IQT);
    put(t, 3, wait_lo(0x33, false, false), WAIT_HI(1));
    tail(t, 3);
    g_assert_cmphex(rd64(t, IQH), ==, 2 << 4);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 1);
    g_assert_cmphex(rd64(t, IQT), ==, 4 << 4);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);
    g_assert_cmphex(status(t, 1), ==, 0x33);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);

    /*
     * Two such waits, each setting the tail to its own slot, chase each
     * other round the ring for ever (as hardware would).  The engine does
     * at most a queue's worth of descriptors per run and continues from
     * the main loop, so QEMU keeps answering; once the guest points one of
     * them at RAM, fetching stops at the tail the other one wrote.
     */
    t = setup(NULL, 0, false, true);
    for (i = 0; i < t->nslots; i++) {
        put(t, i, IOTLB_GLOBAL, 0);
    }
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, true), WAIT_HI(0));         /* FN */
    put(t, 2, wait_lo(2 << 4, false, false), IOMMU_BASE + IQT);
    put(t, 100, wait_lo(100 << 4, false, false), IOMMU_BASE + IQT);
    tail(t, 2);
    g_assert_cmphex(rd64(t, IQH), ==, 2 << 4);
    /* fetched already; from the next lap on they are IOTLB invalidations */
    put(t, 0, IOTLB_GLOBAL, 0);
    put(t, 1, IOTLB_GLOBAL, 0);
    tail(t, 3);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 1);
    qtest_qmp_assert_success(t->qts, "{ 'execute': 'query-status' }");
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    /* one 8-byte write: the status of slot 100 goes to RAM from now on */
    qtest_writeq(t->qts, QUEUE + 100 * 16 + 8, WAIT_HI(2));
    for (i = 0; i < 1000 && rd64(t, IQH) != rd64(t, IQT); i++) {
        g_usleep(1000);
    }
    g_assert_cmphex(rd64(t, IQT), ==, 2 << 4);
    g_assert_cmphex(rd64(t, IQH), ==, 2 << 4);
    g_assert_cmphex(status(t, 2), ==, 100 << 4);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);
}

/* ------------------------------------------------------------ IQE */

static void test_iqe(void)
{
    T *t = setup(NULL, 0, false, true);

    /* bad type, then fixed in memory and resumed on IQE clear */
    put(t, 0, IOTLB_GLOBAL, 0);
    put(t, 1, 0x0, 0);
    put(t, 2, wait_lo(0x42, false, false), WAIT_HI(0));
    tail(t, 3);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 3);
    g_assert_cmphex(rd64(t, IQH), ==, 1 << 4);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM | FECTL_IP);
    check_event(t, "iqe", 0, 1, 3, 3);
    /* the tail may move while IQE is set: nothing is fetched */
    put(t, 3, wait_lo(0x43, false, false), WAIT_HI(1));
    tail(t, 4);
    g_assert_cmphex(rd64(t, IQH), ==, 1 << 4);
    g_assert_cmphex(status(t, 1), ==, 0);
    put(t, 1, IOTLB_GLOBAL, 0);
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM);
    g_assert_cmphex(status(t, 0), ==, 0x42);
    g_assert_cmphex(status(t, 1), ==, 0x43);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);

    /* reserved bit: IOTLB descriptor bit 8 */
    put(t, 4, IOTLB_GLOBAL | 0x100, 0);
    tail(t, 5);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 4);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);
    check_event(t, "iqe", 0, 4, 5, 4);
    /* reserved bit: wait status address not dword aligned */
    put(t, 4, wait_lo(1, false, false), WAIT_HI(0) | 2);
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 4);
    check_event(t, "iqe", 0, 4, 5, 4);
    put(t, 4, wait_lo(0x44, false, false), WAIT_HI(2));
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(status(t, 2), ==, 0x44);
    g_assert_cmphex(rd64(t, IQH), ==, 5 << 4);

    /* bad tail: beyond the 256-slot queue */
    wr64(t, IQT, 300 << 4);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 1);
    check_event(t, "iqe", 0, 5, 300, 1);
    wr64(t, IQT, 5 << 4);
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 5 << 4);

    /* IQEI is latched while IQE is set: a second error changes nothing */
    put(t, 5, 0xf, 0);
    tail(t, 6);
    g_assert_cmphex(rd64(t, IQER), ==, 3);
    wr64(t, IQT, 400 << 4);
    g_assert_cmphex(rd64(t, IQER), ==, 3);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    teardown(t);

    /* fetch error: the queue is where no memory is */
    t = setup(NULL, 0, false, true);
    put(t, 0, wait_lo(1, false, false), WAIT_HI(0));
    tail(t, 1);
    wr32(t, GCMD, 0);               /* QI off needs an empty queue, wait last */
    g_assert_cmphex(rd32(t, GSTS), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    wr64(t, IQT, 0);
    wr64(t, IQA, BADRAM);
    wr32(t, GCMD, GCMD_QIE);
    g_assert_cmphex(rd32(t, GSTS), ==, GCMD_QIE);
    tail(t, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 2);
    g_assert_cmphex(rd64(t, IQH), ==, 0);
    teardown(t);

    /* device-TLB descriptor with device-iotlb=off */
    t = g_new0(T, 1);
    t->qts = qtest_init("-M q35 -nodefaults -device intel-iommu,intremap=off");
    t->nslots = 256;
    g_assert_cmphex(qtest_readq(t->qts, IOMMU_BASE + ECAP) & ECAP_DT, ==, 0);
    qtest_writeq(t->qts, QUEUE, devtlb_lo(EP_SID, 0));
    qtest_writeq(t->qts, QUEUE + 8, DEVTLB_HI_ALL);
    wr64(t, IQA, QUEUE);
    wr32(t, GCMD, GCMD_QIE);
    tail(t, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    g_assert_cmphex(rd64(t, IQER), ==, 3);
    teardown(t);
}

/* ------------------------------------------------------------ ITE */

static void test_ite(void)
{
    T *t = setup(NULL, 0, false, true);

    inject(t, "drop", -1);
    qtest_clock_step(t->qts, 12345);        /* any start time */
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x51, true, false), WAIT_HI(0));
    put(t, 2, IOTLB_GLOBAL, 0);
    put(t, 3, wait_lo(0x52, false, false), WAIT_HI(1));
    tail(t, 4);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);
    qtest_clock_step(t->qts, TIMEOUT_NS - 1);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd64(t, IQER), ==, 0);
    qtest_clock_step(t->qts, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 32);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM | FECTL_IP);
    check_event(t, "ite", EP_SID, 4, 4, -1);
    /* both waits aborted: no status write, no IWC */
    g_assert_cmphex(status(t, 0), ==, 0);
    g_assert_cmphex(status(t, 1), ==, 0);
    g_assert_cmphex(rd32(t, ICS), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);

    /* nothing is fetched while ITE is set */
    put(t, 4, wait_lo(0x53, false, false), WAIT_HI(2));
    tail(t, 5);
    qtest_clock_step(t->qts, 10 * TIMEOUT_NS);
    g_assert_cmphex(status(t, 2), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 4 << 4);

    /* clear: resume from IQH, aborted waits are not replayed */
    wr32(t, FSTS, FSTS_ITE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM);
    g_assert_cmphex(status(t, 2), ==, 0x53);
    g_assert_cmphex(status(t, 0), ==, 0);
    g_assert_cmphex(rd64(t, IQH), ==, 5 << 4);
    /* IQER keeps ITESID until the next time-out */
    g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 32);

    /* fault interrupt unmasked: delivered, IP clear */
    wr32(t, FECTL, 0);
    put(t, 5, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 6, wait_lo(0x54, false, false), WAIT_HI(3));
    tail(t, 7);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd32(t, FECTL), ==, 0);
    check_event(t, "ite", EP_SID, 7, 7, -1);
    wr32(t, FSTS, FSTS_ITE);

    /* an answer later than the time-out: a time-out, the answer is lost */
    inject(t, "delay", TIMEOUT_NS + 1);
    put(t, 7, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 8, wait_lo(0x55, false, false), WAIT_HI(4));
    tail(t, 9);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    qtest_clock_step(t->qts, 10);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);     /* no ICE */
    g_assert_cmphex(status(t, 4), ==, 0);
    teardown(t);
}

/* the endpoint cannot answer: ATS off, link down, surprise-removed */
static void test_no_answer(void)
{
    static const char *const cases[] = { "ats-off", "link-down", "removed" };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        T *t = setup(NULL, 0, false, !g_str_equal(cases[i], "ats-off"));
        QDict *r = NULL;

        if (g_str_equal(cases[i], "link-down")) {
            r = qtest_qmp(t->qts, "{'execute': 'x-pcie-link-set', "
                          "'arguments': {'port': 'rp1', 'up': false}}");
        } else if (g_str_equal(cases[i], "removed")) {
            r = qtest_qmp(t->qts, "{'execute': 'x-pcie-surprise-remove', "
                          "'arguments': {'id': 'nic'}}");
        }
        if (r) {
            g_assert(qdict_haskey(r, "return"));
            qobject_unref(r);
        }
        put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
        put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
        tail(t, 2);
        qtest_clock_step(t->qts, TIMEOUT_NS - 1);
        g_assert_cmphex(rd32(t, FSTS), ==, 0);
        qtest_clock_step(t->qts, 1);
        g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
        g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 32);
        g_assert_cmphex(status(t, 0), ==, 0);
        teardown(t);
    }

    /* link goes down while the answer is on its way: lost */
    {
        T *t = setup(NULL, 0, false, true);
        QDict *r;

        put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
        put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
        tail(t, 2);
        qtest_clock_step(t->qts, LATENCY_NS / 2);
        r = qtest_qmp(t->qts, "{'execute': 'x-pcie-link-set', "
                      "'arguments': {'port': 'rp1', 'up': false}}");
        qobject_unref(r);
        qtest_clock_step(t->qts, LATENCY_NS);
        g_assert_cmphex(status(t, 0), ==, 0);
        qtest_clock_step(t->qts, TIMEOUT_NS);
        g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
        teardown(t);
    }
}

/* time-outs and delays beyond the end of virtual time mean "never" */
static void test_never(void)
{
    static const uint64_t never[] = {
        1ull << 63, UINT64_MAX, INT64_MAX, INT64_MAX - 1000,
    };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(never); i++) {
        g_autofree char *opt = g_strdup_printf(",x-ite-timeout-ns=%" PRIu64,
                                               never[i]);
        T *t = setup(opt, 0, false, true);

        inject(t, "drop", -1);
        qtest_clock_step(t->qts, 5000);
        put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
        put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
        tail(t, 2);
        qtest_clock_step(t->qts, 1);
        g_assert_cmphex(rd32(t, FSTS), ==, 0);
        /* an hour of virtual time (periodic timers make more slow) */
        qtest_clock_step(t->qts, 3600 * 1000000000ll);
        g_assert_cmphex(rd32(t, FSTS), ==, 0);
        g_assert_cmphex(status(t, 0), ==, 0);
        teardown(t);
    }

    /* an answer delayed beyond the end of time never comes: ITE */
    for (i = 0; i < ARRAY_SIZE(never); i++) {
        T *t = setup(NULL, 0, false, true);

        qtest_clock_step(t->qts, 5000);
        inject_delay(t, never[i]);
        put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
        put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
        tail(t, 2);
        qtest_clock_step(t->qts, LATENCY_NS);
        g_assert_cmphex(status(t, 0), ==, 0);
        g_assert_cmphex(rd32(t, FSTS), ==, 0);
        qtest_clock_step(t->qts, TIMEOUT_NS - LATENCY_NS);
        g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
        g_assert_cmphex(status(t, 0), ==, 0);
        teardown(t);
    }
}

/*
 * Start QEMU with @args (stopped, -S); it must exit with status 1 within
 * 20 s (a wrongly accepted value leaves it running: killed, test fails).
 * Returns its stderr.
 */
static char *qemu_start_fails(const char *args)
{
    g_autofree char *cmd = g_strdup_printf(
        "%s -M q35 -accel qtest -nodefaults -display none -S %s",
        g_getenv("QTEST_QEMU_BINARY"), args);
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;
    GString *out = g_string_new(NULL);
    char buf[256];
    ssize_t n;
    GPid pid;
    int fd, status = 0, i;

    g_assert(g_shell_parse_argv(cmd, NULL, &argv, &err));
    g_assert(g_spawn_async_with_pipes(NULL, argv, NULL,
                                      G_SPAWN_DO_NOT_REAP_CHILD |
                                      G_SPAWN_STDOUT_TO_DEV_NULL,
                                      NULL, NULL, &pid, NULL, NULL, &fd,
                                      &err));
    for (i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) == 0; i++) {
        g_usleep(10000);
    }
    if (i == 2000) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        g_assert_not_reached();
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(out, buf, n);
    }
    close(fd);
    g_spawn_close_pid(pid);
    g_assert(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    return g_string_free(out, false);
}

static void test_bad_properties(void)
{
    g_autofree char *out = qemu_start_fails(
        "-device intel-iommu,device-iotlb=on,x-ite-timeout-ns=0");

    g_assert_nonnull(strstr(out, "x-ite-timeout-ns must be at least 1 ns"));
}

/*
 * An ATS endpoint on another PCIe root bus than pcie.0: behind a root port
 * of a pxb-pcie expander (bus 0x20, root port secondary bus 0x21).  The
 * IOMMU translates for it (the expander sits on pcie.0), so it answers;
 * with the expander's bypass_iommu=on the IOMMU does not translate for it
 * and has no endpoint with that requester id: the request times out.
 */
static T *setup_pxb(bool bypass)
{
    T *t = g_new0(T, 1);

    t->qts = qtest_initf(
        "-M q35,default_bus_bypass_iommu=off -nodefaults -nic none "
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off "
        "-device intel-iommu,intremap=off,device-iotlb=on,"
        "x-ite-timeout-ns=%llu "
        "-device pxb-pcie,id=pxb1,bus_nr=0x20,bus=pcie.0,bypass_iommu=%s "
        "-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pxb1,addr=0 "
        "-device virtio-net-pci,id=nic,bus=rp2,ats=on,disable-legacy=on,"
        "iommu_platform=on,romfile=",
        (unsigned long long)TIMEOUT_NS, bypass ? "on" : "off");
    cfg_outl(t, 0, 0, 0x64, 0);
    cfg_outl(t, 0, 0, 0x60, (uint32_t)ECAM | 1);
    /* rp2 at 20:00.0: primary 0x20, secondary 0x21, subordinate 0x21 */
    qtest_writel(t->qts, ecam(0x20, 0, 0x18), 0x212120);
    g_assert_cmphex(qtest_readl(t->qts, ecam(0x21, 0, 0)), ==, 0x10411af4);
    ats_enable_at(t, 0x21, true);
    t->nslots = 256;
    qtest_memset(t->qts, QUEUE, 0, 0x10000);
    qtest_memset(t->qts, STATUS, 0, 0x1000);
    wr64(t, IQA, QUEUE);
    wr32(t, GCMD, GCMD_QIE);
    return t;
}

static void test_pxb_endpoint(void)
{
    T *t = setup_pxb(false);

    put(t, 0, devtlb_lo(0x2100, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x21, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 0x21);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);

    /* x-ats-inject reaches it too; the time-out names it */
    inject(t, "drop", -1);
    put(t, 2, devtlb_lo(0x2100, 0), DEVTLB_HI_ALL);
    put(t, 3, wait_lo(0x22, false, false), WAIT_HI(1));
    tail(t, 4);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==, 0x2100ull << 32);
    g_assert_cmphex(status(t, 1), ==, 0);
    teardown(t);

    t = setup_pxb(true);
    put(t, 0, devtlb_lo(0x2100, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x21, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 0);
    qtest_clock_step(t->qts, TIMEOUT_NS - LATENCY_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==, 0x2100ull << 32);
    teardown(t);
}

/* Surprise-remove 'nic' and plug a new one with the same id, ATS on. */
static void replace_nic(T *t)
{
    qtest_qmp_assert_success(t->qts, "{'execute': 'x-pcie-surprise-remove', "
                             "'arguments': {'id': 'nic'}}");
    qtest_qmp_eventwait(t->qts, "DEVICE_DELETED");
    qtest_qmp_device_add(t->qts, "virtio-net-pci", "nic",
                         "{'bus': 'rp1', 'ats': true, "
                         "'disable-legacy': 'on', 'iommu_platform': true, "
                         "'romfile': ''}");
    g_assert_cmphex(qtest_readl(t->qts, ecam(1, 0, 0)), ==, 0x10411af4);
    ats_enable(t, true);
}

/*
 * x-ats-inject and the answers in flight belong to the device instance:
 * a new device with the same id (and so the same QOM path) starts in
 * "respond", and an answer the removed device would have sent never
 * comes from the new one, which never received the request.
 */
static void test_inject_lifetime(void)
{
    T *t = setup(NULL, 0, false, true);

    inject(t, "drop", -1);
    replace_nic(t);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 0), ==, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);

    put(t, 2, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 3, wait_lo(2, false, false), WAIT_HI(1));
    tail(t, 4);
    qtest_clock_step(t->qts, LATENCY_NS / 2);
    replace_nic(t);
    qtest_clock_step(t->qts, LATENCY_NS);
    g_assert_cmphex(status(t, 1), ==, 0);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 32);
    g_assert_cmphex(status(t, 1), ==, 0);
    teardown(t);
}

/* ------------------------------------------------------------ ICE */

static void test_ice(void)
{
    T *t = setup(NULL, 0, false, true);

    inject(t, "wrong-completion", -1);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, LATENCY_NS - 1);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    qtest_clock_step(t->qts, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ICE);
    g_assert_cmphex(rd64(t, IQER), ==, (uint64_t)EP_SID << 48);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM | FECTL_IP);
    check_event(t, "ice", EP_SID, 2, 2, -1);
    /* the real request is still unanswered: time-out follows */
    qtest_clock_step(t->qts, TIMEOUT_NS - LATENCY_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ICE | FSTS_ITE);
    g_assert_cmphex(rd64(t, IQER), ==,
                    (uint64_t)EP_SID << 48 | (uint64_t)EP_SID << 32);
    check_event(t, "ite", EP_SID, 2, 2, -1);
    g_assert_cmphex(status(t, 0), ==, 0);
    /* clearing ICE alone does not clear IP: ITE is still set */
    wr32(t, FSTS, FSTS_ICE);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM | FECTL_IP);
    wr32(t, FSTS, FSTS_ITE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM);
    teardown(t);
}

/* ------------------------------------------------------------ fault event */

/*
 * FECTL.IP and the fault interrupt follow one rule for every fault source:
 * a new event is generated only if no status (PFO, PPF, IQE, ICE, ITE) was
 * pending.  Here a primary fault (interrupt remapping: an IOAPIC message
 * whose index is beyond the remapping table) while ITE is pending.
 */
static void test_fault_event_pending(void)
{
    T *t = setup(",intremap=on", 0, false, true);

    /* an ITE with the fault interrupt unmasked: sent, IP clear */
    wr32(t, FECTL, 0);
    inject(t, "drop", -1);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(1, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, TIMEOUT_NS);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE);
    g_assert_cmphex(rd32(t, FECTL), ==, 0);
    check_event(t, "ite", EP_SID, 2, 2, -1);

    /* masked from now on, ITE still pending */
    wr32(t, FECTL, FECTL_IM);
    /* interrupt remapping on, a 2-entry table */
    wr64(t, IRTA, 0x300000);
    wr32(t, GCMD, GCMD_QIE | GCMD_SIRTP);
    wr32(t, GCMD, GCMD_QIE | GCMD_IRE);
    g_assert_cmphex(rd32(t, GSTS) & (GCMD_QIE | GCMD_IRE), ==,
                    GCMD_QIE | GCMD_IRE);
    /* IOAPIC pin 10: vector 0x30, edge, remappable format, index 5 */
    qtest_writel(t->qts, 0xfec00000, 0x10 + 2 * 10);
    qtest_writel(t->qts, 0xfec00010, 0x30);
    qtest_writel(t->qts, 0xfec00000, 0x10 + 2 * 10 + 1);
    qtest_writel(t->qts, 0xfec00010, 5 << 17 | 1 << 16);
    qtest_set_irq_in(t->qts, "/machine/q35/ioapic", NULL, 10, 1);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_ITE | FSTS_PPF);
    /* ITE was pending: no new event, IP stays clear */
    g_assert_cmphex(rd32(t, FECTL), ==, FECTL_IM);
    teardown(t);
}

/* ------------------------------------------------------------ QMP event */

/* Raise IQE with a bad tail @bad, then put the tail back and clear IQE. */
static void bad_tail(T *t, unsigned bad)
{
    wr64(t, IQT, (uint64_t)bad << 4);
    g_assert_cmphex(rd32(t, FSTS), ==, FSTS_IQE);
    wr64(t, IQT, 0);
    wr32(t, FSTS, FSTS_IQE);
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
}

/*
 * X_VTD_QI_ERROR is guest-triggerable (a guest raises IQE as fast as it
 * writes registers): QEMU's monitor throttles it to one a second (virtual
 * time under qtest); the last one raised within the second comes at its
 * end, the others never.
 */
static void test_event_rate_limit(void)
{
    T *t = setup(NULL, 0, false, true);
    QDict *ev;

    bad_tail(t, 300);
    ev = event_sent(t);
    g_assert_nonnull(ev);
    qobject_unref(ev);
    bad_tail(t, 301);
    bad_tail(t, 302);
    g_assert_null(event_sent(t));
    qtest_clock_step(t->qts, EVENT_RATE_NS - 1);
    g_assert_null(event_sent(t));
    qtest_clock_step(t->qts, 1);
    ev = event_sent(t);
    g_assert_nonnull(ev);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "tail"), ==,
                    302);
    qobject_unref(ev);
    g_assert_null(event_sent(t));
    /* a second later the next one goes at once again */
    qtest_clock_step(t->qts, EVENT_RATE_NS);
    bad_tail(t, 303);
    ev = event_sent(t);
    g_assert_nonnull(ev);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "tail"), ==,
                    303);
    qobject_unref(ev);
    teardown(t);
}

/* ------------------------------------------------------------ sweep */

static void test_sweep(void)
{
    T *t = setup(",x-scalable-mode=on", 0, false, true);
    GRand *rnd = g_rand_new_with_seed(0x5eed);
    unsigned i, j;

    for (i = 0; i < 3000; i++) {
        unsigned start = rd64(t, IQH) >> (t->dw ? 5 : 4);
        unsigned n = g_rand_int_range(rnd, 1, 8);

        for (j = 0; j < n; j++) {
            uint64_t lo = ((uint64_t)g_rand_int(rnd) << 32) | g_rand_int(rnd);
            uint64_t hi = ((uint64_t)g_rand_int(rnd) << 32) | g_rand_int(rnd);

            switch (g_rand_int_range(rnd, 0, 4)) {
            case 0:
                lo = (lo & ~0xfull) | g_rand_int_range(rnd, 0, 9);
                break;
            case 1:
                lo = devtlb_lo(g_rand_boolean(rnd) ? EP_SID :
                               g_rand_int(rnd) & 0xffff,
                               g_rand_int_range(rnd, 0, 3));
                hi = DEVTLB_HI_ALL;
                break;
            case 2:
                lo = wait_lo(i, g_rand_boolean(rnd), g_rand_boolean(rnd));
                hi = g_rand_boolean(rnd) ? WAIT_HI(i % 1000) : hi & ~3ull;
                break;
            default:
                break;
            }
            put(t, (start + j) % t->nslots, lo, hi);
        }
        switch (g_rand_int_range(rnd, 0, 12)) {
        case 0:
            wr64(t, IQT, ((uint64_t)g_rand_int(rnd) << 32) | g_rand_int(rnd));
            break;
        case 1:
            wr64(t, IQA, (g_rand_boolean(rnd) ? QUEUE : BADRAM) |
                 g_rand_int_range(rnd, 0, 8) |
                 (g_rand_boolean(rnd) ? IQA_DW : 0));
            break;
        case 2: {
            static const char *const modes[] = {
                "respond", "drop", "wrong-completion"
            };
            inject(t, modes[g_rand_int_range(rnd, 0, 3)], -1);
            break;
        }
        case 3:
            wr32(t, GCMD, g_rand_int_range(rnd, 0, 4) ? GCMD_QIE : 0);
            break;
        default:
            tail(t, (start + n) % t->nslots);
            break;
        }
        qtest_clock_step(t->qts, g_rand_int_range(rnd, 1, 3) *
                         (g_rand_boolean(rnd) ? LATENCY_NS : TIMEOUT_NS));
        if (g_rand_int_range(rnd, 0, 3) == 0) {
            wr32(t, FSTS, FSTS_IQE | FSTS_ICE | FSTS_ITE);
        }
        /* keep our view of the queue in step with the model's */
        t->dw = rd64(t, IQA) & IQA_DW && (rd32(t, GSTS) & GCMD_QIE);
        t->nslots = 1u << ((rd64(t, IQA) & 7) + 8 - (t->dw ? 1 : 0));
        /* never more than the three error bits */
        g_assert_cmphex(rd32(t, FSTS) & ~(FSTS_IQE | FSTS_ICE | FSTS_ITE |
                                          0x3), ==, 0);
    }
    g_rand_free(rnd);
    /* QEMU is alive and answers */
    qobject_unref(qtest_qmp(t->qts, "{ 'execute': 'system_reset' }"));
    qtest_qmp_eventwait(t->qts, "RESET");
    g_assert_cmphex(rd32(t, FSTS), ==, 0);
    teardown(t);
}

/* ------------------------------------------------------------ QMP */

static void test_qmp_errors(void)
{
    T *t = setup(NULL, 0, false, true);
    QDict *r;

    r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                  "{'id': 'nosuch', 'mode': 'drop'}}");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(r, "error"), "class"), ==,
                    "DeviceNotFound");
    qobject_unref(r);
    r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                  "{'id': 'rp1', 'mode': 'drop'}}");
    g_assert(qdict_haskey(r, "error"));
    qobject_unref(r);
    r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                  "{'id': 'nic', 'mode': 'delay'}}");
    g_assert(qdict_haskey(r, "error"));
    qobject_unref(r);
    r = qtest_qmp(t->qts, "{'execute': 'x-ats-inject', 'arguments': "
                  "{'id': 'nic', 'mode': 'drop', 'delay-ns': 5}}");
    g_assert(qdict_haskey(r, "error"));
    qobject_unref(r);
    teardown(t);
}

/* ------------------------------------------------------------ migration */

static void wait_migration(QTestState *qts)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    for (;;) {
        g_assert(g_get_monotonic_time() < deadline);
        QDict *r = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(r, "return");
        const char *st = qdict_haskey(ret, "status") ?
                         qdict_get_str(ret, "status") : "none";
        bool done = g_str_equal(st, "completed");

        g_assert(!g_str_equal(st, "failed"));
        qobject_unref(r);
        if (done) {
            return;
        }
        g_usleep(10000);
    }
}

/*
 * A device-TLB request outstanding at migration (engine subsection): on the
 * destination it is sent again once the VM runs and completes; the
 * register file and queue position come across.
 */
static void test_migration(void)
{
    g_autofree char *file = g_strdup_printf("%s/vtd-qi-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    T *t = setup(NULL, 0, false, true);
    T *d = g_new0(T, 1);
    QDict *r;

    inject(t, "drop", -1);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x61, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, TIMEOUT_NS / 2);
    g_assert_cmphex(status(t, 0), ==, 0);
    r = qtest_qmp(t->qts, "{'execute': 'migrate', 'arguments': "
                  "{'uri': %s}}", uri);
    g_assert(qdict_haskey(r, "return"));
    qobject_unref(r);
    wait_migration(t->qts);
    teardown(t);

    d->qts = qtest_initf(
        "-M q35 -nodefaults -nic none "
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off "
        "-device intel-iommu,intremap=off,device-iotlb=on,"
        "x-ite-timeout-ns=%llu "
        "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=2 "
        "-device virtio-net-pci,id=nic,bus=rp1,ats=on,disable-legacy=on,"
        "iommu_platform=on,romfile= -incoming defer",
        (unsigned long long)TIMEOUT_NS);
    r = qtest_qmp(d->qts, "{'execute': 'migrate-incoming', 'arguments': "
                  "{'uri': %s}}", uri);
    g_assert(qdict_haskey(r, "return"));
    qobject_unref(r);
    wait_migration(d->qts);
    unlink(file);
    g_assert_cmphex(rd64(d, IQH), ==, 2 << 4);
    g_assert_cmphex(rd64(d, IQT), ==, 2 << 4);
    g_assert_cmphex(rd32(d, GSTS), ==, GCMD_QIE);
    g_assert_cmphex(rd32(d, FSTS), ==, 0);
    g_assert_cmphex(status(d, 0), ==, 0);
    /* the destination's endpoint answers (x-ats-inject is not migrated) */
    qobject_unref(qtest_qmp(d->qts, "{'execute': 'cont'}"));
    qtest_clock_step(d->qts, LATENCY_NS);
    g_assert_cmphex(status(d, 0), ==, 0x61);
    g_assert_cmphex(rd32(d, FSTS), ==, 0);
    teardown(d);
}

/*
 * The engine's subsection (requests outstanding) reaches a destination
 * with x-qi-engine=off: that destination cannot honour it (the base's loop
 * knows no outstanding request), so it refuses the load rather than run
 * the engine anyway.
 */
static void test_migration_engine_off(void)
{
    const char *not_completed[] = { "completed", NULL };
    g_autofree char *file = g_strdup_printf("%s/vtd-qi-mig-off-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    T *t = setup(NULL, 0, false, true);
    T *d = g_new0(T, 1);
    QDict *rsp;

    inject(t, "drop", -1);
    put(t, 0, devtlb_lo(EP_SID, 0), DEVTLB_HI_ALL);
    put(t, 1, wait_lo(0x62, false, false), WAIT_HI(0));
    tail(t, 2);
    qtest_clock_step(t->qts, TIMEOUT_NS / 2);
    migrate_qmp(t->qts, NULL, uri, NULL, "{}");
    wait_for_migration_complete(t->qts);
    teardown(t);

    d->qts = qtest_initf(
        "-M q35 -nodefaults -nic none "
        "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off "
        "-device intel-iommu,intremap=off,device-iotlb=on,x-qi-engine=off "
        "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=2 "
        "-device virtio-net-pci,id=nic,bus=rp1,ats=on,disable-legacy=on,"
        "iommu_platform=on,romfile= -incoming defer");
    migrate_incoming_qmp(d->qts, uri, NULL, "{'exit-on-error': false}");
    wait_for_migration_status(d->qts, "failed", not_completed);
    rsp = migrate_query(d->qts);
    g_assert_cmpstr(qdict_get_str(rsp, "error-desc"), ==,
                    "load of migration failed: Invalid argument");
    qobject_unref(rsp);
    unlink(file);
    /* nothing of the engine ran: no status write, no time-out */
    qtest_clock_step(d->qts, 2 * TIMEOUT_NS);
    g_assert_cmphex(status(d, 0), ==, 0);
    g_assert_cmphex(rd32(d, FSTS), ==, 0);
    teardown(d);
}

/* ------------------------------------------------------------ throughput */

/*
 * IOTLB-only throughput: a 32768-slot queue of page-selective IOTLB
 * invalidations with a wait descriptor every 64, submitted a whole queue at a
 * time (one IQT write processes 32767 descriptors), engine on and off (the
 * base's synchronous loop), and with $VTD_QI_STOCK_BINARY naming a build of
 * the pristine base, that too.  Run with -m perf; prints descriptors per second
 * of CPU time of QEMU's main thread (less sensitive to a loaded machine than
 * wall time).
 */
/* CPU time of QEMU's main thread, which runs the MMIO writes, in ns */
static uint64_t main_thread_cpu_ns(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/schedstat",
                                            (int)qtest_pid(qts));
    g_autofree char *text = NULL;

    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    return g_ascii_strtoull(text, NULL, 10);
}

typedef enum { PERF_ENGINE, PERF_BASE_LOOP, PERF_STOCK } PerfConfig;

static double perf_run(PerfConfig cfg, unsigned rounds)
{
    g_autofree uint64_t *q = g_new0(uint64_t, 2 * 32768);
    QTestState *qts;
    unsigned i, head = 0;
    uint64_t t0, t1;

    if (cfg == PERF_STOCK) {
        /* a build of the pristine base, binary in $VTD_QI_STOCK_BINARY */
        qts = qtest_init_with_env("VTD_QI_STOCK_BINARY",
                                  "-M q35 -nodefaults -device intel-iommu,"
                                  "intremap=off,device-iotlb=on", true);
    } else {
        qts = qtest_initf("-M q35 -nodefaults -device intel-iommu,"
                          "intremap=off,device-iotlb=on,x-qi-engine=%s",
                          cfg == PERF_ENGINE ? "on" : "off");
    }
    for (i = 0; i < 32768; i++) {
        if (i % 64 == 63) {
            q[2 * i] = cpu_to_le64(0x5 | (1u << 5) | (uint64_t)i << 32);
            q[2 * i + 1] = cpu_to_le64(STATUS);
        } else {
            /* IOTLB page-selective: G=3, DID 1, addr i pages, AM 0 */
            q[2 * i] = cpu_to_le64(0x2 | (3u << 4) | (1ull << 16));
            q[2 * i + 1] = cpu_to_le64((uint64_t)i << 12);
        }
    }
    qtest_memwrite(qts, QUEUE, q, 32768 * 16);
    qtest_writeq(qts, IOMMU_BASE + IQA, QUEUE | 7);
    qtest_writel(qts, IOMMU_BASE + GCMD, GCMD_QIE);

    t0 = main_thread_cpu_ns(qts);
    for (i = 0; i < rounds; i++) {
        head = (head + 32767) % 32768;
        qtest_writeq(qts, IOMMU_BASE + IQT, (uint64_t)head << 4);
    }
    g_assert_cmphex(qtest_readq(qts, IOMMU_BASE + IQH), ==,
                    (uint64_t)head << 4);
    t1 = main_thread_cpu_ns(qts);
    g_assert_cmphex(qtest_readl(qts, IOMMU_BASE + FSTS), ==, 0);
    qtest_quit(qts);
    return 32767.0 * rounds / ((t1 - t0) / 1e9);
}

static void test_perf_iotlb(void)
{
    unsigned rounds = 300, rep;
    bool stock = getenv("VTD_QI_STOCK_BINARY");
    double on = 0, off = 0, base = 0;

    /* best of 5, alternating, in descriptors per CPU-second of QEMU */
    for (rep = 0; rep < 5; rep++) {
        off = MAX(off, perf_run(PERF_BASE_LOOP, rounds));
        on = MAX(on, perf_run(PERF_ENGINE, rounds));
        if (stock) {
            base = MAX(base, perf_run(PERF_STOCK, rounds));
        }
    }
    g_printerr("vtd-qi throughput: engine %.0f desc/s, base loop "
               "(x-qi-engine=off) %.0f desc/s, ratio %.3f\n",
               on, off, on / off);
    if (stock) {
        g_printerr("vtd-qi throughput: stock build %.0f desc/s, engine/stock "
                   "%.3f\n", base, on / base);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vtd-qi/registers", test_registers);
    qtest_add_func("/vtd-qi/reset", test_reset);
    qtest_add_func("/vtd-qi/qword-write-32bit-registers",
                   test_qword_write_32bit_regs);
    qtest_add_func("/vtd-qi/sync-descriptors", test_sync_descriptors);
    qtest_add_func("/vtd-qi/devtlb-latency", test_devtlb_latency);
    qtest_add_func("/vtd-qi/fence-and-depth", test_fence_and_depth);
    qtest_add_func("/vtd-qi/wrap", test_wrap);
    qtest_add_func("/vtd-qi/dw256", test_dw256);
    qtest_add_func("/vtd-qi/width-and-type", test_width_and_type);
    qtest_add_func("/vtd-qi/reentrant-iqt-write", test_reentrant_iqt_write);
    qtest_add_func("/vtd-qi/iqe", test_iqe);
    qtest_add_func("/vtd-qi/ite", test_ite);
    qtest_add_func("/vtd-qi/no-answer", test_no_answer);
    qtest_add_func("/vtd-qi/never", test_never);
    qtest_add_func("/vtd-qi/bad-properties", test_bad_properties);
    qtest_add_func("/vtd-qi/pxb-endpoint", test_pxb_endpoint);
    qtest_add_func("/vtd-qi/inject-lifetime", test_inject_lifetime);
    qtest_add_func("/vtd-qi/ice", test_ice);
    qtest_add_func("/vtd-qi/qmp-errors", test_qmp_errors);
    qtest_add_func("/vtd-qi/fault-event-pending", test_fault_event_pending);
    qtest_add_func("/vtd-qi/event-rate-limit", test_event_rate_limit);
    qtest_add_func("/vtd-qi/sweep", test_sweep);
    qtest_add_func("/vtd-qi/migration", test_migration);
    qtest_add_func("/vtd-qi/migration-engine-off", test_migration_engine_off);
    if (g_test_perf()) {
        qtest_add_func("/vtd-qi/perf/iotlb-throughput", test_perf_iotlb);
    }
    return g_test_run();
}
