/*
 * plugfault: AER error injection over QMP (x-pcie-aer-inject)
 *
 * The QMP face of the base's HMP pcie_aer_inject_error
 * (hw/pci/pci-hmp-cmds.c): the same argument rules (an error name from
 * the base's table, or a number with @correctable), the same PCIEAERErr
 * handed to the same pcie_aer_inject_error() (hw/pci/pcie_aer.c), which
 * logs the error and sends the message up, through Downstream Port
 * Containment where a port has it enabled (hw/pci/pcie_dpc.c).  Refused,
 * unlike the HMP command: a device without an AER capability (the
 * injection would only touch Device Status).
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-pcie-slot-fault.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_aer.h"
#include "hw/pci/pcie_dpc.h"
#include "hw/qdev-core.h"
#include "hw/qdev-find.h"
#include "pci-internal.h"
#include "trace.h"

static PCIDevice *aer_find_device(const char *id, Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(id, errp);

    if (!dev) {
        return NULL;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE) ||
        !pci_is_express(PCI_DEVICE(dev))) {
        error_setg(errp, "device '%s' is not a PCIe device", id);
        return NULL;
    }
    if (!PCI_DEVICE(dev)->exp.aer_cap) {
        error_setg(errp, "device '%s' has no Advanced Error Reporting "
                   "capability", id);
        error_append_hint(errp, "virtio-pci devices have one with aer=on\n");
        return NULL;
    }
    return PCI_DEVICE(dev);
}

static bool tlp_dwords(const char *what, uint32List *list, uint32_t *out,
                       Error **errp)
{
    int n = 0;

    for (; list; list = list->next) {
        if (n == 4) {
            error_setg(errp, "'%s' takes at most 4 DWORDs", what);
            return false;
        }
        out[n++] = list->value;
    }
    return true;
}

void qmp_x_pcie_aer_inject(const char *id, const char *error,
                           bool has_correctable, bool correctable,
                           bool has_advisory_non_fatal,
                           bool advisory_non_fatal,
                           bool has_header, uint32List *header,
                           bool has_prefix, uint32List *prefix,
                           Error **errp)
{
    PCIDevice *dev = aer_find_device(id, errp);
    PCIEAERErr err = { 0 };
    uint32_t status;
    bool is_cor;
    unsigned int num;
    int ret;

    if (!dev) {
        return;
    }
    /* as hmp_pcie_aer_inject_error() */
    if (pcie_aer_parse_error_string(error, &status, &is_cor)) {
        if (qemu_strtoui(error, NULL, 0, &num) < 0) {
            error_setg(errp, "invalid error status value '%s'", error);
            error_append_hint(errp, "Give an error name (e.g. COMP_TIME, "
                              "RCVR) or the status bit's value\n");
            return;
        }
        status = num;
        is_cor = has_correctable && correctable;
    } else if (has_correctable) {
        error_setg(errp, "'correctable' is only valid with a numeric error "
                   "status");
        return;
    }
    err.status = status;
    err.source_id = pci_requester_id(dev);
    if (is_cor) {
        err.flags |= PCIE_AER_ERR_IS_CORRECTABLE;
    }
    if (has_advisory_non_fatal && advisory_non_fatal) {
        err.flags |= PCIE_AER_ERR_MAYBE_ADVISORY;
    }
    if (has_header) {
        err.flags |= PCIE_AER_ERR_HEADER_VALID;
        if (!tlp_dwords("header", header, err.header, errp)) {
            return;
        }
    }
    if (has_prefix) {
        err.flags |= PCIE_AER_ERR_TLP_PREFIX_PRESENT;
        if (!tlp_dwords("prefix", prefix, err.prefix, errp)) {
            return;
        }
    }

    trace_pcie_aer_qmp_inject(DEVICE(dev)->canonical_path, status, is_cor);
    ret = pcie_aer_inject_error(dev, &err);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "failed to inject error");
        if (ret == -EINVAL) {
            error_append_hint(errp, "Exactly one supported status bit must "
                              "be set\n");
        }
        return;
    }
    if (!is_cor) {
        pcie_dpc_port_error(dev, status);   /* the port's own error: DPC */
    }
}
