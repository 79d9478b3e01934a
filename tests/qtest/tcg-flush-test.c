/*
 * QTest testcase for x-tcg-flush (plugfault, accel/tcg/tcg-flush-qmp.c)
 *
 * Under TCG the command flushes the translation cache before it returns:
 * HMP "info jit" counts one flush more right after it, whatever the guest
 * (SeaBIOS here) is doing.  Under another accelerator, or in a binary
 * built without TCG (the notcg run of this test), it fails and says why.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qmp-assert-error.h"

/* "TB flush count      N" of HMP info jit */
static unsigned flush_count(QTestState *qts)
{
    g_autofree char *jit = qtest_hmp(qts, "info jit");
    const char *line = strstr(jit, "TB flush count");
    unsigned n;

    g_assert_nonnull(line);
    g_assert_cmpint(sscanf(line, "TB flush count %u", &n), ==, 1);
    return n;
}

static void test_flush(void)
{
    QTestState *qts = qtest_init("-accel tcg -M q35 -nodefaults");
    unsigned before, i;

    before = flush_count(qts);
    for (i = 1; i <= 3; i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': 'x-tcg-flush' }");
        /* done when the command returned, not some time later */
        g_assert_cmpuint(flush_count(qts), ==, before + i);
    }
    /* a stopped machine's vCPU still runs the flush */
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'x-tcg-flush' }");
    g_assert_cmpuint(flush_count(qts), ==, before + 4);
    qtest_quit(qts);
}

static void test_not_tcg(void)
{
    QTestState *qts = qtest_init("-M q35 -nodefaults");   /* -accel qtest */

    qmp_assert_error(qts, "GenericError", "needs TCG",
                     "{ 'execute': 'x-tcg-flush' }");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (qtest_has_accel("tcg")) {
        qtest_add_func("/tcg-flush/flush", test_flush);
    }
    qtest_add_func("/tcg-flush/not-tcg", test_not_tcg);
    return g_test_run();
}
