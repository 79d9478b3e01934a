/*
 * plugfault: hot-plug slot behaviour of the PowerNV PHB root port
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PCI_HOST_PNV_PHB_SLOT_H
#define PCI_HOST_PNV_PHB_SLOT_H

typedef struct PnvPHBRootPort PnvPHBRootPort;

/*
 * Slot state embedded in PnvPHBRootPort (see the hook in pnv_phb.h).
 *
 * surprise_pluggable decides how skiboot drives the slot.  skiboot marks a
 * slot "surprise pluggable" when SLOTCAP.HPS is set; for such a slot a power
 * off is cached in firmware and never written to SLTCTL, so QEMU would never
 * see the power controller turn off and a host-initiated removal could not
 * complete.  With HPS clear (the default here) skiboot writes SLTCTL.PCC on
 * power off and QEMU detaches the device, as pciehp does on q35.
 */
typedef struct PnvPHBSlot {
    bool surprise_pluggable;
} PnvPHBSlot;

void pnv_phb_slot_class_init(DeviceClass *dc);
void pnv_phb_slot_realize(PnvPHBRootPort *rp, Error **errp);
void pnv_phb_slot_reset(PnvPHBRootPort *rp);

/*
 * PHB_PCIE_DLP_TRAIN_CTL as the PHB reads it (hook in pnv_phb4.c): the
 * base's @stock value, without "link active" while the root port's link
 * is down or training with a card in the slot.
 */
struct PnvPHB4;
uint64_t pnv_phb_slot_dlp_train_ctl(struct PnvPHB4 *phb, uint64_t stock);

#endif
