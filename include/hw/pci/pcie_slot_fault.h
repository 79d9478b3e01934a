/*
 * plugfault: fault injection on PCI Express hot-plug slots
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PCI_PCIE_SLOT_FAULT_H
#define HW_PCI_PCIE_SLOT_FAULT_H

#include "hw/pci/pci_device.h"

/* Hooks called from the base's hw/pci/pcie.c (scripts/patches/0006-...). */
void pcie_slot_fault_init(PCIDevice *port);
void pcie_slot_fault_reset(PCIDevice *port);
bool pcie_slot_fault_event_pending(PCIDevice *port, uint16_t sltctl,
                                   uint16_t sltsta);
bool pcie_slot_fault_link_is_down(PCIDevice *port);
bool pcie_slot_fault_gate_power(PCIDevice *port, bool power);
void pcie_slot_fault_dllla_changed(PCIDevice *port);
void pcie_slot_fault_forget(PCIDevice *port);
bool pcie_slot_fault_power_off_detaches(PCIDevice *port);
/* The port's config_read (hook "slot config reads go to the slot-fault model") */
uint32_t pcie_slot_fault_read_config(PCIDevice *port, uint32_t addr, int len);
/* pci_bridge_write_config(): Link Control, Bridge Control, DPC */
void pcie_slot_fault_write_config(PCIDevice *port, uint32_t addr,
                                  uint32_t val, int len, uint16_t old_brctl);
/* Exported by the hook from pcie.c: re-evaluate and signal slot events. */
void pcie_cap_slot_fault_notify(PCIDevice *port);

/*
 * The primitives behind the QMP commands, for other models (VT-d endpoints,
 * the partition-removal check) to use.
 */
bool pcie_slot_fault_port_check(PCIDevice *port, Error **errp);
void pcie_slot_fault_surprise_remove(PCIDevice *port);
void pcie_slot_fault_set_link(PCIDevice *port, bool up);
void pcie_slot_fault_power_fault(PCIDevice *port);

/*
 * For the DPC model and the PowerNV PHB: something that holds the link
 * down changed (re-evaluate it); is the link trained (an empty slot reads
 * as trained); a message on one of the port's MSI-X/MSI vectors.
 */
void pcie_slot_fault_link_changed(PCIDevice *port);
bool pcie_slot_fault_link_trained(PCIDevice *port);
void pcie_slot_fault_port_notify(PCIDevice *port, unsigned vector);

#endif
