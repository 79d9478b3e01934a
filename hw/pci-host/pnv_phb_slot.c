/*
 * plugfault: hot-plug slot behaviour of the PowerNV PHB root port
 *
 * The base root port (hw/pci-host/pnv_phb.c) calls into this file from its
 * class_init, realize and reset through the hooks in
 * the hook patch "hw/pci-host/pnv_phb: root port calls the slot model".
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msi.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/pcie_slot_fault.h"
#include "hw/pci/live-translations-check.h"
#include "hw/pci/pci_bridge.h"
#include "hw/qdev-properties.h"
#include "hw/pci-host/pnv_phb.h"
#include "hw/pci-host/pnv_phb4.h"
#include "hw/pci-host/pnv_phb4_regs.h"
#include "trace.h"

/*
 * Slot interrupts.  pnv_php asks for MSI-X, then MSI, then INTx for the
 * slot's hot-plug events (only on surprise-pluggable slots).  Like the real
 * PHB4/PHB5 root complex, the root port offers one MSI vector; its writes go
 * through the PHB's MSI window (hw/pci-host/pnv_phb4.c) to XIVE.  PCIe
 * Capabilities' interrupt message number stays 0: the only vector.
 * 0x90 is clear of the SSVID capability (0x40) and the PCIe capability
 * (0x48, 0x3c bytes).
 */
#define PNV_PHB_SLOT_MSI_OFFSET 0x90

static int pnv_phb_slot_interrupts_init(PCIDevice *d, Error **errp)
{
    int rc = msi_init(d, PNV_PHB_SLOT_MSI_OFFSET, 1, true, false, errp);

    return rc < 0 ? rc : 0;
}

static void pnv_phb_slot_interrupts_uninit(PCIDevice *d)
{
    msi_uninit(d);
}

void pnv_phb_slot_class_init(DeviceClass *dc)
{
    PCIERootPortClass *rpc = PCIE_ROOT_PORT_CLASS(dc);

    /*
     * surprise-pluggable is in the base's property list (the hook adds it
     * there: a second device_class_set_props() would replace the list).
     * The partition-removal check is on by default on these slots, as
     * PowerVM's (x-strict-removal=auto).
     */
    live_xlate_set_type_default(TYPE_PNV_PHB_ROOT_PORT);
    rpc->interrupts_init = pnv_phb_slot_interrupts_init;
    rpc->interrupts_uninit = pnv_phb_slot_interrupts_uninit;
}

/*
 * Slot capability bits that follow from the slot's properties.
 *
 * skiboot (core/pcie-slot.c) makes a slot surprise-pluggable when SLOTCAP.HPS
 * is set, and otherwise when LNKCAP advertises Data Link Layer Link Active
 * Reporting (then with "broken PDC").  A cooperative slot must therefore have
 * neither.  A surprise slot gets both, as on real PHB4/PHB5 root ports: the
 * link reporting gives pnv_php link up/down events (DLLSC) and lets skiboot
 * poll DLLLA instead of waiting a fixed second after power-on.
 */
static void pnv_phb_slot_apply_caps(PnvPHBRootPort *rp)
{
    PCIDevice *d = PCI_DEVICE(rp);
    uint8_t *exp_cap = d->config + d->exp.exp_cap;
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(d));

    if (!(pci_get_long(exp_cap + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC)) {
        return;                         /* hotplug=off: no slot to shape */
    }
    if (rp->slot.surprise_pluggable) {
        pci_long_test_and_set_mask(exp_cap + PCI_EXP_SLTCAP,
                                   PCI_EXP_SLTCAP_HPS);
        pci_long_test_and_set_mask(exp_cap + PCI_EXP_LNKCAP,
                                   PCI_EXP_LNKCAP_DLLLARC);
        if (sec->devices[0]) {
            pci_word_test_and_set_mask(exp_cap + PCI_EXP_LNKSTA,
                                       PCI_EXP_LNKSTA_DLLLA);
        }
    } else {
        pci_long_test_and_clear_mask(exp_cap + PCI_EXP_SLTCAP,
                                     PCI_EXP_SLTCAP_HPS);
        pci_long_test_and_clear_mask(exp_cap + PCI_EXP_LNKCAP,
                                     PCI_EXP_LNKCAP_DLLLARC);
    }
    pcie_slot_fault_init(d);            /* DLLSCE writable iff DLLLARC now */
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

/*
 * skiboot polls PHB_PCIE_DLP_TRAIN_CTL for the root port's link after a
 * fundamental reset (which asserts the root port's Link Disable with
 * PERST) and after a slot power-on.  The base always says "trained"; with
 * the root port's link modelled (hw/pci/pcie_slot_fault.c) skiboot must
 * wait for the training to end before it scans the bus, as on hardware.
 * An empty slot still reads as trained, as in the base: skiboot would
 * otherwise spend its full link timeout on every empty PHB at boot.
 */
uint64_t pnv_phb_slot_dlp_train_ctl(PnvPHB4 *phb, uint64_t stock)
{
    PCIHostState *pci = PCI_HOST_BRIDGE(phb->phb_base);
    PCIDevice *rp = pci->bus ? pci_find_device(pci->bus, 0, 0) : NULL;

    if (rp && !pcie_slot_fault_link_trained(rp)) {
        return stock & ~PHB_PCIE_DLP_TL_LINKACT;
    }
    return stock;
}
