/*
 * plugfault: which of our QMP events the monitor throttles, and by what
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Guest-triggerable events are throttled to one per second per key, as the
 * base throttles its own (monitor/monitor.c, monitor_qapi_event_conf):
 * scripts/patches/0032-monitor-throttle-plugfault-events.patch adds ours
 * and asks this header for their key, so that one device's or one IOMMU's
 * events never hide another's.
 */

#ifndef MONITOR_PLUGFAULT_EVENT_THROTTLE_H
#define MONITOR_PLUGFAULT_EVENT_THROTTLE_H

#include "qapi/qapi-emit-events.h"
#include "qobject/qdict.h"

/* The data member that keys the throttling of @event, or NULL. */
static inline const char *plugfault_event_throttle_member(QAPIEvent event)
{
    switch (event) {
    case QAPI_EVENT_LIVE_TRANSLATION_REMOVAL_REFUSED:
        return "device";
    case QAPI_EVENT_LIVE_TRANSLATION_STALE_ACCESS:
        return "old-device";
    case QAPI_EVENT_X_VTD_QI_ERROR:
        return "iommu";
    default:
        return NULL;
    }
}

static inline const char *plugfault_event_throttle_key(QAPIEvent event,
                                                       QDict *data)
{
    const char *member = plugfault_event_throttle_member(event);

    return member ? qdict_get_try_str(data, member) : NULL;
}

#endif
