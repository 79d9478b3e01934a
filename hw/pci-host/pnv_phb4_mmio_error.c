/*
 * plugfault: what a PowerNV PHB4/PHB5 answers when MMIO reaches no device
 *
 * On the real PHB, a CPU load that no PCIe device completes (unsupported
 * request, completion abort or time-out: the device was surprise-removed,
 * its link is down, or the address was never assigned) freezes the PE and
 * completes with all ones; stores are dropped.  Linux's EEH code relies on
 * that: a driver that reads all ones asks OPAL whether its PE is frozen.
 * The base model left such accesses unassigned, which the POWER CPU turns
 * into an unrecoverable machine check (seen with pnv_php's own surprise
 * removal path: e1000e_down() reading its vanished BAR).  This background
 * region, below every BAR in the PHB's PCI MMIO space, gives the hardware's
 * answer, and reports the miss to the PE freeze model
 * (hw/pci-host/pnv_phb4_eeh.c), which freezes the PE the address decodes to.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci-host/pnv_phb4.h"
#include "hw/pci-host/pnv_phb4_mmio_error.h"
#include "hw/pci-host/pnv_phb4_eeh.h"
#include "trace.h"

static uint64_t pnv_phb4_mmio_error_read(void *opaque, hwaddr addr,
                                         unsigned size)
{
    PnvPHB4 *phb = opaque;

    trace_pnv_phb4_mmio_error(phb->chip_id, phb->phb_id, "load", addr, size);
    pnv_phb4_eeh_mmio_miss(phb, addr, false);
    return size == 8 ? UINT64_MAX : MAKE_64BIT_MASK(0, size * 8);
}

static void pnv_phb4_mmio_error_write(void *opaque, hwaddr addr,
                                      uint64_t data, unsigned size)
{
    PnvPHB4 *phb = opaque;

    trace_pnv_phb4_mmio_error(phb->chip_id, phb->phb_id, "store", addr, size);
    pnv_phb4_eeh_mmio_miss(phb, addr, true);
}

static const MemoryRegionOps pnv_phb4_mmio_error_ops = {
    .read = pnv_phb4_mmio_error_read,
    .write = pnv_phb4_mmio_error_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/*
 * A root port raises its slot-event MSI while the guest is writing its
 * config space through the PHB's registers, and the MSI lands in this same
 * PHB's MSI window.  That nesting is what the hardware does; exempt the MSI
 * windows from the re-entrancy guard, which would otherwise drop the MSI
 * ("Blocked re-entrant IO on MemoryRegion: msi64").  The MSI handler only
 * pulses an interrupt source.
 */
void pnv_phb4_mmio_error_msi_init(MemoryRegion *msi32, MemoryRegion *msi64)
{
    msi32->disable_reentrancy_guard = true;
    msi64->disable_reentrancy_guard = true;
}

void pnv_phb4_mmio_error_init(PnvPHB4 *phb)
{
    memory_region_init_io(&phb->mmio_error, OBJECT(phb),
                          &pnv_phb4_mmio_error_ops, phb, "phb4-mmio-no-device",
                          memory_region_size(&phb->pci_mmio));
    memory_region_add_subregion_overlap(&phb->pci_mmio, 0, &phb->mmio_error,
                                        -1);
}
