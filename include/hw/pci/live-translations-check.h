/*
 * plugfault: the partition-removal check (live translations), as seen by
 * the PCI models and the machines
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Policy lives here, in hw/pci/live-translations-check.c: which devices
 * are watched (x-strict-removal of their slot, x-live-translations-watch-
 * all, a machine's root-bus policy), refusals and their events, the
 * refused slot power-offs and their migration blocker, and the QMP
 * commands.  The tracker of the translations themselves needs the guest's
 * TLB fills and invalidations, so it lives in accel/tcg
 * (accel/tcg/live-translations.c) and registers itself here; without it
 * (KVM, qtest, a build without TCG) nothing is live, a slot whose check
 * was asked for explicitly refuses removals saying why, and the query
 * answers an empty list.
 */

#ifndef HW_PCI_LIVE_TRANSLATIONS_CHECK_H
#define HW_PCI_LIVE_TRANSLATIONS_CHECK_H

#include "hw/pci/pci_device.h"
#include "qapi/qapi-types-live-translations.h"

/* ------------------------------------------------ models and machines */

/* Is the removal check on for this PCIe slot (x-strict-removal, resolved)? */
bool live_xlate_slot_strict(PCIDevice *port);

/*
 * May the devices below @port (at any depth) be removed?  @action names
 * the request in the error and the LIVE_TRANSLATION_REMOVAL_REFUSED event.
 */
bool live_xlate_slot_removal_allowed(PCIDevice *port, const char *action,
                                     Error **errp);
/*
 * The same for one device and what is below it (pseries DRC isolation;
 * @slot is the DRC's name).
 */
bool live_xlate_device_removal_allowed(PCIDevice *dev, const char *slot,
                                       const char *action, Error **errp);

/*
 * The guest turned the slot's power controller off: false if refused (the
 * slot then keeps power and its devices until the devices are unplugged or
 * the guest turns the power on again).
 */
bool live_xlate_slot_power_off(PCIDevice *port);
/* Power gating of a slot: a refused power-off keeps the slot powered. */
bool live_xlate_gate_power(PCIDevice *port, bool power);
/* The devices of @port were unplugged: no power-off is pending any more. */
void live_xlate_slot_unplugged(PCIDevice *port);

/* Slot life: realize (arms the tracker) and exit. */
void live_xlate_slot_init(PCIDevice *port);
void live_xlate_slot_forget(PCIDevice *port);

/* Every PCI device's realize and unrealize (hooks in hw/pci/pci.c). */
void live_xlate_pci_device_realized(PCIDevice *dev);
void live_xlate_pci_device_unrealized(PCIDevice *dev);

/*
 * x-strict-removal=auto on a slot of QOM type @type (or a subtype) means
 * on: the model's default (the PowerNV PHB root port, as PowerVM's
 * slots).  Switch downstream ports at auto follow the slot above them.
 */
void live_xlate_set_type_default(const char *type);

/*
 * Machines whose hot-pluggable devices sit on a root bus (pseries: PHB +
 * DRC) say which of those devices are watched.
 */
typedef bool (*LiveXlateRootBusPolicy)(PCIDevice *dev);
void live_xlate_set_root_bus_policy(LiveXlateRootBusPolicy fn);

/* ------------------------------------------------------------ tracker */

/* The oldest of a device's live translations. */
typedef struct LiveXlateInfo {
    int cpu;
    uint64_t vaddr;
    uint64_t page_size;
    uint64_t paddr;
    int bar;
} LiveXlateInfo;

typedef struct LiveXlateTracker {
    /* A PCI device was realized, with its name for reports. */
    void (*device_added)(PCIDevice *dev, const char *name, bool watched);
    void (*device_set_watched)(PCIDevice *dev, bool watched);
    /* It is being unrealized: its translations become stale. */
    void (*device_removed)(PCIDevice *dev);
    /*
     * How many translations to @dev are live (the oldest in *@oldest),
     * and how many more were not recorded individually (*@untracked).
     */
    unsigned (*device_live)(PCIDevice *dev, LiveXlateInfo *oldest,
                            unsigned *untracked);
    /*
     * The live translations, oldest first: to devices named @device (NULL:
     * all), whose physical page meets [@pa, @pa + @size) (@size 0: any).
     * *@found: a device of that name was ever seen.
     */
    LiveTranslationList *(*query)(const char *device, uint64_t pa,
                                  uint64_t size, bool *found);
    /* Start recording (a slot or watch-all needs the tracker). */
    void (*arm)(void);
} LiveXlateTracker;

void live_xlate_register_tracker(const LiveXlateTracker *tracker);

#endif
