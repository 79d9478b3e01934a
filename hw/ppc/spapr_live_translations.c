/*
 * plugfault: the partition-removal check on pseries
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * PowerVM refuses to isolate a device from a partition while translations
 * to its memory are live: RTAS ibm,set-indicator(9001 isolation-state,
 * DRC, 0 isolate) returns -9001.  Here the same, for PCI DRCs, with the
 * tracker of accel/tcg/live-translations.c: devices on a PHB's root bus are
 * watched when the PHB's x-strict-removal resolves on (auto: on under
 * TCG).  The guest's own rpaphp/drmgr path sees the -9001; QMP sees the
 * LIVE_TRANSLATION_REMOVAL_REFUSED event (action "rtas isolate", slot the
 * DRC's name, e.g. "C16").
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qom/object.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr_drc.h"
#include "hw/ppc/spapr_live_translations.h"
#include "hw/pci/live-translations-check.h"
#include "system/system.h"
#include "system/tcg.h"

static SpaprPhbState *phb_of(PCIDevice *d)
{
    PCIBus *bus = pci_get_bus(d);

    if (!bus || bus->parent_dev) {
        return NULL;        /* behind a bridge: not a DRC-isolated device */
    }
    return (SpaprPhbState *)object_dynamic_cast(OBJECT(BUS(bus)->parent),
                                                 TYPE_SPAPR_PCI_HOST_BRIDGE);
}

static bool phb_strict(SpaprPhbState *sphb)
{
    switch (sphb->x_strict_removal) {
    case ON_OFF_AUTO_ON:
        return true;
    case ON_OFF_AUTO_OFF:
        return false;
    default:
        return tcg_enabled();
    }
}

static bool spapr_root_bus_watched(PCIDevice *d)
{
    SpaprPhbState *sphb = phb_of(d);

    return sphb && phb_strict(sphb) && tcg_enabled();
}

/* The DRC's name, as spapr_drc.c puts it in the device tree ("C16"). */
static char *drc_name(SpaprDrc *drc)
{
    return g_strdup_printf("%s%d",
                           SPAPR_DR_CONNECTOR_GET_CLASS(drc)->drc_name_prefix,
                           drc->id);
}

bool spapr_live_xlate_isolate_allowed(SpaprDrc *drc)
{
    g_autofree char *name = NULL;

    PCIDevice *d;
    SpaprPhbState *sphb;

    if (!drc->dev || !object_dynamic_cast(OBJECT(drc->dev), TYPE_PCI_DEVICE)) {
        return true;
    }
    d = PCI_DEVICE(drc->dev);
    sphb = phb_of(d);
    if (!sphb || !phb_strict(sphb)) {
        return true;
    }
    if (!tcg_enabled()) {
        return false;       /* x-strict-removal=on without TCG: warned at start */
    }
    name = drc_name(drc);
    return live_xlate_device_removal_allowed(d, name, "rtas isolate", NULL);
}

static int warn_if_strict_no_tcg(Object *obj, void *opaque)
{
    SpaprPhbState *sphb = (SpaprPhbState *)
        object_dynamic_cast(obj, TYPE_SPAPR_PCI_HOST_BRIDGE);

    if (sphb && phb_strict(sphb)) {
        if (!tcg_enabled()) {
            warn_report("%s: x-strict-removal=on needs TCG: the live-translation"
                        " check reads the guest's TLB fills, which KVM does not"
                        " expose; RTAS isolation of its devices will fail with"
                        " -9001", object_get_canonical_path_component(obj));
        }
    }
    return 0;
}

static void machine_done(Notifier *n, void *opaque)
{
    object_child_foreach_recursive(object_get_root(), warn_if_strict_no_tcg,
                                   NULL);
}

static Notifier machine_done_notifier = { .notify = machine_done };

static void spapr_live_xlate_register(void)
{
    /* the policy is asked at each device's realize, so set it early */
    live_xlate_set_root_bus_policy(spapr_root_bus_watched);
    qemu_add_machine_init_done_notifier(&machine_done_notifier);
}
type_init(spapr_live_xlate_register)
