/*
 * QTest testcase for the live-translation tracker under TCG
 * (plugfault, accel/tcg/live-translations.c, hw/pci/live-translations-check.c)
 *
 * QEMU runs with -accel tcg and a bare guest (tests/plugfault/tcg-guest)
 * that does what the test asks through a mailbox in RAM: map a BAR at a
 * virtual address, read it, unmap it without invalidating, invlpg, reload
 * CR3, toggle CR4.PGE, read in ring 3, write or execute through the stale
 * address, poke PCI configuration space, start a hot-added vCPU that does
 * the same.  Every TLB fill and invalidation
 * the tracker sees is the test's, so each property of the check is pinned
 * down exactly: what is recorded, what ends it, which removals are
 * refused (a switch below the slot included), what a reset or a vCPU's
 * unplug forgets, what a stale translation may do, and how often its
 * event is sent.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qmp-assert-error.h"
#include "qobject/qjson.h"
#include "../plugfault/tcg-guest/tcg-guest.h"

#define BAR             0xfe000000u
#define VA              TCG_GUEST_WINDOW
#define E1000E_ID       0x10d38086u
#define E1000E_STATUS   0x8
#define RP_DEVFN        0x10            /* the root port at 00:02.0 */
#define KERNEL_RO       (TCG_GUEST_PTE_P | TCG_GUEST_PTE_NX)
#define KERNEL_RW       (KERNEL_RO | TCG_GUEST_PTE_RW)

#define MACHINE \
    "-accel tcg -M q35 -m 256M -nodefaults -nic none -kernel %s " \
    "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off " \
    "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2%s "

typedef struct G {
    QTestState *qts;
    uint32_t seq;
    uint32_t ap_seq;        /* the AP's mailbox, once START_AP started it */
} G;

static const char *guest_elf(void)
{
    const char *p = getenv("PF_TCG_GUEST");

    g_assert(p);
    return p;
}

/* A field of the mailbox at @mb (the BSP's or the AP's) */
#define MBF(mb, field)  ((mb) + offsetof(TcgGuestMailbox, field))
#define MB(field)       MBF(TCG_GUEST_MAILBOX, field)

/* Wait until the CPU serving @mb has set its magic; its done count. */
static uint32_t wait_mailbox(G *g, uint64_t mb)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (qtest_readl(g->qts, MBF(mb, magic)) != TCG_GUEST_MAGIC) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    return qtest_readl(g->qts, MBF(mb, done));
}

static void wait_guest_ready(G *g)
{
    g->seq = wait_mailbox(g, TCG_GUEST_MAILBOX);
}

static G *g_start(const char *rp_opts, const char *extra)
{
    G *g = g_new0(G, 1);

    g->qts = qtest_initf(MACHINE "%s", guest_elf(), rp_opts ?: "",
                         extra ?: "");
    wait_guest_ready(g);
    return g;
}

static void g_quit(G *g)
{
    qtest_quit(g->qts);
    g_free(g);
}

/* Post one command to the CPU serving @mb (@seq: its count). */
static void post_on(G *g, uint64_t mb, uint32_t *seq, uint32_t cmd,
                    uint64_t a0, uint64_t a1)
{
    qtest_writel(g->qts, MBF(mb, cmd), cmd);
    qtest_writeq(g->qts, MBF(mb, arg0), a0);
    qtest_writeq(g->qts, MBF(mb, arg1), a1);
    qtest_writel(g->qts, MBF(mb, seq), ++*seq);
}

/* Wait until it has run (10 s at most); its result. */
static uint32_t wait_on(G *g, uint64_t mb, uint32_t seq)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (qtest_readl(g->qts, MBF(mb, done)) != seq) {
        if (g_get_monotonic_time() > deadline) {
            g_error("guest command %u did not finish (unexpected 0x%x)",
                    qtest_readl(g->qts, MBF(mb, cmd)),
                    qtest_readl(g->qts, MBF(mb, unexpected)));
        }
        g_usleep(100);
    }
    g_assert_cmphex(qtest_readl(g->qts, MBF(mb, unexpected)), ==, 0);
    return qtest_readl(g->qts, MBF(mb, result));
}

static uint32_t run_on(G *g, uint64_t mb, uint32_t *seq, uint32_t cmd,
                       uint64_t a0, uint64_t a1)
{
    post_on(g, mb, seq, cmd, a0, a1);
    return wait_on(g, mb, *seq);
}

/* Run one guest command on the bootstrap processor; its result. */
static uint32_t g_run(G *g, uint32_t cmd, uint64_t a0, uint64_t a1)
{
    return run_on(g, TCG_GUEST_MAILBOX, &g->seq, cmd, a0, a1);
}

/* ... on the application processor START_AP started */
static uint32_t ap_run(G *g, uint32_t cmd, uint64_t a0, uint64_t a1)
{
    return run_on(g, TCG_GUEST_AP_MAILBOX, &g->ap_seq, cmd, a0, a1);
}

static uint32_t faults(G *g)
{
    return qtest_readl(g->qts, MB(faults));
}

static uint64_t cfg(unsigned bus, unsigned devfn, unsigned reg)
{
    return bus << 16 | devfn << 8 | reg;
}

static void cfg_w(G *g, unsigned bus, unsigned devfn, unsigned reg, uint32_t v)
{
    g_run(g, TCG_GUEST_CFG_WRITE, cfg(bus, devfn, reg), v);
}

static uint32_t cfg_r(G *g, unsigned bus, unsigned devfn, unsigned reg)
{
    return g_run(g, TCG_GUEST_CFG_READ, cfg(bus, devfn, reg), 0);
}

/* A bridge at @bus:@devfn: buses @sec..@sub below it, the BAR window. */
static void bridge_setup(G *g, unsigned bus, unsigned devfn, unsigned sec,
                         unsigned sub)
{
    cfg_w(g, bus, devfn, 0x18, sub << 16 | sec << 8 | bus);
    cfg_w(g, bus, devfn, 0x20, 0xfe00fe00);     /* 0xfe000000-0xfe0fffff */
    cfg_w(g, bus, devfn, 0x04, 0x0006);
}

/* The e1000e at @bus:00.0: BAR 0 at BAR, memory decode on. */
static void e1000e_setup(G *g, unsigned bus)
{
    g_assert_cmphex(cfg_r(g, bus, 0, 0), ==, E1000E_ID);
    cfg_w(g, bus, 0, 0x10, BAR);
    cfg_w(g, bus, 0, 0x04, 0x0002);
}

/* Map the BAR at VA (@flags) and read its STATUS register: a TLB fill. */
static uint32_t touch_bar(G *g, uint64_t flags)
{
    uint32_t status;

    g_run(g, TCG_GUEST_MAP, VA, BAR | flags);
    status = g_run(g, TCG_GUEST_KREAD, VA + E1000E_STATUS, 0);
    g_assert_cmphex(status, !=, 0xffffffff);
    return status;
}

/*
 * x-query-live-translations with @args (a reference it takes; NULL: none).
 * (qtest_qmp_assert_success_ref() hands back dictionaries only.)
 */
static QList *query_args(G *g, QDict *args)
{
    QDict *resp = args ?
        qtest_qmp(g->qts, "{ 'execute': 'x-query-live-translations', "
                  "'arguments': %p }", args) :
        qtest_qmp(g->qts, "{ 'execute': 'x-query-live-translations' }");
    QList *list = qdict_get_qlist(resp, "return");

    if (!list) {
        g_error("x-query-live-translations: %s",
                qobject_to_json(QOBJECT(resp))->str);
    }
    qobject_ref(list);
    qobject_unref(resp);
    return list;
}

static QList *query(G *g, const char *device)
{
    return query_args(g, device ?
                      qdict_from_jsonf_nofail("{ 'device': %s }", device) :
                      NULL);
}

static unsigned nlive(G *g, const char *device)
{
    QList *l = query(g, device);
    unsigned n = qlist_size(l);

    qobject_unref(l);
    return n;
}

/* Record translations below every hot-plug slot, strict or not */
static void watch_all(G *g)
{
    qtest_qmp_assert_success(g->qts, "{ 'execute': "
                             "'x-live-translations-watch-all', "
                             "'arguments': { 'enable': true } }");
}

#define SURPRISE_REMOVE \
    "{ 'execute': 'x-pcie-surprise-remove', 'arguments': { 'id': %s } }"
#define DEVICE_DEL "{ 'execute': 'device_del', 'arguments': { 'id': %s } }"

/* A removal the check refuses: the error names the device and the count. */
#define refused(g, cmd_fmt, id, text) \
    qmp_assert_error((g)->qts, "GenericError", (text), cmd_fmt, (id))

/* ------------------------------------------------------------- cases */

/* A fill is recorded; the invalidations that end it; device_del refused. */
static void test_record_and_invalidate(void)
{
    G *g = g_start(",x-strict-removal=on",
                   "-device e1000e,id=nic1,bus=rp1");
    QList *l;
    QDict *t, *ev;

    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RW);

    l = query(g, "nic1");
    g_assert_cmpuint(qlist_size(l), ==, 1);
    t = qobject_to(QDict, qlist_peek(l));
    g_assert_cmpint(qdict_get_int(t, "cpu-index"), ==, 0);
    g_assert_cmphex(qdict_get_int(t, "vaddr"), ==, VA);
    g_assert_cmphex(qdict_get_int(t, "paddr"), ==, BAR);
    g_assert_cmpuint(qdict_get_int(t, "page-size"), ==, 4096);
    g_assert_cmpint(qdict_get_int(t, "bar"), ==, 0);
    g_assert_cmphex(qdict_get_int(t, "bar-address"), ==, BAR);
    g_assert_true(qdict_get_bool(t, "present"));
    g_assert_false(qdict_get_bool(t, "global"));
    qobject_unref(l);

    refused(g, SURPRISE_REMOVE, "nic1",
            "surprise removal of 'nic1' refused: 1 live translation to "
            "its MMIO, e.g. vCPU 0 virtual address 0x400000 -> BAR 0 "
            "physical 0xfe000000");
    ev = qtest_qmp_eventwait_ref(g->qts, "LIVE_TRANSLATION_REMOVAL_REFUSED");
    t = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(t, "device"), ==, "nic1");
    g_assert_cmpstr(qdict_get_str(t, "slot"), ==, "rp1");
    g_assert_cmpstr(qdict_get_str(t, "action"), ==, "surprise removal");
    g_assert_cmpint(qdict_get_int(t, "count"), ==, 1);
    qobject_unref(ev);

    /* unmapping is not invalidating (lazy vunmap) */
    g_run(g, TCG_GUEST_UNMAP, VA, 0);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 1);
    /* a CR3 reload ends a non-global translation */
    touch_bar(g, KERNEL_RW);
    g_run(g, TCG_GUEST_CR3, 0, 0);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 0);
    /* a global one survives it, not a CR4.PGE toggle */
    touch_bar(g, KERNEL_RW | TCG_GUEST_PTE_G);
    g_run(g, TCG_GUEST_CR3, 0, 0);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 1);
    g_run(g, TCG_GUEST_PGE_TOGGLE, 0, 0);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 0);
    /* invlpg */
    touch_bar(g, KERNEL_RW);
    g_assert_cmpuint(nlive(g, NULL), ==, 1);
    g_run(g, TCG_GUEST_INVLPG, VA, 0);
    g_assert_cmpuint(nlive(g, NULL), ==, 0);

    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    g_quit(g);
}

/*
 * A device with no id, watched by watch-all, removed by QOM path while its
 * translation is live: the query names it by that path, present false.
 */
static void test_unnamed_device_by_path(void)
{
    G *g = g_start("", "-device e1000e,bus=rp1");
    g_autofree char *path = NULL;
    QList *l;
    QDict *t;

    watch_all(g);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RW);
    l = query(g, NULL);
    g_assert_cmpuint(qlist_size(l), ==, 1);
    t = qobject_to(QDict, qlist_peek(l));
    path = g_strdup(qdict_get_str(t, "device"));
    g_assert_true(g_str_has_prefix(path, "/machine/peripheral-anon/"));
    qobject_unref(l);

    /* the check is off: allowed */
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, path);
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    l = query(g, path);
    g_assert_cmpuint(qlist_size(l), ==, 1);
    t = qobject_to(QDict, qlist_peek(l));
    g_assert_cmpstr(qdict_get_str(t, "device"), ==, path);
    g_assert_false(qdict_get_bool(t, "present"));
    qobject_unref(l);
    g_quit(g);
}

/* TSC ticks per millisecond, measured over 100 ms of host time */
static uint64_t tsc_per_ms(G *g)
{
    gint64 t0, t1;
    uint32_t a, b;

    a = g_run(g, TCG_GUEST_RDTSC, 0, 0);
    t0 = g_get_monotonic_time();
    g_usleep(100 * 1000);
    b = g_run(g, TCG_GUEST_RDTSC, 0, 0);
    t1 = g_get_monotonic_time();
    return ((uint64_t)(uint32_t)(b - a) << 8) * 1000 / (t1 - t0);
}

#define ANON_NIC    "/machine/peripheral-anon/device[0]"

/*
 * Item 1's race, made deterministic: a fill that resolved the BAR of a
 * device with no id before its removal and completes after it.  The
 * removal's memory-map commit is held for 1.5 s (x-memory-commit-stall;
 * the BQL is held meanwhile); 300 ms into it the guest reads the BAR for
 * the first time, through its vCPU's old map.  The record is written for a
 * device that is gone: the query must name it by the path it had (a build
 * that took the name at the first fill got NULL, and the query's strcmp
 * crashed QEMU).
 */
static void test_fill_races_removal(void)
{
    G *g = g_start("", "-device e1000e,bus=rp1 "
                   "-device x-memory-commit-stall,id=stall");
    gint64 deadline;
    QDict *resp;
    uint64_t spin;
    QList *l;
    QDict *t;

    resp = qtest_qmp(g->qts, "{ 'execute': 'qom-get', 'arguments': "
                     "{ 'path': %s, 'property': 'type' } }", ANON_NIC);
    g_assert_cmpstr(qdict_get_try_str(resp, "return"), ==, "e1000e");
    qobject_unref(resp);
    watch_all(g);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    g_run(g, TCG_GUEST_MAP, VA, BAR | KERNEL_RW);   /* mapped, not touched */
    g_assert_cmpuint(nlive(g, NULL), ==, 0);
    spin = 300 * tsc_per_ms(g);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': '/machine/peripheral/stall', "
                             "'property': 'hold-next-commit-ms', "
                             "'value': 1500 } }");
    /* the guest spins, then reads: the removal is held by then */
    post_on(g, TCG_GUEST_MAILBOX, &g->seq, TCG_GUEST_KREAD_AFTER,
            VA + E1000E_STATUS, spin);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (qtest_readl(g->qts, MB(result)) != TCG_GUEST_SPINNING) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, ANON_NIC);
    resp = qtest_qmp(g->qts, "{ 'execute': 'qom-get', 'arguments': "
                     "{ 'path': '/machine/peripheral/stall', "
                     "'property': 'stalls' } }");
    g_assert_cmpint(qdict_get_int(resp, "return"), ==, 1);
    qobject_unref(resp);
    /* the read went nowhere once the map had changed (0 from no device) */
    g_assert_cmphex(wait_on(g, TCG_GUEST_MAILBOX, g->seq), ==, 0);
    g_assert_cmpuint(faults(g), ==, 0);
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");

    l = query(g, ANON_NIC);
    g_assert_cmpuint(qlist_size(l), ==, 1);
    t = qobject_to(QDict, qlist_peek(l));
    g_assert_cmpstr(qdict_get_str(t, "device"), ==, ANON_NIC);
    g_assert_false(qdict_get_bool(t, "present"));
    qobject_unref(l);
    /* it reached the removed device itself, no new one: no event */
    g_assert_null(qtest_qmp_event_ref(g->qts,
                                      "LIVE_TRANSLATION_STALE_ACCESS"));
    g_quit(g);
}

/* The records a query for the physical range @address, @size returns */
static unsigned nlive_range(G *g, uint64_t address, uint64_t size)
{
    QList *l = query_args(g, qdict_from_jsonf_nofail(
                              "{ 'address': %" PRIu64 ", 'size': %" PRIu64
                              " }", address, size));
    unsigned n = qlist_size(l);

    qobject_unref(l);
    return n;
}

/*
 * A range query with a live record: the pages it meets, and no range
 * that is empty or wraps (size 0 once returned every record, and a range
 * past the top wrapped to the bottom of the address space).
 */
static void test_query_range(void)
{
    G *g = g_start("", "-device e1000e,id=nic1,bus=rp1");

    watch_all(g);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RW);
    g_assert_cmpuint(nlive(g, NULL), ==, 1);
    g_assert_cmpuint(nlive_range(g, BAR, 1), ==, 1);
    g_assert_cmpuint(nlive_range(g, BAR + 0xfff, 1), ==, 1);
    g_assert_cmpuint(nlive_range(g, BAR - 0x1000, 0x1000), ==, 0);
    g_assert_cmpuint(nlive_range(g, BAR - 0x1000, 0x1001), ==, 1);
    g_assert_cmpuint(nlive_range(g, BAR + 0x1000, 0x1000), ==, 0);
    qmp_assert_error(g->qts, "GenericError", "'size' must not be 0",
                     "{ 'execute': 'x-query-live-translations', "
                     "'arguments': { 'address': %u, 'size': 0 } }", BAR);
    qmp_assert_error(g->qts, "GenericError", "wraps around",
                     "{ 'execute': 'x-query-live-translations', "
                     "'arguments': { 'address': 18446744073709547520, "
                     "'size': %u } }", BAR + 0x2000);
    g_quit(g);
}

/*
 * More translations than the table holds (LT_CORE_DEFAULT_MAX_RECORDS,
 * documented in docs/architecture.rst): one BAR page mapped at 20000
 * virtual addresses, each read once.  The table keeps 16384 records; the
 * rest are counted as untracked in their context, which stays live until
 * the context is invalidated as a whole, so the removal stays refused
 * after invlpg of every page and is allowed after a CR3 reload.  (The
 * table once grew without bound: 20000 records.)
 */
#define LT_MAX_RECORDS  16384
#define MANY            20000

static void test_bounded(void)
{
    G *g = g_start(",x-strict-removal=on", "-device e1000e,id=nic1,bus=rp1");

    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    g_assert_cmphex(g_run(g, TCG_GUEST_FILL_MANY, BAR | KERNEL_RW, MANY),
                    ==, 0);
    g_assert_cmpuint(nlive(g, "nic1"), ==, LT_MAX_RECORDS);
    refused(g, SURPRISE_REMOVE, "nic1",
            "surprise removal of 'nic1' refused: ");

    g_run(g, TCG_GUEST_INVLPG_MANY, 0, MANY);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 0);
    refused(g, SURPRISE_REMOVE, "nic1",
            "too full to record one by one");

    g_run(g, TCG_GUEST_CR3, 0, 0);
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    g_quit(g);
}

/*
 * Hot-plug cycles of a translated device (PF_LT_CYCLES of them, default
 * 3): translate, invalidate, surprise-remove, add again.  What a cycle
 * leaves allocated is measured by tests/plugfault/soak_leaks.py --qtest,
 * which runs this subtest under heaptrack with two cycle counts (the
 * owner record of each removed device was once never freed).  QEMU is
 * told to quit and waited for, so that a wrapper (heaptrack) is not
 * killed before it has written its data.
 */
static void test_hotplug_cycles(void)
{
    const char *env = getenv("PF_LT_CYCLES");
    int cycles = env ? atoi(env) : 3;
    G *g = g_start(",x-strict-removal=on", "-device e1000e,id=nic1,bus=rp1");

    g_assert_cmpint(cycles, >, 0);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    for (int i = 0; i < cycles; i++) {
        e1000e_setup(g, 1);
        touch_bar(g, KERNEL_RW);
        g_assert_cmpuint(nlive(g, "nic1"), ==, 1);
        g_run(g, TCG_GUEST_UNMAP, VA, 0);
        g_run(g, TCG_GUEST_CR3, 0, 0);
        qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
        qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
        /* into the slot the surprise removal left powered */
        qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add', "
                                 "'arguments': { 'driver': 'e1000e', "
                                 "'id': 'nic1', 'bus': 'rp1' } }");
    }
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'quit' }");
    qtest_wait_qemu(g->qts);
    g_quit(g);
}

/* A switch in the slot: an endpoint below it with a live translation. */
static void test_switch_below_slot(void)
{
    G *g = g_start(",x-strict-removal=on",
                   "-device x3130-upstream,id=up,bus=rp1 "
                   "-device xio3130-downstream,id=dn,bus=up,chassis=2,slot=0 "
                   "-device e1000e,id=nic1,bus=dn");

    bridge_setup(g, 0, RP_DEVFN, 1, 3);
    bridge_setup(g, 1, 0, 2, 3);
    bridge_setup(g, 2, 0, 3, 3);
    e1000e_setup(g, 3);
    touch_bar(g, KERNEL_RW);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 1);

    refused(g, SURPRISE_REMOVE, "up",
            "surprise removal of 'nic1' refused: 1 live translation");
    refused(g, DEVICE_DEL, "up",
            "device_del of 'nic1' refused: 1 live translation");
    g_run(g, TCG_GUEST_INVLPG, VA, 0);
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "up");
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    g_quit(g);
}

/*
 * A stale translation (its device removed, the guest never invalidated it)
 * reaches a new device at the same BAR, but only as it was made: for a
 * ring-0 read.  A write, a ring-3 read or an instruction fetch through it
 * take the guest's page tables, where the page is unmapped: page faults.
 */
static void test_stale_access_as_made(void)
{
    G *g = g_start("", "-device e1000e,id=nic1,bus=rp1");
    uint32_t f, v;
    QDict *ev, *d;

    watch_all(g);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RO);
    g_run(g, TCG_GUEST_UNMAP, VA, 0);           /* no invalidation */

    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add', "
                             "'arguments': { 'driver': 'e1000e', "
                             "'id': 'nic2', 'bus': 'rp1' } }");
    e1000e_setup(g, 1);

    f = faults(g);
    v = g_run(g, TCG_GUEST_KREAD, VA + E1000E_STATUS, 0);
    g_assert_cmphex(v, !=, 0xffffffff);         /* nic2 answered */
    g_assert_cmpuint(faults(g), ==, f);
    ev = qtest_qmp_eventwait_ref(g->qts, "LIVE_TRANSLATION_STALE_ACCESS");
    d = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(d, "old-device"), ==, "nic1");
    g_assert_cmpstr(qdict_get_str(d, "new-device"), ==, "nic2");
    g_assert_cmphex(qdict_get_int(d, "vaddr"), ==, VA + E1000E_STATUS);
    qobject_unref(ev);

    g_run(g, TCG_GUEST_KWRITE, VA + E1000E_STATUS, 0);
    g_assert_cmpuint(faults(g), ==, f + 1);     /* not writable */
    g_run(g, TCG_GUEST_UREAD, VA + E1000E_STATUS, 0);
    g_assert_cmpuint(faults(g), ==, f + 2);     /* not for ring 3 */
    g_run(g, TCG_GUEST_KEXEC, VA, 0);
    g_assert_cmpuint(faults(g), ==, f + 3);     /* not executable (NX) */
    g_quit(g);
}

/* A machine reset ends every translation: removals are allowed again. */
static void test_reset_forgets(void)
{
    G *g = g_start(",x-strict-removal=on", "-device e1000e,id=nic1,bus=rp1");

    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RW);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 1);
    qtest_writel(g->qts, MB(magic), 0);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'system_reset' }");
    wait_guest_ready(g);
    g_assert_cmpuint(nlive(g, "nic1"), ==, 0);
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    g_quit(g);
}

/* q35's ACPI CPU hot-plug registers (hw/acpi/cpu.c, modern interface) */
#define CPUHP_BASE          0x0cd8      /* ICH9_CPU_HOTPLUG_IO_BASE */
#define CPUHP_SELECTOR      0x0
#define CPUHP_FLAGS         0x4
#define CPUHP_FLAG_EJECT    0x8

/*
 * An unplugged vCPU takes its translations with it.  A translation the
 * hot-added vCPU 1 made refuses the removal until the guest ejects that
 * vCPU (device_del, then the eject Linux's ACPI processor driver writes);
 * after that nothing is live and the removal goes through.
 */
static void test_cpu_unplug_forgets(void)
{
    G *g = g_start(",x-strict-removal=on",
                   "-smp 1,maxcpus=2 -device e1000e,id=nic1,bus=rp1");
    QList *l;
    QDict *resp;

    /* what the firmware's AML does first: leave the legacy interface */
    qtest_outb(g->qts, CPUHP_BASE, 0);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add', "
                             "'arguments': { 'driver': 'qemu64-x86_64-cpu', "
                             "'id': 'cpu1', 'socket-id': 0, 'core-id': 1, "
                             "'thread-id': 0 } }");
    g_run(g, TCG_GUEST_START_AP, 1, 0);
    g->ap_seq = wait_mailbox(g, TCG_GUEST_AP_MAILBOX);

    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    g_run(g, TCG_GUEST_MAP, VA, BAR | KERNEL_RW);
    g_assert_cmphex(ap_run(g, TCG_GUEST_KREAD, VA + E1000E_STATUS, 0), !=,
                    0xffffffff);
    l = query(g, "nic1");
    g_assert_cmpuint(qlist_size(l), ==, 1);
    g_assert_cmpint(qdict_get_int(qobject_to(QDict, qlist_peek(l)),
                                  "cpu-index"), ==, 1);
    qobject_unref(l);
    refused(g, SURPRISE_REMOVE, "nic1",
            "surprise removal of 'nic1' refused: 1 live translation to "
            "its MMIO, e.g. vCPU 1 virtual address 0x400000 -> BAR 0 "
            "physical 0xfe000000");

    qtest_qmp_assert_success(g->qts, DEVICE_DEL, "cpu1");
    qtest_outl(g->qts, CPUHP_BASE + CPUHP_SELECTOR, 1);
    qtest_outb(g->qts, CPUHP_BASE + CPUHP_FLAGS, CPUHP_FLAG_EJECT);
    /*
     * The eject unrealizes the vCPU before it returns (its thread joined).
     * Its DEVICE_DELETED (sent at finalize) does not come under TCG, on an
     * untouched base build too (only its lapic's does; with -accel qtest
     * both come): count the vCPUs instead.
     */
    resp = qtest_qmp(g->qts, "{ 'execute': 'query-cpus-fast' }");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(resp, "return")), ==, 1);
    qobject_unref(resp);

    g_assert_cmpuint(nlive(g, "nic1"), ==, 0);
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    g_quit(g);
}

/* The root port's PCI Express capability. */
static unsigned exp_cap(G *g)
{
    unsigned off = cfg_r(g, 0, RP_DEVFN, 0x34) & 0xff;

    while (off) {
        uint32_t hdr = cfg_r(g, 0, RP_DEVFN, off);

        if ((hdr & 0xff) == 0x10) {
            return off;
        }
        off = (hdr >> 8) & 0xff;
    }
    g_assert_not_reached();
}

#define SLTCTL_PCC_OFF      0x0400u
#define SLTCTL_PIC_BLINK    0x0200u
#define SLTCTL_PIC_OFF      0x0300u
#define SLTCTL_PWR_OFF      0x0c00u     /* power indicator off */

/* SLTCTL, with SLTSTA's write-1-to-clear bits written as 0 */
static void sltctl_w(G *g, unsigned cap, uint16_t v)
{
    cfg_w(g, 0, RP_DEVFN, cap + 0x18, v);
}

/*
 * A guest power-off refused while a translation is live keeps the slot
 * powered; a device_del that fails for another reason afterwards must not
 * forget that (the device would lose power behind the guest's back).
 */
static void test_refused_power_off_kept(void)
{
    G *g = g_start(",x-strict-removal=on", "-device e1000e,id=nic1,bus=rp1");
    unsigned cap;
    QDict *ev;

    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RW);
    cap = exp_cap(g);

    sltctl_w(g, cap, SLTCTL_PCC_OFF | SLTCTL_PIC_OFF);  /* guest: power off */
    ev = qtest_qmp_eventwait_ref(g->qts, "LIVE_TRANSLATION_REMOVAL_REFUSED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "action"), ==,
                    "slot power-off");
    qobject_unref(ev);
    g_assert_cmphex(cfg_r(g, 1, 0, 0), ==, E1000E_ID);  /* still powered */

    g_run(g, TCG_GUEST_INVLPG, VA, 0);                  /* nothing live now */
    sltctl_w(g, cap, SLTCTL_PCC_OFF | SLTCTL_PIC_BLINK); /* guest: busy */
    refused(g, DEVICE_DEL, "nic1",
            "guest is busy (power indicator blinking)");
    /* any SLTCTL write re-evaluates the slot's power (no new power-off) */
    sltctl_w(g, cap, SLTCTL_PCC_OFF | SLTCTL_PIC_BLINK);
    g_assert_cmphex(cfg_r(g, 1, 0, 0), ==, E1000E_ID);  /* still powered */
    /* the guest's next power-off, with nothing live, is carried out */
    sltctl_w(g, cap, SLTCTL_PCC_OFF | SLTCTL_PIC_OFF);
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    g_assert_cmphex(cfg_r(g, 1, 0, 0), ==, 0xffffffff);
    g_quit(g);
}

/* The stale-access event is throttled: one per second per old device. */
static void test_stale_event_throttled(void)
{
    G *g = g_start("", "-device e1000e,id=nic1,bus=rp1 "
                   "-device x-memory-commit-stall,id=stall,"
                   "probe-addr=0xfd000000");
    unsigned events = 0;
    gint64 until;
    int i;

    watch_all(g);
    bridge_setup(g, 0, RP_DEVFN, 1, 1);
    e1000e_setup(g, 1);
    touch_bar(g, KERNEL_RO);
    g_run(g, TCG_GUEST_UNMAP, VA, 0);
    qtest_qmp_assert_success(g->qts, SURPRISE_REMOVE, "nic1");
    qtest_qmp_eventwait(g->qts, "DEVICE_DELETED");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add', "
                             "'arguments': { 'driver': 'e1000e', "
                             "'id': 'nic2', 'bus': 'rp1' } }");
    e1000e_setup(g, 1);

    /* 20 stale accesses: each after a map change, which flushes QEMU's TLB */
    for (i = 0; i < 20; i++) {
        qtest_qmp_assert_success(g->qts, "{ 'execute': 'qom-set', "
                                 "'arguments': { 'path': "
                                 "'/machine/peripheral/stall', 'property': "
                                 "'probe-mapped', 'value': %i } }", i & 1);
        g_run(g, TCG_GUEST_KREAD, VA + E1000E_STATUS, 0);
    }
    /* what the monitor delivers within the next 1.5 s */
    until = g_get_monotonic_time() + 3 * G_USEC_PER_SEC / 2;
    while (g_get_monotonic_time() < until) {
        qtest_qmp_assert_success(g->qts, "{ 'execute': 'query-status' }");
        g_usleep(50000);
    }
    while (qtest_qmp_event_ref(g->qts, "LIVE_TRANSLATION_STALE_ACCESS")) {
        events++;
    }
    g_assert_cmpuint(events, >=, 1);
    g_assert_cmpuint(events, <=, 3);
    g_quit(g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!getenv("PF_TCG_GUEST")) {
        g_test_skip("PF_TCG_GUEST (tests/plugfault/tcg-guest) is not set");
        return g_test_run();
    }
    if (!qtest_has_accel("tcg") || !qtest_has_device("e1000e")) {
        g_test_skip("needs TCG and e1000e");
        return g_test_run();
    }
    qtest_add_func("/live-translations-tcg/record-and-invalidate",
                   test_record_and_invalidate);
    qtest_add_func("/live-translations-tcg/unnamed-device-by-path",
                   test_unnamed_device_by_path);
    qtest_add_func("/live-translations-tcg/fill-races-removal",
                   test_fill_races_removal);
    qtest_add_func("/live-translations-tcg/query-range", test_query_range);
    qtest_add_func("/live-translations-tcg/bounded", test_bounded);
    qtest_add_func("/live-translations-tcg/hotplug-cycles",
                   test_hotplug_cycles);
    if (qtest_has_device("x3130-upstream")) {
        qtest_add_func("/live-translations-tcg/switch-below-slot",
                       test_switch_below_slot);
    }
    qtest_add_func("/live-translations-tcg/stale-access-as-made",
                   test_stale_access_as_made);
    qtest_add_func("/live-translations-tcg/reset-forgets", test_reset_forgets);
    qtest_add_func("/live-translations-tcg/cpu-unplug-forgets",
                   test_cpu_unplug_forgets);
    qtest_add_func("/live-translations-tcg/refused-power-off-kept",
                   test_refused_power_off_kept);
    qtest_add_func("/live-translations-tcg/stale-event-throttled",
                   test_stale_event_throttled);
    return g_test_run();
}
