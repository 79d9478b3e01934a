/*
 * plugfault: the endpoint side of ATS invalidation (Invalidate Request /
 * Invalidate Completion messages) with fault injection (x-ats-inject)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PCI_PCIE_ATS_INVAL_H
#define HW_PCI_PCIE_ATS_INVAL_H

#include "hw/pci/pci.h"
#include "qemu/timer.h"

/* Latency of an endpoint's Invalidate Completion in mode "respond". */
#define PCIE_ATS_INVAL_LATENCY_NS   2000

/*
 * The virtual-clock time @ns from now, saturated: INT64_MAX (never) when
 * that is beyond the end of the clock (so a huge time-out or delay means
 * "never", not a sum that wraps into the past).
 */
static inline int64_t pcie_ats_inval_deadline(uint64_t ns)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    return ns >= (uint64_t)(INT64_MAX - now) ? INT64_MAX : now + (int64_t)ns;
}

/*
 * Called (from the main loop, BQL held) when the endpoint @sid answers
 * with Invalidate Tag @itag.  @itag may be wrong (fault injection).
 */
typedef void PCIeATSInvalDone(void *opaque, uint16_t sid, uint8_t itag);

/*
 * Send an ATS Invalidate Request with tag @itag to @dev, the endpoint the
 * IOMMU found for requester id @sid (NULL: no device has that id).  @done
 * is called later if the endpoint answers, never if it cannot or does not.
 */
void pcie_ats_inval_send(PCIDevice *dev, uint16_t sid, uint8_t itag,
                         PCIeATSInvalDone *done, void *opaque);

/* Forget every answer still in flight to @opaque (its requests timed out). */
void pcie_ats_inval_cancel(void *opaque);

/*
 * @dev is being unrealized (hook in hw/pci/pci.c): its answers in flight
 * and its x-ats-inject state go with it.
 */
void pcie_ats_inval_unrealize(PCIDevice *dev);

#endif
