/*
 * plugfault: find the device a QMP command names
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qdev-monitor.c's find_device_state() is static; this is the same lookup
 * with the same error classes, for our QMP commands (x-pcie-*,
 * x-ats-inject, x-query-live-translations).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/qdev-core.h"
#include "hw/qdev-find.h"

DeviceState *qdev_find_by_id_or_path(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_at(machine_get_container("peripheral"),
                                         id);
    DeviceState *dev;

    if (!obj) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", id);
        return NULL;
    }
    dev = (DeviceState *)object_dynamic_cast(obj, TYPE_DEVICE);
    if (!dev) {
        error_setg(errp, "'%s' is not a device", id);
        return NULL;
    }
    return dev;
}
