/*
 * plugfault: the partition-removal check (live translations), as seen by
 * the PCI slot models and the machines
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Implemented in accel/tcg/live-translations.c.  Without TCG every check
 * allows the removal (KVM does not expose the guest's TLB fills).
 */

#ifndef HW_PCI_LIVE_TRANSLATIONS_CHECK_H
#define HW_PCI_LIVE_TRANSLATIONS_CHECK_H

#include "hw/pci/pci_device.h"

/* Is the removal check on for this PCIe slot (x-strict-removal, resolved)? */
bool live_xlate_slot_strict(PCIDevice *port);

/*
 * May the devices below @port be removed (@action names the request in
 * the error and the LIVE_TRANSLATION_REMOVAL_REFUSED event)?
 */
bool live_xlate_slot_removal_allowed(PCIDevice *port, const char *action,
                                     Error **errp);
/* The same for one device (pseries DRC isolation). */
bool live_xlate_device_removal_allowed(PCIDevice *dev, const char *action,
                                       Error **errp);

/*
 * The guest turned the slot's power controller off: false if refused (the
 * slot then keeps power and its devices until a later check passes).
 */
bool live_xlate_slot_power_off(PCIDevice *port);
/* Power gating of a slot: a refused power-off keeps the slot powered. */
bool live_xlate_gate_power(PCIDevice *port, bool power);

/* Slot life: realize (arms the tracker) and exit. */
void live_xlate_slot_init(PCIDevice *port);
void live_xlate_slot_forget(PCIDevice *port);

/* Arm the TLB-fill hook (TCG only). */
void live_xlate_arm(void);

/*
 * Machines whose hot-pluggable devices sit on a root bus (pseries: PHB +
 * DRC) say which of those devices are watched.
 */
typedef bool (*LiveXlateRootBusPolicy)(PCIDevice *dev);
void live_xlate_set_root_bus_policy(LiveXlateRootBusPolicy fn);

#endif
