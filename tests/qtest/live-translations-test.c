/*
 * QTest testcase for the live-translation check's behaviour without TCG
 * (plugfault, accel/tcg/live-translations.c)
 *
 * The tracker reads the guest's TLB fills, which only TCG has.  With any
 * other accelerator (here -accel qtest, standing in for KVM) the QMP query
 * refuses with an explanation, a slot whose check was asked for explicitly
 * (x-strict-removal=on) refuses removals saying why, and a slot left at
 * the default removes as before.  The guest-side behaviour under TCG is
 * covered by the scenarios pnv-strict-removal, pseries-strict-removal and
 * pnv-stale-access, and the bookkeeping by tests/unit/test-live-translations.c.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"

#define MACHINE \
    "-machine q35 -nodefaults " \
    "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off " \
    "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2%s " \
    "-device e1000e,id=nic1,bus=rp1"

static char *error_desc(QDict *resp)
{
    QDict *err;
    char *desc;

    g_assert(resp);
    g_assert(qdict_haskey(resp, "error"));
    err = qdict_get_qdict(resp, "error");
    desc = g_strdup(qdict_get_str(err, "desc"));
    qobject_unref(resp);
    return desc;
}

static void test_query_needs_tcg(void)
{
    QTestState *qts = qtest_initf(MACHINE, "");
    g_autofree char *desc = error_desc(
        qtest_qmp(qts, "{ 'execute': 'x-query-live-translations' }"));

    g_assert_nonnull(strstr(desc, "only under TCG"));
    g_free(desc);
    desc = error_desc(qtest_qmp(qts, "{ 'execute': "
                                "'x-live-translations-watch-all', "
                                "'arguments': { 'enable': true } }"));
    g_assert_nonnull(strstr(desc, "only under TCG"));
    qtest_quit(qts);
}

static void test_strict_on_refuses_without_tcg(void)
{
    QTestState *qts = qtest_initf(MACHINE, ",x-strict-removal=on");
    g_autofree char *del = error_desc(
        qtest_qmp(qts, "{ 'execute': 'device_del', "
                  "'arguments': { 'id': 'nic1' } }"));
    g_autofree char *pull = error_desc(
        qtest_qmp(qts, "{ 'execute': 'x-pcie-surprise-remove', "
                  "'arguments': { 'id': 'nic1' } }"));

    g_assert_nonnull(strstr(del, "device_del refused"));
    g_assert_nonnull(strstr(del, "needs TCG"));
    g_assert_nonnull(strstr(pull, "surprise removal refused"));
    g_assert_nonnull(strstr(pull, "needs TCG"));
    qtest_quit(qts);
}

static void test_default_removes(void)
{
    QTestState *qts = qtest_initf(MACHINE, "");
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'x-pcie-surprise-remove', "
                            "'arguments': { 'id': 'nic1' } }");

    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/live-translations/query-needs-tcg", test_query_needs_tcg);
    qtest_add_func("/live-translations/strict-on-refuses-without-tcg",
                   test_strict_on_refuses_without_tcg);
    qtest_add_func("/live-translations/default-removes", test_default_removes);
    return g_test_run();
}
