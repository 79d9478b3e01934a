/*
 * QTest testcase for the live-translation tracker on a PowerNV vCPU
 * (plugfault, accel/tcg/live-translations.c)
 *
 * QEMU runs powernv9 with -accel tcg and no firmware.  The test sets PHB 1
 * up as skiboot would (pnv-phb4-qtest.h: MMIO BAR0, an M32 window, the
 * root port's bus numbers, an e1000e's BAR 0) and writes a few POWER
 * instructions at the reset vector (0x10): in hypervisor real mode, each
 * time the test raises a flag in RAM, load the e1000e's first register
 * once.  That load is a TLB fill of the vCPU, which the tracker records
 * against the e1000e; no POWER instruction of this guest invalidates
 * anything.  So what ends the record here can only be what the test does
 * from outside: a machine reset, which resets the vCPU and its TLB
 * (QEMU's reset path calls no tlbie the tracker could see; the records
 * once survived it and kept the removal refused).
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "pnv-phb4-qtest.h"
#include "qobject/qlist.h"
#include "qmp-assert-error.h"

#define CODE_ADDR       0x10            /* powernv's reset vector */
#define FLAG_ADDR       0x1000          /* the test's "load now" flag */

/*
 * Big-endian POWER code at CODE_ADDR (the vCPU starts in hypervisor real
 * mode, big-endian, 64-bit):
 *
 *   li     r3, FLAG_ADDR
 *   lis    r4, 0x8006          r4 = 0x8006_0040_0000_0000: the BAR's
 *   ori    r4, r4, 0x0040      CPU address with EA bit 0 set (real mode
 *   sldi   r4, r4, 32          ignores bits 0:3 and, so, HRMOR)
 * 1:lwz    r6, 0(r3)
 *   cmpwi  r6, 0
 *   beq    1b
 *   lwz    r5, 0(r4)           the fill
 *   li     r6, 0
 *   stw    r6, 0(r3)           done
 *   b      1b
 */
static const uint32_t code[] = {
    0x38601000, 0x3c808006, 0x60840040, 0x788407c6,
    0x80c30000, 0x2c060000, 0x4182fff8,
    0x80a40000, 0x38c00000, 0x90c30000, 0x4bffffe8,
};

/* The root port's bus numbers, the e1000e's BAR 0 at the M32 start */
static void setup_phb(QTestState *qts)
{
    const PhbTarget *t = &p9_phb1;
    uint32_t cmd;

    p9_phb1_map_bars(qts, true, false);
    p9_phb1_map_m32(qts);
    t_rp_config_writel(qts, t, PCI_PRIMARY_BUS,
                       (t_rp_config_readl(qts, t, PCI_PRIMARY_BUS) &
                        0xff000000) | (1 << 16) | (1 << 8));
    cmd = t_rp_config_readl(qts, t, PCI_COMMAND) & 0xffff;
    t_rp_config_writel(qts, t, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
    phb_cfg_writel(qts, 1, 0, PCI_BASE_ADDRESS_0, P9_PHB1_M32_PCI_START);
    phb_cfg_writel(qts, 1, 0, PCI_COMMAND, PCI_COMMAND_MEMORY);
}

static QTestState *start(void)
{
    QTestState *qts = qtest_init("-accel tcg -M powernv9 -bios /dev/null "
                                 "-smp 1 -nic none -S "
                                 "-device e1000e,id=nic1,bus=" TEST_BUS
                                 ",romfile=");
    uint32_t be[ARRAY_SIZE(code)];

    for (int i = 0; i < ARRAY_SIZE(code); i++) {
        be[i] = cpu_to_be32(code[i]);
    }
    qtest_memwrite(qts, CODE_ADDR, be, sizeof(be));
    qtest_writel(qts, FLAG_ADDR, 0);
    setup_phb(qts);
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    return qts;
}

/* Raise the flag; wait (10 s at most) for the vCPU to have loaded */
static void vcpu_load_bar(QTestState *qts)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    qtest_writel(qts, FLAG_ADDR, 1);    /* target (big) endian */
    while (qtest_readl(qts, FLAG_ADDR)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
}

static unsigned nlive(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'x-query-live-translations',"
                            " 'arguments': { 'device': 'nic1' } }");
    QList *list = qdict_get_qlist(resp, "return");
    unsigned n;

    g_assert_nonnull(list);
    n = qlist_size(list);
    qobject_unref(resp);
    return n;
}

#define SURPRISE_REMOVE \
    "{ 'execute': 'x-pcie-surprise-remove', 'arguments': { 'id': 'nic1' } }"

/*
 * The vCPU's load is recorded and refuses the removal (x-strict-removal is
 * "auto": on for powernv under TCG); after system_reset nothing is live.
 */
static void test_reset_forgets(void)
{
    QTestState *qts = start();

    vcpu_load_bar(qts);
    g_assert_cmpuint(nlive(qts), ==, 1);
    qmp_assert_error(qts, "GenericError", "surprise removal of 'nic1' "
                     "refused: 1 live translation to its MMIO",
                     SURPRISE_REMOVE);

    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpuint(nlive(qts), ==, 0);
    /*
     * Allowed now.  (Not waiting for DEVICE_DELETED: it is sent when the
     * device is finalized, after an RCU grace period, and a vCPU spinning
     * with no interrupt never leaves its read-side section; the base only
     * kicks vCPUs in drain_call_rcu().)
     */
    qtest_qmp_assert_success(qts, SURPRISE_REMOVE);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_accel("tcg") || !qtest_has_device("e1000e") ||
        !qtest_has_machine("powernv9")) {
        g_test_skip("needs TCG, powernv9 and e1000e");
        return g_test_run();
    }
    qtest_add_func("/live-translations-pnv-tcg/reset-forgets",
                   test_reset_forgets);
    return g_test_run();
}
