/*
 * plugfault: Downstream Port Containment on root and downstream ports
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PCI_PCIE_DPC_H
#define HW_PCI_PCIE_DPC_H

#include "hw/pci/pci_device.h"

/* Where the DPC extended capability goes (clear of AER and ACS) */
#define PCIE_DPC_OFFSET         0x200
#define PCIE_DPC_SIZEOF_DSP     0x0c    /* up to Error Source ID */
#define PCIE_DPC_SIZEOF_RP      0x30    /* + RP PIO registers, log size 4 */
#define PCIE_DPC_RP_LOG_SIZE    4       /* DWORDs: the TLP header log */

/* not in the standard headers (PCIe r6.0 sec 7.9.14.3) */
#define PCIE_DPC_CTL_TRIGGER_EN     0x0003
#define PCIE_DPC_CTL_COMPLETION     0x0004
#define PCIE_DPC_CTL_ERR_COR_EN     0x0010
#define PCIE_DPC_CTL_SW_TRIGGER     0x0040

/* RP PIO error bits a root port implements (Cfg/I/O/Mem: UR, CA, CTO) */
#define PCIE_DPC_RP_PIO_IMPL        0x00070707u

/*
 * Hooks: realize of the ports ("hw/pci-bridge: DPC capability on root and
 * downstream ports"), reset, AER messages ("hw/pci/pcie_aer: Downstream Port
 * Containment contains error messages")
 */
void pcie_dpc_init(PCIDevice *port);
void pcie_dpc_reset(PCIDevice *port);
bool pcie_dpc_aer_msg(PCIDevice *dev, uint32_t severity, uint16_t source_id);

/* For the link model (hw/pci/pcie_slot_fault.c) */
bool pcie_dpc_triggered(PCIDevice *port);
bool pcie_dpc_write_config(PCIDevice *port, uint32_t addr, uint32_t val,
                           int len);
void pcie_dpc_surprise_down(PCIDevice *port);

/*
 * An uncorrectable error @status was detected by @port itself (AER
 * injection into a port): DPC triggers if it is unmasked.
 */
void pcie_dpc_port_error(PCIDevice *port, uint32_t status);

#endif
