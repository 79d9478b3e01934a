/*
 * plugfault: the PowerNV PHB EEH commands in binaries without the PowerNV
 * PHB4/PHB5 model (hw/pci-host/pnv_phb4_eeh.c)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-pnv-eeh.h"

#define NO_PNV_PHB "this QEMU has no PowerNV PHB4/PHB5 (qemu-system-ppc64 has)"

void qmp_x_pnv_eeh_inject(const char *id, PnvEehErrorKind kind,
                          bool has_persistent, bool persistent, Error **errp)
{
    error_setg(errp, NO_PNV_PHB);
}

void qmp_x_pnv_eeh_freeze(const char *id, bool has_mmio, bool mmio,
                          bool has_dma, bool dma, Error **errp)
{
    error_setg(errp, NO_PNV_PHB);
}

/* No PowerNV PHB, so no PE: an empty list, as on a machine without one */
PnvEehPeInfoList *qmp_x_query_pnv_eeh(const char *id, Error **errp)
{
    if (id) {
        error_setg(errp, "'%s' is not below a PowerNV PHB4/PHB5: "
                   NO_PNV_PHB, id);
    }
    return NULL;
}
