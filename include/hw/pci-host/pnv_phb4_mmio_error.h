/*
 * plugfault: what a PowerNV PHB4/PHB5 answers when MMIO reaches no device
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PCI_HOST_PNV_PHB4_MMIO_ERROR_H
#define PCI_HOST_PNV_PHB4_MMIO_ERROR_H

#include "exec/memory.h"

typedef struct PnvPHB4 PnvPHB4;

void pnv_phb4_mmio_error_init(PnvPHB4 *phb);
void pnv_phb4_mmio_error_msi_init(MemoryRegion *msi32, MemoryRegion *msi64);

#endif
