/*
 * plugfault: x-tcg-flush in binaries built without TCG
 * (accel/tcg/tcg-flush-qmp.c)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-tcg-flush.h"

void coroutine_fn qmp_x_tcg_flush(Error **errp)
{
    error_setg(errp, "x-tcg-flush needs TCG; this QEMU was built without it");
}
