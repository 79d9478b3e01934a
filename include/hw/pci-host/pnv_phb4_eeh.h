/*
 * plugfault: PE freeze (EEH) in the PowerNV PHB4/PHB5
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PCI_HOST_PNV_PHB4_EEH_H
#define PCI_HOST_PNV_PHB4_EEH_H

#include "exec/memory.h"

typedef struct PnvPHB4 PnvPHB4;
typedef struct PnvPhb4Eeh PnvPhb4Eeh;

/* Hooks called from the base's hw/pci-host/pnv_phb4.c */
void pnv_phb4_eeh_init(PnvPHB4 *phb);
/* IODA PESTA/PESTB/PEEV accesses; false: not ours, the base handles it */
bool pnv_phb4_eeh_ioda_read(PnvPHB4 *phb, unsigned table, unsigned idx,
                            uint64_t *val);
bool pnv_phb4_eeh_ioda_write(PnvPHB4 *phb, unsigned table, unsigned idx,
                             uint64_t val);
/* The MMIO decode changed (MBT or MDT entry, M32 start, M64 upper bits) */
void pnv_phb4_eeh_mmio_decode_changed(PnvPHB4 *phb);
/* PHB register accesses (error injection); true: answered here */
bool pnv_phb4_eeh_reg_read(PnvPHB4 *phb, hwaddr off, unsigned size,
                           uint64_t *val);
bool pnv_phb4_eeh_reg_write(PnvPHB4 *phb, hwaddr off, unsigned size,
                            uint64_t val);
/* End of a DMA translation for PE @pe: refuse it, or freeze on a fault */
void pnv_phb4_eeh_dma_xlate(PnvPHB4 *phb, int pe, hwaddr iova, uint16_t rid,
                            IOMMUAccessFlags flag, IOMMUTLBEntry *entry);
/* An MSI from PE @pe: true if the PE's freeze discards it */
bool pnv_phb4_eeh_msi_blocked(PnvPHB4 *phb, int pe, uint32_t src);
/* The nest FIR was written over XSCOM: an unmasked bit fences the PHB */
void pnv_phb4_eeh_nest_fir_written(PnvPHB4 *phb);
/* PEC_PCI_STK_ETU_RESET written: released with the nest FIR clear unfences */
void pnv_phb4_eeh_etu_reset(PnvPHB4 *phb, bool assert);
/* An MMIO access no device answered (hw/pci-host/pnv_phb4_mmio_error.c) */
void pnv_phb4_eeh_mmio_miss(PnvPHB4 *phb, hwaddr pci_addr, bool is_write);

#endif
