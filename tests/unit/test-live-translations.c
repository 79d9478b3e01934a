/*
 * plugfault: unit tests of the live-translation bookkeeping
 * (accel/tcg/live-translations-core.c)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "accel/tcg/live-translations-core.h"

#define KVA     0xc00a000000010000ull   /* a radix kernel vmalloc address */
#define BAR0    0x600c000000000ull

static LTRecord rec(int cpu, uint64_t va, uint64_t size, uint64_t pa,
                    uint64_t owner)
{
    return (LTRecord) {
        .cpu = cpu, .vaddr = va, .page_size = size, .paddr = pa,
        .owner = owner, .bar = 0, .bar_addr = BAR0, .when_ns = 1000 + cpu,
    };
}

static void test_fill_dedup(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord r = rec(0, KVA, 64 * KiB, BAR0, 1);

    g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_NEW);
    r.when_ns = 5000;
    g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_REFRESHED);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 1);
    g_assert_cmpint(lt_core_lookup(c, 0, KVA + 0x1234)->when_ns, ==, 1000);
    g_assert_null(lt_core_lookup(c, 0, KVA + 64 * KiB));
    g_assert_null(lt_core_lookup(c, 1, KVA));

    r.paddr = BAR0 + 64 * KiB;                  /* re-mapped elsewhere */
    g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_NEW);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 1);
    g_assert_cmphex(lt_core_lookup(c, 0, KVA)->paddr, ==, BAR0 + 64 * KiB);

    r.pid = 7;                                  /* another context */
    g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_NEW);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 2);
    lt_core_free(c);
}

/* Radix tlbie/tlbiel by EA: page size of the invalidation, PID, LPID. */
static void test_inval_by_va(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord a = rec(0, KVA, 64 * KiB, BAR0, 1);
    LTRecord b = rec(0, KVA + 64 * KiB, 64 * KiB, BAR0 + 64 * KiB, 1);
    LTInval inv = { .cpu = -1, .by_va = true, .va = KVA + 4 * KiB,
                    .va_size = 4 * KiB, .by_pid = true, .pid = 0,
                    .by_lpid = true, .lpid = 0 };

    lt_core_record(c, &a);
    lt_core_record(c, &b);

    inv.pid = 3;                            /* wrong PID: nothing */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 0);
    inv.pid = 0;
    inv.lpid = 1;                           /* wrong LPID: nothing */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 0);
    inv.lpid = 0;
    inv.va = KVA + 128 * KiB;               /* another page: nothing */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 0);
    inv.va = KVA + 4 * KiB;                 /* a 4K piece of the 64K page */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 1);
    g_assert_null(lt_core_lookup(c, 0, KVA));
    g_assert_nonnull(lt_core_lookup(c, 0, KVA + 64 * KiB));

    /* a 2M invalidation covers both 64K pages of the range */
    lt_core_record(c, &a);
    inv.va = KVA & ~(2 * MiB - 1);
    inv.va_size = 2 * MiB;
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 2);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

/* tlbiel is local, tlbie broadcast. */
static void test_local_vs_broadcast(void)
{
    LTCore *c = lt_core_new(0);
    LTInval local = { .cpu = 1, .by_va = true, .va = KVA, .va_size = 64 * KiB };
    LTInval bcast = { .cpu = -1, .by_va = true, .va = KVA, .va_size = 64 * KiB };

    for (int cpu = 0; cpu < 4; cpu++) {
        LTRecord r = rec(cpu, KVA, 64 * KiB, BAR0, 1);
        lt_core_record(c, &r);
    }
    g_assert_cmpuint(lt_core_invalidate(c, &local), ==, 1);
    g_assert_null(lt_core_lookup(c, 1, KVA));
    g_assert_nonnull(lt_core_lookup(c, 2, KVA));
    g_assert_cmpuint(lt_core_invalidate(c, &bcast), ==, 3);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

/* IS=1 (PID), IS=2 (LPID), IS=3 (all). */
static void test_inval_by_pid_lpid_all(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord k = rec(0, KVA, 64 * KiB, BAR0, 1);             /* pid 0 */
    LTRecord u = rec(0, 0x7fff00000000ull, 64 * KiB, BAR0, 1);
    LTRecord g = rec(0, KVA, 64 * KiB, BAR0, 2);
    LTInval by_pid = { .cpu = -1, .by_pid = true, .pid = 0,
                       .by_lpid = true, .lpid = 0 };
    LTInval by_lpid = { .cpu = -1, .by_lpid = true, .lpid = 5 };
    LTInval all = { .cpu = -1 };

    u.pid = 42;
    g.lpid = 5;
    lt_core_record(c, &k);
    lt_core_record(c, &u);
    lt_core_record(c, &g);

    /* Linux's radix__flush_tlb_kernel_range: tlbie IS=1 PID 0 RIC=2 */
    g_assert_cmpuint(lt_core_invalidate(c, &by_pid), ==, 1);
    g_assert_nonnull(lt_core_lookup(c, 0, 0x7fff00000000ull));
    g_assert_cmpuint(lt_core_invalidate(c, &by_lpid), ==, 1);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 1);
    g_assert_cmpuint(lt_core_invalidate(c, &all), ==, 1);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

/* Hash tlbie names the page within a 256MB segment. */
static void test_inval_hash_segment_offset(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord r = rec(0, 0xd000080080123000ull, 4 * KiB, BAR0, 1);
    LTInval inv = { .cpu = -1, .by_va = true, .va_size = 4 * KiB,
                    .va_mask = 0x0ffff000ull };

    lt_core_record(c, &r);
    inv.va = 0x1234560000124000ull;         /* other page in the segment */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 0);
    inv.va = 0x55aa000000123000ull;         /* same offset: VSID unknown */
    g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 1);
    lt_core_free(c);
}

/* x86: CR3 writes keep global pages and filter by PCID; invlpg is local. */
static void test_x86_forms(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord glob = rec(0, 0xffffc90000400000ull, 4 * KiB, BAR0, 1);
    LTRecord nong = rec(0, 0xffffc90000401000ull, 4 * KiB, BAR0 + 4 * KiB, 1);
    LTRecord pcid = rec(0, 0xffffc90000402000ull, 4 * KiB, BAR0 + 8 * KiB, 1);
    LTInval cr3 = { .cpu = 0, .keep_global = true, .by_pid = true, .pid = 0 };
    LTInval pge = { .cpu = 0 };
    LTInval invlpg = { .cpu = 0, .by_va = true, .va = 0xffffc90000402abcull,
                       .va_size = 1 };

    glob.global = true;
    pcid.pid = 9;
    lt_core_record(c, &glob);
    lt_core_record(c, &nong);
    lt_core_record(c, &pcid);
    g_assert_cmpuint(lt_core_invalidate(c, &cr3), ==, 1);      /* nong */
    g_assert_cmpuint(lt_core_invalidate(c, &invlpg), ==, 1);   /* pcid */
    g_assert_cmpuint(lt_core_invalidate(c, &cr3), ==, 0);
    g_assert_cmpuint(lt_core_invalidate(c, &pge), ==, 1);      /* glob */
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

static void count_cb(const LTRecord *r, void *opaque)
{
    (*(unsigned *)opaque)++;
}

/* Overlapping BARs: a removed and a new device at the same addresses. */
static void test_overlapping_ranges(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord old = rec(0, KVA, 64 * KiB, BAR0, 1);
    LTRecord new = rec(1, KVA + 1 * MiB, 64 * KiB, BAR0 + 32 * KiB, 2);
    unsigned n = 0;

    new.page_size = 4 * KiB;
    lt_core_record(c, &old);
    lt_core_record(c, &new);
    g_assert_cmpuint(lt_core_count(c, 1), ==, 1);
    g_assert_cmpuint(lt_core_count(c, 2), ==, 1);

    /* both meet the physical range of the new BAR */
    lt_core_foreach(c, 0, BAR0 + 32 * KiB, 4 * KiB, count_cb, &n);
    g_assert_cmpuint(n, ==, 2);
    n = 0;
    lt_core_foreach(c, 1, BAR0 + 32 * KiB, 4 * KiB, count_cb, &n);
    g_assert_cmpuint(n, ==, 1);
    n = 0;
    lt_core_foreach(c, 0, BAR0 + 64 * KiB, 4 * KiB, count_cb, &n);
    g_assert_cmpuint(n, ==, 0);
    lt_core_free(c);
}

/* Many vCPUs, many pages: bookkeeping stays exact. */
static void test_many_vcpus(void)
{
    LTCore *c = lt_core_new(0);
    const int ncpu = 256, npages = 16;

    for (int cpu = 0; cpu < ncpu; cpu++) {
        for (int p = 0; p < npages; p++) {
            LTRecord r = rec(cpu, KVA + p * 64 * KiB, 64 * KiB,
                             BAR0 + p * 64 * KiB, 1 + (p & 1));
            g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_NEW);
        }
    }
    g_assert_cmpuint(lt_core_count(c, 0), ==, ncpu * npages);
    g_assert_cmpuint(lt_core_count(c, 2), ==, ncpu * npages / 2);
    /* tlbiel on every even vCPU for page 3 */
    for (int cpu = 0; cpu < ncpu; cpu += 2) {
        LTInval inv = { .cpu = cpu, .by_va = true, .va = KVA + 3 * 64 * KiB,
                        .va_size = 64 * KiB };
        g_assert_cmpuint(lt_core_invalidate(c, &inv), ==, 1);
    }
    g_assert_cmpuint(lt_core_count(c, 0), ==, ncpu * npages - ncpu / 2);
    g_assert_null(lt_core_lookup(c, 10, KVA + 3 * 64 * KiB));
    g_assert_nonnull(lt_core_lookup(c, 11, KVA + 3 * 64 * KiB));
    {
        LTInval all = { .cpu = -1 };
        g_assert_cmpuint(lt_core_invalidate(c, &all), ==,
                         ncpu * npages - ncpu / 2);
    }
    lt_core_free(c);
}


/* The table is bounded: beyond it, translations are counted per context. */
static void test_bounded(void)
{
    LTCore *c = lt_core_new(4);
    LTInval one = { .cpu = 0, .by_va = true, .va = KVA + 5 * 64 * KiB,
                    .va_size = 64 * KiB };
    LTInval other_pid = { .cpu = 0, .by_pid = true, .pid = 1 };
    LTInval kernel_pid = { .cpu = -1, .by_pid = true, .pid = 0 };

    for (int p = 0; p < 6; p++) {
        LTRecord r = rec(0, KVA + p * 64 * KiB, 64 * KiB, BAR0, 1);

        g_assert_cmpint(lt_core_record(c, &r), ==,
                        p < 4 ? LT_RECORD_NEW : LT_RECORD_UNTRACKED);
    }
    g_assert_cmpuint(lt_core_count(c, 1), ==, 4);
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 2);
    /* a refill of a recorded page still refreshes at the bound */
    {
        LTRecord r = rec(0, KVA, 64 * KiB, BAR0, 1);
        g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_REFRESHED);
    }
    /* the address of an untracked translation is not known: a by-address
     * invalidation cannot end it, nor can one of another context */
    g_assert_cmpuint(lt_core_invalidate(c, &one), ==, 0);
    g_assert_cmpuint(lt_core_invalidate(c, &other_pid), ==, 0);
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 2);
    g_assert_true(lt_core_owner_busy(c, 1));
    /* the whole context ends them (and the recorded ones) */
    g_assert_cmpuint(lt_core_invalidate(c, &kernel_pid), ==, 4);
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 0);
    g_assert_false(lt_core_owner_busy(c, 1));
    lt_core_free(c);
}

/* Many contexts beyond the bound merge; only a full flush ends those. */
static void test_bounded_many_contexts(void)
{
    LTCore *c = lt_core_new(1);
    LTInval all_of_cpu0 = { .cpu = 0 };
    LTInval all = { .cpu = -1 };
    LTRecord first = rec(1, KVA, 4 * KiB, BAR0, 1);

    lt_core_record(c, &first);
    for (int pid = 0; pid < LT_CORE_MAX_UNTRACKED_CTX + 3; pid++) {
        LTRecord r = rec(0, 0x10000, 4 * KiB, BAR0, 1);

        r.pid = pid;
        g_assert_cmpint(lt_core_record(c, &r), ==, LT_RECORD_UNTRACKED);
    }
    g_assert_cmpuint(lt_core_untracked(c, 1), ==,
                     LT_CORE_MAX_UNTRACKED_CTX + 3);
    lt_core_invalidate(c, &all_of_cpu0);        /* the 8 known contexts */
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 3);
    lt_core_invalidate(c, &all);
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 0);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

/* A removed device's records are stale; they keep its owner alive. */
static void test_owner_gone_stale(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord a = rec(0, KVA, 64 * KiB, BAR0, 7);
    LTRecord b = rec(1, KVA, 64 * KiB, BAR0, 7);
    LTRecord late = rec(1, KVA + 64 * KiB, 64 * KiB, BAR0 + 64 * KiB, 7);
    LTRecord other = rec(1, KVA + 1 * MiB, 64 * KiB, BAR0, 8);
    LTInval inv0 = { .cpu = 0 }, inv1 = { .cpu = 1 };

    lt_core_record(c, &a);
    lt_core_record(c, &b);
    lt_core_record(c, &other);
    g_assert_cmpuint(lt_core_stale(c, 0), ==, 0);
    lt_core_owner_gone(c, 7);
    g_assert_cmpuint(lt_core_stale(c, 0), ==, 1);
    g_assert_cmpuint(lt_core_stale(c, 1), ==, 1);
    /* a fill that raced the removal lands on the gone owner: stale too */
    lt_core_record(c, &late);
    g_assert_cmpuint(lt_core_stale(c, 1), ==, 2);
    g_assert_cmpuint(lt_core_invalidate(c, &inv0), ==, 1);
    g_assert_cmpuint(lt_core_stale(c, 0), ==, 0);
    g_assert_true(lt_core_owner_busy(c, 7));
    g_assert_cmpuint(lt_core_invalidate(c, &inv1), ==, 3);
    g_assert_cmpuint(lt_core_stale(c, 1), ==, 0);
    g_assert_false(lt_core_owner_busy(c, 7));     /* freed with its records */
    g_assert_false(lt_core_owner_busy(c, 8));
    lt_core_free(c);
}

/* Reset and CPU unplug end translations without guest invalidations. */
static void test_forget(void)
{
    LTCore *c = lt_core_new(2);
    for (int cpu = 0; cpu < 3; cpu++) {
        LTRecord r = rec(cpu, KVA, 64 * KiB, BAR0, 1);
        lt_core_record(c, &r);                  /* cpu 2: untracked */
    }
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 1);
    g_assert_cmpuint(lt_core_forget_cpu(c, 2), ==, 0);
    g_assert_cmpuint(lt_core_untracked(c, 1), ==, 0);
    g_assert_cmpuint(lt_core_forget_cpu(c, 1), ==, 1);
    g_assert_nonnull(lt_core_lookup(c, 0, KVA));
    g_assert_cmpuint(lt_core_forget_all(c), ==, 1);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    g_assert_false(lt_core_owner_busy(c, 1));
    lt_core_free(c);
}

/* The stale-access path looks up the access's own context. */
static void test_lookup_ctx(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord r = rec(0, 0x7fff00000000ull, 2 * MiB, BAR0, 1);

    r.pid = 42;
    lt_core_record(c, &r);
    g_assert_nonnull(lt_core_lookup_ctx(c, 0, 0x7fff00123456ull, 42, 0));
    g_assert_null(lt_core_lookup_ctx(c, 0, 0x7fff00123456ull, 43, 0));
    g_assert_null(lt_core_lookup_ctx(c, 0, 0x7fff00123456ull, 42, 1));
    g_assert_nonnull(lt_core_lookup(c, 0, 0x7fff00123456ull));
    lt_core_free(c);
}

/* By-address invalidations through the page index and through a scan. */
static void test_page_index(void)
{
    LTCore *c = lt_core_new(0);
    LTRecord big = rec(0, KVA & ~(1 * GiB - 1), 1 * GiB, BAR0, 1);
    LTInval in_big = { .cpu = 0, .by_va = true, .va = KVA + 123 * 4 * KiB,
                       .va_size = 4 * KiB };
    LTInval wide = { .cpu = -1, .by_va = true, .va = 0x100000,
                     .va_size = 1 * GiB };
    LTInval top = { .cpu = -1, .by_va = true, .va = UINT64_MAX & ~0xfffull,
                    .va_size = 2 * MiB };
    LTRecord high = rec(1, UINT64_MAX & ~0xfffull, 4 * KiB, BAR0, 1);

    lt_core_record(c, &big);
    g_assert_cmpuint(lt_core_invalidate(c, &in_big), ==, 1);
    for (int p = 0; p < 1000; p++) {            /* 1000 4K pages, two vCPUs */
        LTRecord r = rec(p & 1, 0x100000 + p * 4 * KiB, 4 * KiB, BAR0, 1);
        lt_core_record(c, &r);
    }
    lt_core_record(c, &high);
    g_assert_cmpuint(lt_core_invalidate(c, &wide), ==, 1000);
    /* a range ending at the top of the address space does not wrap */
    g_assert_cmpuint(lt_core_invalidate(c, &top), ==, 1);
    g_assert_cmpuint(lt_core_count(c, 0), ==, 0);
    lt_core_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/live-translations/fill-dedup", test_fill_dedup);
    g_test_add_func("/live-translations/inval/by-va", test_inval_by_va);
    g_test_add_func("/live-translations/inval/local-vs-broadcast",
                    test_local_vs_broadcast);
    g_test_add_func("/live-translations/inval/pid-lpid-all",
                    test_inval_by_pid_lpid_all);
    g_test_add_func("/live-translations/inval/hash-segment-offset",
                    test_inval_hash_segment_offset);
    g_test_add_func("/live-translations/inval/x86-forms", test_x86_forms);
    g_test_add_func("/live-translations/overlapping-ranges",
                    test_overlapping_ranges);
    g_test_add_func("/live-translations/many-vcpus", test_many_vcpus);
    g_test_add_func("/live-translations/bounded", test_bounded);
    g_test_add_func("/live-translations/bounded-many-contexts",
                    test_bounded_many_contexts);
    g_test_add_func("/live-translations/owner-gone-stale",
                    test_owner_gone_stale);
    g_test_add_func("/live-translations/forget", test_forget);
    g_test_add_func("/live-translations/lookup-ctx", test_lookup_ctx);
    g_test_add_func("/live-translations/page-index", test_page_index);
    return g_test_run();
}
