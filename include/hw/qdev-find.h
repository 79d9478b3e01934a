/*
 * plugfault: find the device a QMP command names
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QDEV_FIND_H
#define HW_QDEV_FIND_H

#include "hw/qdev-core.h"

/*
 * The device @id names, as device_del finds it (qdev-monitor's
 * find_device_state): a qdev id, or a QOM path (absolute, or relative to
 * /machine/peripheral).  Otherwise NULL and an error: DeviceNotFound
 * "Device '<id>' not found", or GenericError if @id names an object that
 * is not a device.
 */
DeviceState *qdev_find_by_id_or_path(const char *id, Error **errp);

#endif
