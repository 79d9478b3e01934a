/*
 * plugfault: the endpoint side of ATS invalidation, with fault injection
 *
 * An IOMMU that models device-TLB invalidation (hw/i386/intel_iommu_qi.c)
 * sends an ATS Invalidate Request here; the addressed endpoint answers with
 * an Invalidate Completion after a latency in virtual time, or does not
 * answer at all: when it is absent (unplugged or surprise-removed), powered
 * off or cut off by a link that is down anywhere on its path to the root
 * (pcie_slot_fault_link_is_down()), when ATS is disabled in its ATS
 * capability, or when QMP x-ats-inject (qapi/vtd-fault.json) tells it to
 * drop requests.  Whether it can answer is checked both when the request
 * arrives and when the answer would leave the device.  Injection and the
 * answers in flight belong to the device instance: they go when it is
 * unrealized (hook in pci_qdev_unrealize()), so a new device plugged with
 * the same id starts afresh and never sends its predecessor's answers.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "qemu/queue.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vtd-fault.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_ats_inval.h"
#include "hw/pci/pcie_slot_fault.h"
#include "hw/qdev-core.h"
#include "hw/qdev-find.h"
#include "qom/object.h"
#include "trace.h"

/*
 * Per-endpoint behaviour set by x-ats-inject, keyed by the device instance
 * (PCIDevice *): a new device with the same id does not inherit it.
 * Dropped when the device is unrealized (pcie_ats_inval_unrealize()).
 */
typedef struct ATSInject {
    AtsInjectMode mode;
    uint64_t delay_ns;
} ATSInject;

static GHashTable *injections;

/* An Invalidate Completion on its way back from the device instance @dev. */
typedef struct ATSAnswer {
    QEMUTimer *timer;
    PCIDevice *dev;         /* valid: answers go when @dev is unrealized */
    uint16_t sid;
    uint8_t itag;           /* the tag the endpoint will send */
    PCIeATSInvalDone *done;
    void *opaque;
    QLIST_ENTRY(ATSAnswer) next;
} ATSAnswer;

static QLIST_HEAD(, ATSAnswer) answers = QLIST_HEAD_INITIALIZER(answers);

/*
 * Whether @dev can exchange ATS messages now: present, ATS capable and
 * enabled, powered, and every link up to the root up.
 */
static bool ats_endpoint_ready(PCIDevice *dev, const char **why)
{
    PCIBus *bus;

    if (!dev || !DEVICE(dev)->realized) {
        *why = "absent";
        return false;
    }
    if (!pci_is_express(dev) || !dev->exp.ats_cap ||
        !(pci_get_word(dev->config + dev->exp.ats_cap + PCI_ATS_CTRL) &
          PCI_ATS_CTRL_ENABLE)) {
        *why = "ATS disabled";
        return false;
    }
    if (!dev->enabled) {
        *why = "powered off";
        return false;
    }
    for (bus = pci_get_bus(dev); !pci_bus_is_root(bus);
         bus = pci_get_bus(bus->parent_dev)) {
        PCIDevice *port = bus->parent_dev;

        if (pci_is_express(port) && port->exp.exp_cap &&
            pcie_slot_fault_link_is_down(port)) {
            *why = "link down";
            return false;
        }
    }
    return true;
}

static ATSInject *injection_of(PCIDevice *dev)
{
    ATSInject *inj = NULL;

    if (injections && g_hash_table_size(injections)) {
        inj = g_hash_table_lookup(injections, dev);
    }
    return inj;
}

static void answer_free(ATSAnswer *a)
{
    QLIST_REMOVE(a, next);
    timer_free(a->timer);
    g_free(a);
}

static void answer_fire(void *opaque)
{
    ATSAnswer *a = opaque;
    const char *why = NULL;
    PCIeATSInvalDone *done = a->done;
    void *done_opaque = a->opaque;
    uint16_t sid = a->sid;
    uint8_t itag = a->itag;

    if (!ats_endpoint_ready(a->dev, &why)) {
        trace_pcie_ats_inval_lost(sid, itag, why);
        answer_free(a);
        return;
    }
    trace_pcie_ats_inval_complete(sid, itag);
    answer_free(a);
    done(done_opaque, sid, itag);
}

void pcie_ats_inval_send(PCIDevice *dev, uint16_t sid, uint8_t itag,
                         PCIeATSInvalDone *done, void *opaque)
{
    const char *why = NULL;
    uint64_t latency = PCIE_ATS_INVAL_LATENCY_NS;
    uint8_t answer_tag = itag;
    int64_t deadline;
    ATSInject *inj;
    ATSAnswer *a;

    if (!ats_endpoint_ready(dev, &why)) {
        trace_pcie_ats_inval_unanswered(sid, itag, why);
        return;
    }
    inj = injection_of(dev);
    if (inj) {
        switch (inj->mode) {
        case ATS_INJECT_MODE_DROP:
            trace_pcie_ats_inval_unanswered(sid, itag, "x-ats-inject drop");
            return;
        case ATS_INJECT_MODE_DELAY:
            latency = inj->delay_ns;
            break;
        case ATS_INJECT_MODE_WRONG_COMPLETION:
            answer_tag = (itag + 16) & 0x1f;
            break;
        default:
            break;
        }
    }
    deadline = pcie_ats_inval_deadline(latency);
    if (deadline == INT64_MAX) {
        trace_pcie_ats_inval_unanswered(sid, itag, "delay beyond the clock");
        return;
    }
    trace_pcie_ats_inval_request(sid, itag, answer_tag, latency);

    a = g_new0(ATSAnswer, 1);
    a->dev = dev;
    a->sid = sid;
    a->itag = answer_tag;
    a->done = done;
    a->opaque = opaque;
    a->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, answer_fire, a);
    QLIST_INSERT_HEAD(&answers, a, next);
    timer_mod(a->timer, deadline);
}

void pcie_ats_inval_cancel(void *opaque)
{
    ATSAnswer *a, *tmp;

    QLIST_FOREACH_SAFE(a, &answers, next, tmp) {
        if (a->opaque == opaque) {
            trace_pcie_ats_inval_cancel(a->sid, a->itag);
            answer_free(a);
        }
    }
}

void pcie_ats_inval_unrealize(PCIDevice *dev)
{
    ATSAnswer *a, *tmp;

    QLIST_FOREACH_SAFE(a, &answers, next, tmp) {
        if (a->dev == dev) {
            trace_pcie_ats_inval_lost(a->sid, a->itag, "device unrealized");
            answer_free(a);
        }
    }
    if (injections) {
        g_hash_table_remove(injections, dev);
    }
}

void qmp_x_ats_inject(const char *id, AtsInjectMode mode,
                      bool has_delay_ns, uint64_t delay_ns, Error **errp)
{
    DeviceState *ds = qdev_find_by_id_or_path(id, errp);
    PCIDevice *dev;
    ATSInject *inj;

    if (!ds) {
        return;
    }
    dev = (PCIDevice *)object_dynamic_cast(OBJECT(ds), TYPE_PCI_DEVICE);
    if (!dev || !pci_is_express(dev) || !dev->exp.ats_cap) {
        error_setg(errp, "'%s' is not a PCI Express endpoint with an ATS "
                   "capability", id);
        return;
    }
    if ((mode == ATS_INJECT_MODE_DELAY) != has_delay_ns) {
        error_setg(errp, mode == ATS_INJECT_MODE_DELAY ?
                   "mode 'delay' needs 'delay-ns'" :
                   "'delay-ns' is only valid with mode 'delay'");
        return;
    }
    if (!injections) {
        injections = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    }
    trace_pcie_ats_inval_inject(ds->canonical_path, AtsInjectMode_str(mode),
                                delay_ns);
    if (mode == ATS_INJECT_MODE_RESPOND) {
        g_hash_table_remove(injections, dev);
        return;
    }
    inj = g_new0(ATSInject, 1);
    inj->mode = mode;
    inj->delay_ns = delay_ns;
    g_hash_table_replace(injections, dev, inj);
}
