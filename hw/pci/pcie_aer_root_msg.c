/*
 * plugfault: PCIe error messages as the root complex sees them
 *
 * QEMU's AER model delivers an error message to the root port it reaches
 * (Root Error Status, the port's interrupt).  On real hardware the root
 * complex the port belongs to sees the message too and may act on it: a
 * PowerNV PHB4/PHB5 freezes the requester's PE on an uncorrectable one
 * (hw/pci-host/pnv_phb4_eeh.c).  The base calls
 * pcie_aer_root_msg_received() for every message that reaches a root port
 * (hook patch "hw/pci/pcie_aer: error messages a root port receives go to
 * the root complex's model"); host bridge models register here.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie_aer_root_msg.h"
#include "trace.h"

static NotifierList root_msg_notifiers =
    NOTIFIER_LIST_INITIALIZER(root_msg_notifiers);

void pcie_aer_root_msg_received(PCIDevice *root_port, const PCIEAERMsg *msg)
{
    PCIEAERRootMsg m = { .root_port = root_port, .msg = msg };

    trace_pcie_aer_root_msg(DEVICE(root_port)->canonical_path, msg->severity,
                            msg->source_id);
    notifier_list_notify(&root_msg_notifiers, &m);
}

void pcie_aer_root_msg_add_notifier(Notifier *n)
{
    notifier_list_add(&root_msg_notifiers, n);
}
