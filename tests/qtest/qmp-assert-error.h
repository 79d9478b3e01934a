/*
 * plugfault qtests: a QMP command fails with a given error class and text
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtest_qmp_assert_failure_ref() asserts that there is an error; the tests
 * of our commands also pin down what it says, since the text is the
 * interface a user reads (which vCPU, which address, which BAR).
 */

#ifndef TESTS_QTEST_QMP_ASSERT_ERROR_H
#define TESTS_QTEST_QMP_ASSERT_ERROR_H

#include "libqtest.h"
#include "qobject/qdict.h"

/*
 * Send @fmt (as qtest_qmp()); assert that it fails with error class @cls
 * ("GenericError", "DeviceNotFound", ...) and a description containing
 * @text.
 */
static inline void G_GNUC_PRINTF(4, 5)
qmp_assert_error(QTestState *qts, const char *cls, const char *text,
                 const char *fmt, ...)
{
    va_list ap;
    QDict *err;

    va_start(ap, fmt);
    err = qtest_vqmp_assert_failure_ref(qts, fmt, ap);     /* the "error" */
    va_end(ap);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, cls);
    if (!strstr(qdict_get_str(err, "desc"), text)) {
        g_error("error '%s' does not say '%s'", qdict_get_str(err, "desc"),
                text);
    }
    qobject_unref(err);
}

#endif
