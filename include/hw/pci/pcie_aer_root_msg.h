/*
 * plugfault: PCIe error messages as the root complex sees them
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PCI_PCIE_AER_ROOT_MSG_H
#define HW_PCI_PCIE_AER_ROOT_MSG_H

#include "hw/pci/pcie_aer.h"
#include "qemu/notify.h"

/* What a notifier of pcie_aer_root_msg_add_notifier() is given */
typedef struct PCIEAERRootMsg {
    PCIDevice *root_port;       /* the root port the message reached */
    const PCIEAERMsg *msg;      /* severity (PCI_ERR_ROOT_CMD_*_EN), source */
} PCIEAERRootMsg;

/*
 * Called by pcie_aer_msg() (hook patch "hw/pci/pcie_aer: error messages a
 * root port receives go to the root complex's model") when an error
 * message reaches a root port, before the port's own handling.
 */
void pcie_aer_root_msg_received(PCIDevice *root_port, const PCIEAERMsg *msg);

/* A host bridge model that acts on error messages (PowerNV PHB4/PHB5) */
void pcie_aer_root_msg_add_notifier(Notifier *n);

#endif
