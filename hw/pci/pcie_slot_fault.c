/*
 * plugfault: fault injection on PCI Express hot-plug slots
 *
 * Surprise removal, link down/up and power faults on any port that QEMU
 * models with a PCIe slot capability (pcie-root-port, the PowerNV PHB root
 * port, switch downstream ports), driven from QMP (qapi/pcie-slot-fault.json).
 *
 * The base slot model knows three slot events (attention button, presence
 * detect changed, command completed).  Hooks in hw/pci/pcie.c let this file
 * add the two a real slot also reports: Data Link Layer State Changed (on
 * ports with Data Link Layer Link Active Reporting, as the spec requires)
 * and Power Fault Detected (on slots with a power controller).
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qapi/qapi-commands-pcie-slot-fault.h"
#include "hw/hotplug.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/pcie_slot_fault.h"
#include "hw/pci/pcie_dpc.h"
#include "hw/pci/pcie_aer.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "migration/vmstate.h"
#include "qemu/range.h"
#include "hw/pci/live-translations-check.h"
#include "hw/qdev-core.h"
#include "hw/qdev-find.h"
#include "migration/blocker.h"
#include "qom/object.h"
#include "trace.h"

/*
 * Ports whose link QMP holds down.  Kept outside the device state: while it
 * is not empty, migration is blocked (see x-pcie-link-set's documentation).
 */
static GHashTable *links_down;
static Error *link_down_blocker;

static uint8_t *exp_cap(PCIDevice *port)
{
    return port->config + port->exp.exp_cap;
}

/* The port's link state, once its slot is initialized (else NULL) */
static PCIESlotLink *slot_link_raw(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);

    return s && port->exp.exp_cap ? &s->pf_link : NULL;
}

/*
 * The port's link state, while the model applies: the port is realized and
 * its slot is under native PCIe hot-plug control.  Where ACPI PCI hot-plug
 * owns the slot (q35's default) the base keeps neither Presence Detect
 * State nor the slot's power for the card, so the port keeps the base's
 * link (always up, as DLLLA says) and nothing here acts on it.
 */
static PCIESlotLink *slot_link(PCIDevice *port)
{
    PCIESlotLink *l = slot_link_raw(port);

    if (!l || !l->train_timer ||
        BUS(pci_bridge_get_sec_bus(PCI_BRIDGE(port)))->hotplug_handler !=
        HOTPLUG_HANDLER(port)) {
        return NULL;
    }
    return l;
}

static bool port_reports_link(PCIDevice *port)
{
    return pci_get_long(exp_cap(port) + PCI_EXP_LNKCAP) &
           PCI_EXP_LNKCAP_DLLLARC;
}

static bool card_present(PCIDevice *port)
{
    return pci_get_word(exp_cap(port) + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS;
}

static bool host_holds_down(PCIDevice *port)
{
    return links_down && g_hash_table_contains(links_down, port);
}

static void set_lnksta_bit(PCIDevice *port, uint16_t bit, bool on)
{
    if (on) {
        pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_LNKSTA, bit);
    } else {
        pci_word_test_and_clear_mask(exp_cap(port) + PCI_EXP_LNKSTA, bit);
    }
}

/* The link's DLLLA bit, kept wherever the base keeps it up to date. */
static void set_dllla(PCIDevice *port, bool active)
{
    if ((port->cap_present & QEMU_PCIE_LNKSTA_DLLLA) ||
        port_reports_link(port)) {
        set_lnksta_bit(port, PCI_EXP_LNKSTA_DLLLA, active);
    }
}

static void set_lt(PCIDevice *port, bool training)
{
    set_lnksta_bit(port, PCI_EXP_LNKSTA_LT, training);
}

/*
 * Make DLLSCE/PFDE writable and DLLSC/PFD write-1-to-clear exactly when the
 * port's capabilities allow them.  Idempotent: models that change LNKCAP or
 * SLTCAP after the base's slot init (the PowerNV root port) call it again.
 */
static void allow_event(PCIDevice *port, uint16_t enable, uint16_t status,
                        bool allowed)
{
    uint32_t pos = port->exp.exp_cap;
    uint16_t wmask = pci_get_word(port->wmask + pos + PCI_EXP_SLTCTL);
    uint16_t w1cmask = pci_get_word(port->w1cmask + pos + PCI_EXP_SLTSTA);

    pci_set_word(port->wmask + pos + PCI_EXP_SLTCTL,
                 allowed ? wmask | enable : wmask & ~enable);
    pci_set_word(port->w1cmask + pos + PCI_EXP_SLTSTA,
                 allowed ? w1cmask | status : w1cmask & ~status);
}

/*
 * x-slot-fault-events=off keeps SLTCTL.DLLSCE/PFDE read-only zero, as in the
 * base: a guest's pciehp sets DLLSCE on every port with link reporting
 * (q35's pcie-root-port has it), and a stock QEMU refuses config space with
 * bits set that its write mask lacks, so such a port migrates to stock only
 * with the events off (tests/plugfault/migration).  auto: on.
 */
static bool slot_fault_events(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port), TYPE_PCIE_SLOT);

    return !s || s->x_slot_fault_events != ON_OFF_AUTO_OFF;
}

static void signal_events(PCIDevice *port, uint16_t events)
{
    /* DLLSC and PFD only where they are events (x-slot-fault-events) */
    if (!slot_fault_events(port)) {
        events &= ~(PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_PFD);
    }
    pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_SLTSTA, events);
    trace_pcie_slot_fault_signal(DEVICE(port)->canonical_path, events,
                                 pci_get_word(exp_cap(port) + PCI_EXP_SLTSTA),
                                 pci_get_word(exp_cap(port) + PCI_EXP_SLTCTL));
    pcie_cap_slot_fault_notify(port);
}

/* DLLLA changed: DLLSC on ports that report link state (PCIe Slot Status) */
static void signal_dllsc(PCIDevice *port)
{
    if (port_reports_link(port)) {
        signal_events(port, PCI_EXP_SLTSTA_DLLSC);
    }
}

/*
 * x-surprise-down-error: the port reports a link it lost without warning
 * (a surprise removal, a host link fault; not Link Disable, which software
 * asked for) as a Surprise Down error in its AER capability, and so with
 * the error message its severity and enables select, as a downstream port
 * with Surprise Down Error Reporting does (Link Capabilities SDERC, set at
 * realize).  Called after the slot events were signalled: the port's
 * hot-plug interrupt goes out before its error message.  A port with DPC
 * (x-dpc) reports the error with its DPC already (pcie_dpc_surprise_down).
 */
static void surprise_down_report(PCIDevice *port)
{
    PCIESlotLink *l = slot_link(port);
    PCIEAERErr err = {
        .status = PCI_ERR_UNC_SDN,
        .source_id = pci_requester_id(port),
    };

    if (!l || !l->surprise_down_error || l->dpc_cap) {
        return;
    }
    if (!port->exp.aer_cap) {
        warn_report_once("%s: x-surprise-down-error: the port has no AER "
                         "capability to log the error in; not reported",
                         DEVICE(port)->canonical_path);
        return;
    }
    pcie_aer_inject_error(port, &err);
    trace_pcie_slot_fault_surprise_down(
        DEVICE(port)->canonical_path,
        pci_get_long(port->config + port->exp.aer_cap + PCI_ERR_UNCOR_STATUS));
}

/* ------------------------------------------------------------ the link */

/*
 * Link Control on a port (x-link-control).  auto: on for the ports of a
 * PowerNV machine (no versioned machine types, no migration compatibility
 * with stock QEMU to keep), off elsewhere, so that a pc-q35-10.0 guest sees
 * the same Link Control as on stock QEMU 10.0 unless asked
 * (docs/architecture.rst, "Link faults and link control").
 */
static bool link_control_on(PCIESlotLink *l)
{
    switch (l->link_control) {
    case ON_OFF_AUTO_ON:
        return true;
    case ON_OFF_AUTO_OFF:
        return false;
    default:
        return object_dynamic_cast(qdev_get_machine(),
                                   "powernv-machine") != NULL;
    }
}

static uint32_t down_reasons(PCIDevice *port, PCIESlotLink *l)
{
    uint16_t lnkctl = pci_get_word(exp_cap(port) + PCI_EXP_LNKCTL);
    uint16_t brctl = pci_get_word(port->config + PCI_BRIDGE_CONTROL);
    uint32_t down = 0;

    if (host_holds_down(port)) {
        down |= PCIE_LINK_DOWN_HOST;
    }
    if (l->lc_on && (lnkctl & PCI_EXP_LNKCTL_LD)) {
        down |= PCIE_LINK_DOWN_LD;
    }
    if (l->lc_on && (brctl & PCI_BRIDGE_CTL_BUS_RESET)) {
        down |= PCIE_LINK_DOWN_SBR;
    }
    if (pcie_dpc_triggered(port)) {
        down |= PCIE_LINK_DOWN_DPC;
    }
    return down;
}

/*
 * Does the slot's power let the link train?  A powered-off card has no
 * link.  The base model detaches a card when its slot is powered off, so
 * this matters only where a card stays in a powered-off slot: after a link
 * fault (l->faulted), and with link control on (spec behaviour).  Elsewhere
 * the link keeps the base's behaviour (DLLLA set on plug whatever the power).
 */
static bool power_lets_train(PCIDevice *port, PCIESlotLink *l)
{
    if (!(pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP)) {
        return true;
    }
    return l->powered || !(l->lc_on || l->faulted);
}

static bool link_training(PCIESlotLink *l)
{
    return l->train_deadline >= 0;
}

static void set_enabled_one(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    pci_set_enabled(dev, *(bool *)opaque);
}

static void link_set_devices(PCIDevice *port, bool enabled)
{
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(port));

    pci_for_each_device_under_bus(sec, set_enabled_one, &enabled);
}

static void training_stop(PCIDevice *port, PCIESlotLink *l)
{
    if (link_training(l)) {
        timer_del(l->train_timer);
        l->train_deadline = -1;
        l->retraining = false;
        set_lt(port, false);
    }
}

static void training_start(PCIDevice *port, PCIESlotLink *l, bool retrain)
{
    l->train_deadline = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                        PCIE_LINK_TRAINING_NS;
    l->retraining = retrain;
    set_lt(port, true);
    timer_mod(l->train_timer, l->train_deadline);
    trace_pcie_slot_link_training(DEVICE(port)->canonical_path, retrain,
                                  PCIE_LINK_TRAINING_NS);
}

/*
 * Bring the link to what its causes say: down if anything holds it down,
 * training (then up) when nothing does any more.  @devices: also switch the
 * devices below on or off (callers inside the base's power update leave
 * that to the base).
 */
static void link_eval(PCIDevice *port, PCIESlotLink *l, bool devices)
{
    uint32_t down = down_reasons(port, l);
    uint32_t fresh = down & ~l->down;
    bool present = card_present(port);

    if (present && (fresh & (PCIE_LINK_DOWN_HOST | PCIE_LINK_DOWN_LD |
                             PCIE_LINK_DOWN_DPC))) {
        /* a link fault, not a removal: the card stays through what follows */
        l->faulted = true;
        l->recovering = false;
    }
    l->down = down;

    if (!present || down || !power_lets_train(port, l)) {
        training_stop(port, l);
        if (l->up) {
            l->up = false;
            trace_pcie_slot_link_state(DEVICE(port)->canonical_path, false,
                                       down, l->faulted);
            set_dllla(port, false);
            if (devices) {
                link_set_devices(port, false);
            }
            signal_dllsc(port);
        }
    } else if (!l->up && !link_training(l)) {
        training_start(port, l, false);
    }
}

static void training_done(void *opaque)
{
    PCIDevice *port = opaque;
    PCIESlotLink *l = slot_link(port);
    uint8_t *cap = exp_cap(port);

    if (!l) {
        return;
    }
    l->train_deadline = -1;
    set_lt(port, false);
    if (l->retraining) {
        /* Retrain Link completed: Link Bandwidth Management Status */
        l->retraining = false;
        trace_pcie_slot_link_retrained(DEVICE(port)->canonical_path);
        if (pci_get_long(cap + PCI_EXP_LNKCAP) & PCI_EXP_LNKCAP_LBNC) {
            pci_word_test_and_set_mask(cap + PCI_EXP_LNKSTA,
                                       PCI_EXP_LNKSTA_LBMS);
            if (pci_get_word(cap + PCI_EXP_LNKCTL) & PCI_EXP_LNKCTL_LBMIE) {
                pcie_slot_fault_port_notify(port,
                                            pcie_cap_flags_get_vector(port));
            }
        }
        return;
    }
    l->up = true;
    if (l->recovering ||
        !(pci_get_long(cap + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP)) {
        /* powered on and trained; without power control nothing to keep */
        l->faulted = l->recovering = false;
    }
    trace_pcie_slot_link_state(DEVICE(port)->canonical_path, true, l->down,
                               l->faulted);
    set_dllla(port, true);
    link_set_devices(port, l->powered);
    signal_dllsc(port);
}

void pcie_slot_fault_link_changed(PCIDevice *port)
{
    PCIESlotLink *l = slot_link(port);

    if (l) {
        link_eval(port, l, true);
    }
}

/* Send a message on MSI-X / MSI @vector of @port (no INTx: see the docs). */
void pcie_slot_fault_port_notify(PCIDevice *port, unsigned vector)
{
    if (msix_enabled(port)) {
        msix_notify(port, vector);
    } else if (msi_enabled(port)) {
        msi_notify(port, vector);
    }
}

/* ------------------------------------------------------------ hooks */

void pcie_slot_fault_init(PCIDevice *port)
{
    uint32_t sltcap = pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP);
    uint32_t lnkcap;
    PCIESlotLink *l = slot_link_raw(port);
    uint32_t pos = port->exp.exp_cap;
    bool events = slot_fault_events(port);

    if (l && l->surprise_down_error) {
        /* (the port's AER capability may come after this, at realize) */
        pci_long_test_and_set_mask(exp_cap(port) + PCI_EXP_LNKCAP,
                                   PCI_EXP_LNKCAP_SDERC);
    }
    if (l && l->broken_presence) {
        /*
         * A port that hides presence must tell link state, or nothing
         * could see a card arrive: hot-plug capable downstream ports must
         * implement Data Link Layer Link Active Reporting anyway (PCIe
         * Base spec, Link Capabilities), and the Switchtec does.
         */
        pci_long_test_and_set_mask(exp_cap(port) + PCI_EXP_LNKCAP,
                                   PCI_EXP_LNKCAP_DLLLARC);
    }
    lnkcap = pci_get_long(exp_cap(port) + PCI_EXP_LNKCAP);

    allow_event(port, PCI_EXP_SLTCTL_DLLSCE, PCI_EXP_SLTSTA_DLLSC,
                events && port_reports_link(port));
    allow_event(port, PCI_EXP_SLTCTL_PFDE, PCI_EXP_SLTSTA_PFD,
                events && (sltcap & PCI_EXP_SLTCAP_PCP));
    live_xlate_slot_init(port);
    if (!l) {
        return;
    }
    if (!l->train_timer) {                          /* first call: realize */
        l->train_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, training_done, port);
        l->train_deadline = -1;
        l->lc_on = link_control_on(l);
    }
    if (l->lc_on) {
        uint16_t ctl = PCI_EXP_LNKCTL_LD | PCI_EXP_LNKCTL_RL;
        uint16_t sta = 0;

        if (lnkcap & PCI_EXP_LNKCAP_LBNC) {
            ctl |= PCI_EXP_LNKCTL_LBMIE | PCI_EXP_LNKCTL_LABIE;
            sta |= PCI_EXP_LNKSTA_LBMS | PCI_EXP_LNKSTA_LABS;
        }
        pci_word_test_and_set_mask(port->wmask + pos + PCI_EXP_LNKCTL, ctl);
        pci_word_test_and_set_mask(port->w1cmask + pos + PCI_EXP_LNKSTA, sta);
    }
}

static void link_down_forget(PCIDevice *port)
{
    if (links_down && g_hash_table_remove(links_down, port) &&
        g_hash_table_size(links_down) == 0) {
        migrate_del_blocker(&link_down_blocker);
    }
}

void pcie_slot_fault_forget(PCIDevice *port)
{
    PCIESlotLink *l = slot_link_raw(port);

    link_down_forget(port);
    live_xlate_slot_forget(port);
    if (l && l->train_timer) {
        timer_free(l->train_timer);
        l->train_timer = NULL;
    }
}

void pcie_slot_fault_reset(PCIDevice *port)
{
    uint8_t *cap = exp_cap(port);
    PCIESlotLink *l = slot_link(port);

    /* A reset retrains the link: a held-down link comes back up. */
    link_down_forget(port);
    pci_word_test_and_clear_mask(cap + PCI_EXP_SLTCTL,
                                 PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PFDE);
    pci_word_test_and_clear_mask(cap + PCI_EXP_SLTSTA,
                                 PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_PFD);
    if (!l) {
        if (card_present(port)) {
            set_dllla(port, true);
        }
        return;
    }
    if (l->lc_on) {
        pci_word_test_and_clear_mask(cap + PCI_EXP_LNKCTL,
                                     PCI_EXP_LNKCTL_LD | PCI_EXP_LNKCTL_RL |
                                     PCI_EXP_LNKCTL_LBMIE |
                                     PCI_EXP_LNKCTL_LABIE);
        pci_word_test_and_clear_mask(cap + PCI_EXP_LNKSTA,
                                     PCI_EXP_LNKSTA_LBMS |
                                     PCI_EXP_LNKSTA_LABS);
        /* the bridge's own reset clears it next, without telling us */
        pci_word_test_and_clear_mask(port->config + PCI_BRIDGE_CONTROL,
                                     PCI_BRIDGE_CTL_BUS_RESET);
    }
    pcie_dpc_reset(port);
    training_stop(port, l);
    l->down = 0;
    l->faulted = l->recovering = l->retraining = false;
    l->powered = true;      /* the base's power update follows and says */
    l->up = card_present(port);
    set_dllla(port, l->up);
}

/*
 * x-broken-presence: a downstream port whose Presence Detect is broken, as
 * the Microsemi Switchtec PM8533's (Linux 80f9fc2362797 "PCI: pnv_php:
 * Work around switches with broken presence detection"): Slot Status
 * reads Presence Detect State 0 and never shows Presence Detect Changed,
 * whatever the card, while the link (DLLLA, DLLSC) works: the port
 * advertises link reporting (pcie_slot_fault_init()).  The port's own
 * state keeps the truth (the link needs it); a PDC it would have shown is
 * dropped when the guest reads Slot Status, so that it cannot hold the
 * hot-plug interrupt pending.
 */
uint32_t pcie_slot_fault_read_config(PCIDevice *port, uint32_t addr, int len)
{
    uint32_t val = pci_default_read_config(port, addr, len);
    PCIESlotLink *l = slot_link_raw(port);
    uint32_t sta;

    if (!l || !l->broken_presence) {
        return val;
    }
    sta = port->exp.exp_cap + PCI_EXP_SLTSTA;   /* PDS and PDC: low byte */
    if (addr <= sta && sta < addr + len) {
        val &= ~((uint32_t)(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC) <<
                 (8 * (sta - addr)));
        pci_word_test_and_clear_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                     PCI_EXP_SLTSTA_PDC);
    }
    return val;
}

bool pcie_slot_fault_event_pending(PCIDevice *port, uint16_t sltctl,
                                   uint16_t sltsta)
{
    return ((sltsta & PCI_EXP_SLTSTA_DLLSC) &&
            (sltctl & PCI_EXP_SLTCTL_DLLSCE)) ||
           ((sltsta & PCI_EXP_SLTSTA_PFD) && (sltctl & PCI_EXP_SLTCTL_PFDE));
}

/*
 * Is the link of @port not active (Data Link Layer down)?  What the ATS
 * endpoints ask (hw/pci/pcie_ats_inval.c) for every port on their path.
 */
bool pcie_slot_fault_link_is_down(PCIDevice *port)
{
    PCIESlotLink *l = slot_link(port);

    if (!l) {
        return false;
    }
    return !l->up;
}

bool pcie_slot_fault_link_trained(PCIDevice *port)
{
    PCIESlotLink *l = port ? slot_link(port) : NULL;

    /* an empty slot reads as trained, as the base's PHB always says */
    return !l || !card_present(port) || l->up;
}

/*
 * The base changed DLLLA and PDS: a card was hot-plugged (PDS set) or
 * detached (PDS clear).  A port that reports link state must raise DLLSC
 * (PCIe Base spec, Slot Status) when DLLLA really changes.  The caller
 * signals the slot event afterwards.
 */
void pcie_slot_fault_dllla_changed(PCIDevice *port)
{
    PCIESlotLink *l = slot_link(port);
    bool was_up;

    if (!l) {
        if (port_reports_link(port) && slot_fault_events(port)) {
            pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                       PCI_EXP_SLTSTA_DLLSC);
        }
        return;
    }
    was_up = l->up;
    training_stop(port, l);
    if (card_present(port)) {
        uint16_t sltctl = pci_get_word(exp_cap(port) + PCI_EXP_SLTCTL);

        l->powered = !(pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP) &
                       PCI_EXP_SLTCAP_PCP) ||
                     (sltctl & PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_ON;
        l->down = down_reasons(port, l);
        /* a new card: up at once where the base says so, as it does */
        l->up = !l->down && power_lets_train(port, l);
    } else {
        l->up = false;
        l->faulted = l->recovering = false;
    }
    set_dllla(port, l->up);
    if (was_up != l->up && port_reports_link(port) &&
        slot_fault_events(port)) {
        pci_word_test_and_set_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                   PCI_EXP_SLTSTA_DLLSC);
    }
}

/*
 * The base is about to apply the slot's power to the devices below: the
 * link follows (a card without power has no link), and the devices get
 * power only with an active link.
 */
bool pcie_slot_fault_gate_power(PCIDevice *port, bool power)
{
    PCIESlotLink *l = slot_link(port);

    /* a power-off refused by the live-translation check keeps power */
    power = live_xlate_gate_power(port, power);
    if (!l) {
        return power;
    }
    if (power && !l->powered && l->faulted) {
        l->recovering = true;       /* powered on again after the fault */
    }
    l->powered = power;
    link_eval(port, l, false);
    return power && l->up;
}

/*
 * The guest powered off a populated slot: the base would now detach the
 * card (its model of an operator pulling it).  After a link fault the card
 * has not left; it stays, unpowered, unless the host asked for its removal.
 */
static void removal_requested_one(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    if (DEVICE(dev)->pending_deleted_event) {
        *(bool *)opaque = true;
    }
}

bool pcie_slot_fault_power_off_detaches(PCIDevice *port)
{
    PCIESlotLink *l = slot_link(port);
    bool requested = false;

    if (!l || !l->faulted) {
        return true;
    }
    pci_for_each_device_under_bus(pci_bridge_get_sec_bus(PCI_BRIDGE(port)),
                                  removal_requested_one, &requested);
    trace_pcie_slot_link_power_off(DEVICE(port)->canonical_path, requested);
    return requested;
}

/* Writes to the port's config space (hook in pci_bridge_write_config()) */
void pcie_slot_fault_write_config(PCIDevice *port, uint32_t addr,
                                  uint32_t val, int len, uint16_t old_brctl)
{
    PCIESlotLink *l = slot_link(port);
    uint8_t *cap;
    bool eval = false;

    if (!l || !l->train_timer) {
        return;
    }
    cap = exp_cap(port);
    if (l->lc_on && ranges_overlap(addr, len,
                                   port->exp.exp_cap + PCI_EXP_LNKCTL, 2)) {
        uint16_t lnkctl = pci_get_word(cap + PCI_EXP_LNKCTL);

        trace_pcie_slot_link_lnkctl(DEVICE(port)->canonical_path, lnkctl);
        if (lnkctl & PCI_EXP_LNKCTL_RL) {
            /* Retrain Link always reads 0 */
            pci_word_test_and_clear_mask(cap + PCI_EXP_LNKCTL,
                                         PCI_EXP_LNKCTL_RL);
            if (!(lnkctl & PCI_EXP_LNKCTL_LD) && l->up &&
                !link_training(l)) {
                training_start(port, l, true);
            }
        }
        eval = true;
    }
    if (l->lc_on && ranges_overlap(addr, len, PCI_BRIDGE_CONTROL, 2) &&
        ((old_brctl ^ pci_get_word(port->config + PCI_BRIDGE_CONTROL)) &
         PCI_BRIDGE_CTL_BUS_RESET)) {
        trace_pcie_slot_link_sbr(DEVICE(port)->canonical_path,
                                 pci_get_word(port->config +
                                              PCI_BRIDGE_CONTROL) &
                                 PCI_BRIDGE_CTL_BUS_RESET);
        eval = true;
    }
    if (pcie_dpc_write_config(port, addr, val, len)) {
        eval = true;
    }
    if (eval) {
        link_eval(port, l, true);
    }
}

/* ------------------------------------------------------ host link faults */

bool pcie_slot_fault_port_check(PCIDevice *port, Error **errp)
{
    g_autofree char *path = object_get_canonical_path(OBJECT(port));
    const char *name = DEVICE(port)->id ? DEVICE(port)->id : path;

    if (!pci_is_express(port) ||
        !object_dynamic_cast(OBJECT(port), TYPE_PCI_BRIDGE) ||
        !(pci_get_word(exp_cap(port) + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_SLOT)) {
        error_setg(errp, "'%s' is not a PCI Express port with a slot", name);
        return false;
    }
    if (!(pci_get_long(exp_cap(port) + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC)) {
        error_setg(errp, "the slot of '%s' is not hot-plug capable", name);
        return false;
    }
    if (BUS(pci_bridge_get_sec_bus(PCI_BRIDGE(port)))->hotplug_handler !=
        HOTPLUG_HANDLER(port)) {
        /* e.g. q35's ACPI PCI hot-plug: the guest would never hear of it */
        error_setg(errp, "the slot of '%s' is not under native PCIe hot-plug "
                   "control (ACPI PCI hot-plug owns it)", name);
        error_append_hint(errp, "On q35 use -global "
                          "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off\n");
        return false;
    }
    return true;
}

/* As a slot power-off detaches them (hook patch "export pcie_unplug_device") */
static void unplug_one(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    trace_pcie_slot_fault_detach(DEVICE(dev)->canonical_path);
    pcie_unplug_device(bus, dev, opaque);
}

void pcie_slot_fault_surprise_remove(PCIDevice *port)
{
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(port));
    PCIESlotLink *l = slot_link(port);
    bool was_up = l ? l->up : true;
    uint16_t events = PCI_EXP_SLTSTA_PDC;

    trace_pcie_slot_fault_surprise_remove(DEVICE(port)->canonical_path);
    set_dllla(port, false);
    if (port_reports_link(port)) {
        events |= PCI_EXP_SLTSTA_DLLSC;
    }
    if (l) {
        training_stop(port, l);
        l->up = false;
    }
    pci_for_each_device_under_bus(sec, unplug_one, NULL);
    live_xlate_slot_unplugged(port);    /* no power-off pending any more */
    link_down_forget(port);             /* nothing left behind the link */
    pci_word_test_and_clear_mask(exp_cap(port) + PCI_EXP_SLTSTA,
                                 PCI_EXP_SLTSTA_PDS);
    if (l) {
        l->faulted = l->recovering = false;
        l->down = down_reasons(port, l);
    }
    if (was_up) {
        pcie_dpc_surprise_down(port);   /* with DPC: Surprise Down error */
    }
    signal_events(port, events);
    if (was_up) {
        surprise_down_report(port);     /* x-surprise-down-error */
    }
}

void pcie_slot_fault_set_link(PCIDevice *port, bool up)
{
    PCIESlotLink *l = slot_link(port);
    bool was_up = l && l->up;

    trace_pcie_slot_fault_link(DEVICE(port)->canonical_path, up);
    if (up) {
        link_down_forget(port);
    } else {
        if (!links_down) {
            links_down = g_hash_table_new(NULL, NULL);
        }
        if (g_hash_table_size(links_down) == 0) {
            error_setg(&link_down_blocker,
                       "a PCIe link is held down by x-pcie-link-set");
            migrate_add_blocker(&link_down_blocker, &error_warn);
        }
        g_hash_table_add(links_down, port);
    }
    if (!l) {
        return;
    }
    link_eval(port, l, true);
    if (was_up && !l->up) {
        pcie_dpc_surprise_down(port);   /* with DPC: Surprise Down error */
        surprise_down_report(port);     /* x-surprise-down-error */
    }
}

void pcie_slot_fault_power_fault(PCIDevice *port)
{
    trace_pcie_slot_fault_power_fault(DEVICE(port)->canonical_path);
    signal_events(port, PCI_EXP_SLTSTA_PFD);
}

/* ------------------------------------------------------------ migration */

static bool link_state_needed(void *opaque)
{
    PCIDevice *port = opaque;
    PCIESlotLink *l = slot_link(port);

    /* anything but the state a reset leaves: the destination needs it */
    return l && (l->up != card_present(port) || l->down ||
                 link_training(l) || l->faulted || l->recovering ||
                 l->retraining);
}

static int link_state_post_load(void *opaque, int version_id)
{
    PCIDevice *port = opaque;
    PCIESlotLink *l = slot_link(port);

    if (l && link_training(l)) {
        timer_mod(l->train_timer, l->train_deadline);
    }
    return 0;
}

#define PCIE_SLOT_LINK_VMSD(_parent) {                                   \
    .name = _parent "/plugfault-link",                                      \
    .version_id = 1,                                                        \
    .minimum_version_id = 1,                                                \
    .needed = link_state_needed,                                            \
    .post_load = link_state_post_load,                                      \
    .fields = (const VMStateField[]) {                                      \
        VMSTATE_UINT32(pf_link.down, PCIESlot),                             \
        VMSTATE_BOOL(pf_link.up, PCIESlot),                                 \
        VMSTATE_BOOL(pf_link.powered, PCIESlot),                            \
        VMSTATE_BOOL(pf_link.faulted, PCIESlot),                            \
        VMSTATE_BOOL(pf_link.recovering, PCIESlot),                         \
        VMSTATE_BOOL(pf_link.retraining, PCIESlot),                         \
        VMSTATE_INT64(pf_link.train_deadline, PCIESlot),                    \
        VMSTATE_END_OF_LIST()                                               \
    }                                                                       \
}

/* named after the parent VMState of each port type that has one */
static const VMStateDescription vmstate_link_rp =
    PCIE_SLOT_LINK_VMSD("pcie-root-port");
static const VMStateDescription vmstate_link_ioh3420 =
    PCIE_SLOT_LINK_VMSD("ioh-3240-express-root-port");
static const VMStateDescription vmstate_link_xio3130 =
    PCIE_SLOT_LINK_VMSD("xio3130-express-downstream-port");

const VMStateDescription *const pcie_slot_link_subsections_rp[] = {
    &vmstate_link_rp, NULL
};
const VMStateDescription *const pcie_slot_link_subsections_ioh3420[] = {
    &vmstate_link_ioh3420, NULL
};
const VMStateDescription *const pcie_slot_link_subsections_xio3130[] = {
    &vmstate_link_xio3130, NULL
};


/* ------------------------------------------------------------------ QMP */

typedef struct BusSearch {
    const char *name;
    DeviceState *port;
} BusSearch;

static int find_bus_cb(Object *obj, void *opaque)
{
    BusSearch *search = opaque;
    BusState *bus = (BusState *)object_dynamic_cast(obj, TYPE_PCI_BUS);

    if (bus && bus->name && !strcmp(bus->name, search->name) && bus->parent) {
        search->port = bus->parent;
        return 1;
    }
    return 0;
}

static PCIDevice *find_port(const char *name, Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(name, NULL);
    BusSearch search = { name, NULL };

    if (!dev) {
        object_child_foreach_recursive(qdev_get_machine(), find_bus_cb,
                                       &search);
        dev = search.port;
    }
    if (!dev) {
        error_setg(errp, "no device or PCI bus named '%s'", name);
        return NULL;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE)) {
        error_setg(errp, "'%s' is not a PCI device", name);
        return NULL;
    }
    if (!pcie_slot_fault_port_check(PCI_DEVICE(dev), errp)) {
        return NULL;
    }
    return PCI_DEVICE(dev);
}

void qmp_x_pcie_surprise_remove(const char *id, Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(id, errp);
    PCIBus *bus;

    if (!dev) {
        return;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE)) {
        error_setg(errp, "'%s' is not a PCI device", id);
        return;
    }
    bus = pci_get_bus(PCI_DEVICE(dev));
    if (pci_bus_is_root(bus) || !bus->parent_dev) {
        error_setg(errp, "'%s' is not in a PCIe slot (it is on a root bus)",
                   id);
        return;
    }
    if (!pcie_slot_fault_port_check(bus->parent_dev, errp)) {
        error_prepend(errp, "cannot surprise-remove '%s': ", id);
        return;
    }
    if (!live_xlate_slot_removal_allowed(bus->parent_dev, "surprise removal",
                                         errp)) {
        return;
    }
    pcie_slot_fault_surprise_remove(bus->parent_dev);
}

void qmp_x_pcie_link_set(const char *port, bool up, Error **errp)
{
    PCIDevice *p = find_port(port, errp);

    if (!p) {
        return;
    }
    if (host_holds_down(p) != up) {
        error_setg(errp, "the link of '%s' is already %s", port,
                   up ? "up" : "down");
        return;
    }
    pcie_slot_fault_set_link(p, up);
}

void qmp_x_pcie_power_fault(const char *port, Error **errp)
{
    PCIDevice *p = find_port(port, errp);

    if (!p) {
        return;
    }
    if (!(pci_get_long(exp_cap(p) + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP)) {
        error_setg(errp, "the slot of '%s' has no power controller", port);
        return;
    }
    pcie_slot_fault_power_fault(p);
}

PciePortLinkInfo *qmp_x_query_pcie_port(const char *port, Error **errp)
{
    PCIDevice *p = find_port(port, errp);
    PCIESlotLink *l;
    PciePortLinkInfo *info;
    uint32_t down;

    if (!p) {
        return NULL;
    }
    l = slot_link(p);
    if (!l) {
        error_setg(errp, "'%s' keeps no link state", port);
        return NULL;
    }
    down = down_reasons(p, l);
    info = g_new0(PciePortLinkInfo, 1);
    info->link_active = l->up;
    info->training = link_training(l);
    info->card_present = card_present(p);
    info->card_kept = l->faulted;
    info->link_control = l->lc_on;
    if (down & PCIE_LINK_DOWN_SBR) {
        QAPI_LIST_PREPEND(info->down,
                          PCIE_LINK_DOWN_REASON_SECONDARY_BUS_RESET);
    }
    if (down & PCIE_LINK_DOWN_DPC) {
        QAPI_LIST_PREPEND(info->down, PCIE_LINK_DOWN_REASON_CONTAINMENT);
    }
    if (down & PCIE_LINK_DOWN_LD) {
        QAPI_LIST_PREPEND(info->down, PCIE_LINK_DOWN_REASON_LINK_DISABLE);
    }
    if (down & PCIE_LINK_DOWN_HOST) {
        QAPI_LIST_PREPEND(info->down, PCIE_LINK_DOWN_REASON_HOST);
    }
    if (l->dpc_cap) {
        uint16_t sta = pci_get_word(p->config + l->dpc_cap +
                                    PCI_EXP_DPC_STATUS);
        PcieDpcInfo *dpc = g_new0(PcieDpcInfo, 1);

        dpc->triggered = sta & PCI_EXP_DPC_STATUS_TRIGGER;
        dpc->triggers = l->dpc_triggers;
        if (dpc->triggered) {
            dpc->has_reason = true;
            switch (sta & PCI_EXP_DPC_STATUS_TRIGGER_RSN) {
            case PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR:
                dpc->reason = PCIE_DPC_TRIGGER_REASON_UNCORRECTABLE;
                break;
            case PCI_EXP_DPC_STATUS_TRIGGER_RSN_NFE:
                dpc->reason = PCIE_DPC_TRIGGER_REASON_ERR_NONFATAL;
                break;
            case PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE:
                dpc->reason = PCIE_DPC_TRIGGER_REASON_ERR_FATAL;
                break;
            default:
                dpc->reason = (sta & PCI_EXP_DPC_STATUS_TRIGGER_RSN_EXT) ==
                              PCI_EXP_DPC_STATUS_TRIGGER_RSN_SW_TRIGGER ?
                              PCIE_DPC_TRIGGER_REASON_SOFTWARE :
                              PCIE_DPC_TRIGGER_REASON_RP_PIO;
                break;
            }
            if (dpc->reason == PCIE_DPC_TRIGGER_REASON_ERR_NONFATAL ||
                dpc->reason == PCIE_DPC_TRIGGER_REASON_ERR_FATAL) {
                dpc->has_source_id = true;
                dpc->source_id = pci_get_word(p->config + l->dpc_cap +
                                              PCI_EXP_DPC_SOURCE_ID);
            }
        }
        info->dpc = dpc;
    }
    return info;
}
