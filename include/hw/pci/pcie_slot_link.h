/*
 * plugfault: link state of PCI Express root and downstream ports
 *
 * The state a port with a slot keeps for its link: why it is down, link
 * training in progress, and the properties that choose what the guest can
 * do to it (Link Disable, Retrain Link, Secondary Bus Reset: x-link-control;
 * Downstream Port Containment: x-dpc).  Embedded in PCIESlot
 * (hook patch "hw/pci-bridge: link state and link-control/DPC properties on
 * PCIe slots"); the logic is in
 * hw/pci/pcie_slot_fault.c and hw/pci/pcie_dpc.c.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PCI_PCIE_SLOT_LINK_H
#define HW_PCI_PCIE_SLOT_LINK_H

#include "qapi/qapi-types-common.h"
#include "qemu/timer.h"

/* Why a link is held down; any one keeps it from training. */
#define PCIE_LINK_DOWN_HOST     (1u << 0)   /* x-pcie-link-set up=false */
#define PCIE_LINK_DOWN_LD       (1u << 1)   /* Link Control: Link Disable */
#define PCIE_LINK_DOWN_DPC      (1u << 2)   /* DPC Trigger Status */
#define PCIE_LINK_DOWN_SBR      (1u << 3)   /* Bridge Control: SBR */

/*
 * Virtual time from the moment nothing holds a link down (or Retrain Link
 * is written) to Data Link Layer Link Active: LNKSTA.LT reads 1 meanwhile.
 * Hardware takes from microseconds to a few milliseconds; Linux allows
 * 1 s (PCIE_LINK_RETRAIN_TIMEOUT_MS), skiboot polls every 10 ms.
 */
#define PCIE_LINK_TRAINING_NS   (10 * SCALE_MS)

typedef struct PCIESlotLink {
    /* properties */
    OnOffAuto link_control;     /* x-link-control */
    bool dpc;                   /* x-dpc */
    bool broken_presence;       /* x-broken-presence */
    bool surprise_down_error;   /* x-surprise-down-error */

    /* resolved at realize */
    bool lc_on;                 /* LD, RL, SBR act on the link */
    uint16_t dpc_cap;           /* DPC extended capability, 0: none */

    /* state */
    uint32_t down;              /* PCIE_LINK_DOWN_* */
    bool up;                    /* DL_Active */
    bool powered;               /* the slot's power, as last applied */
    bool faulted;               /* link lost while the card stayed */
    bool recovering;            /* faulted, and powered on again since */
    bool retraining;            /* training from Retrain Link: LBMS after */
    int64_t train_deadline;     /* -1: not training */
    QEMUTimer *train_timer;
    uint32_t dpc_triggers;      /* times DPC was triggered (query) */
} PCIESlotLink;

#define DEFINE_PCIE_SLOT_LINK_PROPS(_state, _field)                         \
    DEFINE_PROP_ON_OFF_AUTO("x-link-control", _state,                       \
                            _field.link_control, ON_OFF_AUTO_AUTO),         \
    DEFINE_PROP_BOOL("x-dpc", _state, _field.dpc, false),                  \
    DEFINE_PROP_BOOL("x-broken-presence", _state, _field.broken_presence,  \
                     false),                                                \
    DEFINE_PROP_BOOL("x-surprise-down-error", _state,                       \
                     _field.surprise_down_error, false)

/*
 * Migration: a subsection of the port's VMState, sent only when needed;
 * one list per port type (a subsection is named after its parent).
 */
extern const VMStateDescription *const pcie_slot_link_subsections_rp[];
extern const VMStateDescription *const pcie_slot_link_subsections_ioh3420[];
extern const VMStateDescription *const pcie_slot_link_subsections_xio3130[];

#endif
