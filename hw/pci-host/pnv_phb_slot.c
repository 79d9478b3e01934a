/*
 * plugfault: hot-plug slot behaviour of the PowerNV PHB root port
 *
 * The base root port (hw/pci-host/pnv_phb.c) calls into this file from its
 * class_init, realize and reset through the hooks in
 * scripts/patches/0004-pnv-phb-root-port-slot-hooks.patch.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_port.h"
#include "hw/qdev-properties.h"
#include "hw/pci-host/pnv_phb.h"
#include "trace.h"

static const Property pnv_phb_slot_properties[] = {
    DEFINE_PROP_BOOL("surprise-pluggable", PnvPHBRootPort,
                     slot.surprise_pluggable, false),
};

void pnv_phb_slot_class_init(DeviceClass *dc)
{
    device_class_set_props(dc, pnv_phb_slot_properties);
}

/* Slot capability bits that follow from the slot's properties. */
static void pnv_phb_slot_apply_caps(PnvPHBRootPort *rp)
{
    PCIDevice *d = PCI_DEVICE(rp);
    uint8_t *exp_cap = d->config + d->exp.exp_cap;

    if (!(pci_get_long(exp_cap + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC)) {
        return;                         /* hotplug=off: no slot to shape */
    }
    if (rp->slot.surprise_pluggable) {
        pci_long_test_and_set_mask(exp_cap + PCI_EXP_SLTCAP, PCI_EXP_SLTCAP_HPS);
    } else {
        pci_long_test_and_clear_mask(exp_cap + PCI_EXP_SLTCAP, PCI_EXP_SLTCAP_HPS);
    }
}

void pnv_phb_slot_realize(PnvPHBRootPort *rp, Error **errp)
{
    pnv_phb_slot_apply_caps(rp);
    trace_pnv_phb_slot_realize(DEVICE(rp)->id ? DEVICE(rp)->id : "",
                               rp->slot.surprise_pluggable);
}

void pnv_phb_slot_reset(PnvPHBRootPort *rp)
{
    pnv_phb_slot_apply_caps(rp);
}
