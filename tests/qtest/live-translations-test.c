/*
 * QTest testcase for the live-translation check without TCG
 * (plugfault, hw/pci/live-translations-check.c)
 *
 * The tracker reads the guest's TLB fills, which only TCG has.  With any
 * other accelerator (here -accel qtest, standing in for KVM) nothing is
 * live: the QMP query answers an empty list (a query answers in every
 * configuration), watch-all refuses with an explanation, a slot whose check
 * was asked for explicitly (x-strict-removal=on) refuses removals saying
 * why, and a slot left at its default removes as before, on q35 (default
 * off) and on powernv (default on: PowerVM's behaviour, which needs TCG).
 * The behaviour under TCG is live-translations-tcg-test's, and the guest
 * side the scenarios pnv-strict-removal, pseries-strict-removal,
 * q35-strict-removal and pnv-stale-access.
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
#include "qapi/error.h"

#define Q35 \
    "-machine q35 -nodefaults " \
    "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off " \
    "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2%s " \
    "-device e1000e,id=nic1,bus=rp1"

/* the root port of PHB 3 on chip 0 (made by the machine) has bus pcie.3 */
#define PNV \
    "-machine powernv9 -bios /dev/null -nic none%s " \
    "-device e1000e,id=nic1,bus=pcie.3"

static bool is_pnv(void)
{
    return !strcmp(qtest_get_arch(), "ppc64");
}

static const char *machine_fmt(void)
{
    return is_pnv() ? PNV : Q35;
}

/* x-strict-removal=on on the machine's slot, spelled for machine_fmt() */
static const char *strict_on(void)
{
    return is_pnv() ? " -global pnv-phb-root-port.x-strict-removal=on"
                    : ",x-strict-removal=on";
}

/*
 * x-query-live-translations (@device: NULL for all) succeeds: its list.
 * (qtest_qmp_assert_success_ref() hands back dictionaries only.)
 */
static QList *query(QTestState *qts, const char *device)
{
    QDict *resp = device ?
        qtest_qmp(qts, "{ 'execute': 'x-query-live-translations', "
                  "'arguments': { 'device': %s } }", device) :
        qtest_qmp(qts, "{ 'execute': 'x-query-live-translations' }");
    QList *list = qdict_get_qlist(resp, "return");

    if (!list) {
        g_error("x-query-live-translations: %s",
                qobject_to_json(QOBJECT(resp))->str);
    }
    qobject_ref(list);
    qobject_unref(resp);
    return list;
}

static void test_query_answers_without_tcg(void)
{
    QTestState *qts = qtest_initf(machine_fmt(), "");
    QList *list;

    list = query(qts, NULL);
    g_assert_true(qlist_empty(list));
    qobject_unref(list);
    list = query(qts, "nic1");
    g_assert_true(qlist_empty(list));
    qobject_unref(list);
    qmp_assert_error(qts, "GenericError", "tracked only under TCG",
                     "{ 'execute': 'x-live-translations-watch-all', "
                     "'arguments': { 'enable': true } }");
    qtest_quit(qts);
}

/* x-query-live-translations with bad arguments: the error each gets */
typedef struct BadQuery {
    const char *name;
    const char *args;
    const char *cls;
    const char *text;
} BadQuery;

static const BadQuery bad_queries[] = {
    { "no-such-device", "{ 'device': 'nonesuch' }", "DeviceNotFound",
      "Device 'nonesuch' not found" },
    { "not-a-device", "{ 'device': '/machine/unattached' }", "GenericError",
      "'/machine/unattached' is not a device" },
    { "size-without-address", "{ 'size': 4096 }", "GenericError",
      "'size' needs 'address'" },
    { "size-0", "{ 'address': 4096, 'size': 0 }", "GenericError",
      "'size' must not be 0" },
    { "wrap", "{ 'address': 18446744073709547520, 'size': 8192 }",
      "GenericError", "wraps around" },
};

static void test_query_bad_input(const void *data)
{
    const BadQuery *b = data;
    QTestState *qts = qtest_initf(machine_fmt(), "");
    QObject *args = qobject_from_json(b->args, &error_abort);

    qmp_assert_error(qts, b->cls, b->text, "{ 'execute': "
                     "'x-query-live-translations', 'arguments': %p }", args);
    qtest_quit(qts);
}

static void test_strict_on_refuses_without_tcg(void)
{
    QTestState *qts = qtest_initf(machine_fmt(), strict_on());

    qmp_assert_error(qts, "GenericError", "surprise removal refused: the "
                     "slot has x-strict-removal=on, and the live-translation "
                     "check needs TCG", "{ 'execute': 'x-pcie-surprise-remove', "
                     "'arguments': { 'id': 'nic1' } }");
    if (!is_pnv()) {
        qmp_assert_error(qts, "GenericError", "device_del refused: the slot "
                         "has x-strict-removal=on", "{ 'execute': "
                         "'device_del', 'arguments': { 'id': 'nic1' } }");
    }
    qtest_quit(qts);
}

/* q35's default is off; powernv's is on, which without TCG is off too. */
static void test_default_removes(void)
{
    QTestState *qts = qtest_initf(machine_fmt(), "");

    qtest_qmp_assert_success(qts, "{ 'execute': 'x-pcie-surprise-remove', "
                             "'arguments': { 'id': 'nic1' } }");
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    qtest_quit(qts);
}

/*
 * The PHB root port keeps the base's properties next to ours (a second
 * device_class_set_props() once replaced the list: 'version' vanished
 * from the root port's block of "info qtree"; the PHB has a 'version' of
 * its own, so the block is cut out first).
 */
static void test_pnv_root_port_properties(void)
{
    QTestState *qts = qtest_initf(PNV, "");
    g_autofree char *tree = qtest_hmp(qts, "info qtree");
    char *rp = strstr(tree, "dev: pnv-phb-root-port");
    char *end;

    g_assert_nonnull(rp);
    end = strstr(rp + 1, "dev: ");
    if (end) {
        *end = '\0';
    }
    g_assert_nonnull(strstr(rp, "version = 4 (0x4)"));
    g_assert_nonnull(strstr(rp, "surprise-pluggable = false"));
    g_assert_nonnull(strstr(rp, "x-strict-removal = \"auto\""));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("e1000e") ||
        !qtest_has_device(is_pnv() ? "pnv-phb-root-port" : "pcie-root-port")) {
        g_test_skip("e1000e or the machine's root port is not built in");
        return g_test_run();
    }
    qtest_add_func("/live-translations/query-answers-without-tcg",
                   test_query_answers_without_tcg);
    for (int i = 0; i < ARRAY_SIZE(bad_queries); i++) {
        g_autofree char *path = g_strdup_printf(
            "/live-translations/query-bad-input/%s", bad_queries[i].name);

        qtest_add_data_func(path, &bad_queries[i], test_query_bad_input);
    }
    qtest_add_func("/live-translations/strict-on-refuses-without-tcg",
                   test_strict_on_refuses_without_tcg);
    qtest_add_func("/live-translations/default-removes", test_default_removes);
    if (is_pnv()) {
        qtest_add_func("/live-translations/pnv-root-port-properties",
                       test_pnv_root_port_properties);
    }
    return g_test_run();
}
