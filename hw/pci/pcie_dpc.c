/*
 * plugfault: Downstream Port Containment (DPC) on root and downstream ports
 *
 * The DPC extended capability (PCIe r6.0 sec 6.2.11, 7.9.14) on the ports
 * that have a slot, when their x-dpc property is on (off by default: the
 * capability changes the port's configuration space).  What Linux's DPC
 * driver (drivers/pci/pcie/dpc.c) uses is there:
 *
 * - triggers: an unmasked uncorrectable error the port detects itself
 *   (reason 00b; a surprise link down is one, see below), ERR_FATAL
 *   received from below (10b, with Trigger Enable 01b or 10b),
 *   ERR_NONFATAL received (01b, with 10b), the DPC Software Trigger
 *   (11b, extension 01b).  The Error Source ID logs the requester of a
 *   received message, which is discarded and not forwarded upstream; an
 *   error that triggers DPC is not signalled with an error message either
 *   (sec 6.2.11);
 * - containment: the link goes down (Data Link Layer Link Active clear,
 *   DLLSC, the devices below stop answering) and stays down until
 *   software clears DPC Trigger Status; then it retrains like any link
 *   (hw/pci/pcie_slot_fault.c);
 * - the DPC interrupt: DPC Interrupt Status with DPC Interrupt Enable, on
 *   the MSI-X/MSI vector the DPC Interrupt Message Number names (0, the
 *   port's only vector), INTx on ports without either;
 * - root ports: RP Extensions, with the RP PIO Status (RW1CS), Mask,
 *   Severity, SysError and Exception registers for the nine RP PIO errors
 *   (mask reset default: all implemented bits set), the First Error
 *   Pointer and a four-DWORD header log.  No model here issues a request
 *   below a root port that completes with UR or CA or times out, so no RP
 *   PIO error is ever logged and none triggers DPC: the registers are
 *   there for the driver to read and clear (dpc_process_rp_pio_error(),
 *   pci_clear_surpdn_errors()).  DPC Completion Control and ERR_COR
 *   Enable are writable and have no effect.
 *
 * Surprise Down: with x-dpc on, the port also advertises Surprise Down
 * Error Reporting (LNKCAP.SDERC) and reports a surprise link down (the
 * host's x-pcie-link-set down, x-pcie-surprise-remove) as the AER
 * uncorrectable error SDN, through the base's pcie_aer_inject_error(),
 * which triggers DPC when it is unmasked.  That is the asynchronous
 * removal model of PCIe r6.0 sec 6.7.6 that dpc_is_surprise_removal() in
 * Linux is written for.  Link Disable, Secondary Bus Reset and power-off
 * are not surprises.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/range.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie_aer.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/pcie_regs.h"
#include "hw/pci/pcie_dpc.h"
#include "hw/pci/pcie_slot_fault.h"
#include "trace.h"

static PCIESlotLink *dpc_link(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);

    return s && s->pf_link.dpc_cap ? &s->pf_link : NULL;
}

static bool is_root_port(PCIDevice *port)
{
    return pcie_cap_get_type(port) == PCI_EXP_TYPE_ROOT_PORT;
}

void pcie_dpc_init(PCIDevice *port)
{
    PCIESlot *s = (PCIESlot *)object_dynamic_cast(OBJECT(port),
                                                    TYPE_PCIE_SLOT);
    uint16_t pos = PCIE_DPC_OFFSET, size, cap;
    uint16_t next;

    if (!s || !s->pf_link.dpc || !pci_is_express(port)) {
        return;
    }
    size = is_root_port(port) ? PCIE_DPC_SIZEOF_RP : PCIE_DPC_SIZEOF_DSP;
    /* nothing of the port's own may sit where DPC goes */
    for (next = PCI_CONFIG_SPACE_SIZE; next;
         next = PCI_EXT_CAP_NEXT(pci_get_long(port->config + next))) {
        if (ranges_overlap(next, 8, pos, size)) {
            error_report("%s: x-dpc: config space at 0x%x is taken",
                         object_get_typename(OBJECT(port)), pos);
            return;
        }
        if (!pci_get_long(port->config + next)) {
            break;
        }
    }

    pcie_add_capability(port, PCI_EXT_CAP_ID_DPC, 1, pos, size);
    s->pf_link.dpc_cap = pos;

    cap = PCI_EXP_DPC_CAP_SW_TRIGGER;           /* Int Msg #0 */
    if (is_root_port(port)) {
        cap |= PCI_EXP_DPC_CAP_RP_EXT |
               (PCIE_DPC_RP_LOG_SIZE << 8);     /* RP PIO Log Size */
        pci_set_long(port->w1cmask + pos + PCI_EXP_DPC_RP_PIO_STATUS,
                     PCIE_DPC_RP_PIO_IMPL);
        pci_set_long(port->wmask + pos + PCI_EXP_DPC_RP_PIO_MASK,
                     PCIE_DPC_RP_PIO_IMPL);
        pci_set_long(port->wmask + pos + PCI_EXP_DPC_RP_PIO_SEVERITY,
                     PCIE_DPC_RP_PIO_IMPL);
        pci_set_long(port->wmask + pos + PCI_EXP_DPC_RP_PIO_SYSERROR,
                     PCIE_DPC_RP_PIO_IMPL);
        pci_set_long(port->wmask + pos + PCI_EXP_DPC_RP_PIO_EXCEPTION,
                     PCIE_DPC_RP_PIO_IMPL);
    }
    pci_set_word(port->config + pos + PCI_EXP_DPC_CAP, cap);
    pci_set_word(port->wmask + pos + PCI_EXP_DPC_CTL,
                 PCIE_DPC_CTL_TRIGGER_EN | PCIE_DPC_CTL_COMPLETION |
                 PCI_EXP_DPC_CTL_INT_EN | PCIE_DPC_CTL_ERR_COR_EN |
                 PCIE_DPC_CTL_SW_TRIGGER);
    pci_set_word(port->w1cmask + pos + PCI_EXP_DPC_STATUS,
                 PCI_EXP_DPC_STATUS_TRIGGER | PCI_EXP_DPC_STATUS_INTERRUPT);

    /* Surprise Down Error Reporting Capable: see the head of this file */
    pci_long_test_and_set_mask(port->config + port->exp.exp_cap +
                               PCI_EXP_LNKCAP, PCI_EXP_LNKCAP_SDERC);
    pcie_dpc_reset(port);
}

void pcie_dpc_reset(PCIDevice *port)
{
    PCIESlotLink *l = dpc_link(port);
    uint8_t *dpc;

    if (!l) {
        return;
    }
    dpc = port->config + l->dpc_cap;
    pci_set_word(dpc + PCI_EXP_DPC_CTL, 0);
    pci_set_word(dpc + PCI_EXP_DPC_STATUS, 0);
    pci_set_word(dpc + PCI_EXP_DPC_SOURCE_ID, 0);
    if (is_root_port(port)) {
        pci_set_long(dpc + PCI_EXP_DPC_RP_PIO_STATUS, 0);
        pci_set_long(dpc + PCI_EXP_DPC_RP_PIO_MASK, PCIE_DPC_RP_PIO_IMPL);
        pci_set_long(dpc + PCI_EXP_DPC_RP_PIO_SEVERITY, 0);
        pci_set_long(dpc + PCI_EXP_DPC_RP_PIO_SYSERROR, 0);
        pci_set_long(dpc + PCI_EXP_DPC_RP_PIO_EXCEPTION, 0);
        memset(dpc + PCI_EXP_DPC_RP_PIO_HEADER_LOG, 0, 16);
    }
}

bool pcie_dpc_triggered(PCIDevice *port)
{
    PCIESlotLink *l = dpc_link(port);

    return l && (pci_get_word(port->config + l->dpc_cap + PCI_EXP_DPC_STATUS) &
                 PCI_EXP_DPC_STATUS_TRIGGER);
}

static uint16_t dpc_ctl(PCIDevice *port, PCIESlotLink *l)
{
    return pci_get_word(port->config + l->dpc_cap + PCI_EXP_DPC_CTL);
}

static void dpc_irq_update(PCIDevice *port, PCIESlotLink *l, bool raise)
{
    uint16_t sta = pci_get_word(port->config + l->dpc_cap +
                                PCI_EXP_DPC_STATUS);
    unsigned vector = pci_get_word(port->config + l->dpc_cap +
                                   PCI_EXP_DPC_CAP) & PCI_EXP_DPC_IRQ;

    if (msix_enabled(port) || msi_enabled(port)) {
        if (raise) {
            trace_pcie_dpc_interrupt(DEVICE(port)->canonical_path, vector);
            pcie_slot_fault_port_notify(port, vector);
        }
    } else if (pci_intx(port) != -1) {
        /* shares the pin with hot-plug events: keep it while either is on */
        pci_set_irq(port, (sta & PCI_EXP_DPC_STATUS_INTERRUPT) ||
                          port->exp.hpev_notified);
    }
}

/*
 * Trigger DPC: @reason is the Trigger Reason and Extension field value of
 * DPC Status, @source the requester of a received message.
 */
static bool dpc_trigger(PCIDevice *port, PCIESlotLink *l, uint16_t reason,
                        uint16_t source)
{
    uint8_t *dpc = port->config + l->dpc_cap;
    uint16_t ctl = dpc_ctl(port, l);
    uint16_t sta;

    if (!(ctl & PCIE_DPC_CTL_TRIGGER_EN)) {
        return false;
    }
    if (pcie_dpc_triggered(port)) {
        return true;            /* already contained */
    }
    sta = PCI_EXP_DPC_STATUS_TRIGGER | reason;
    if (ctl & PCI_EXP_DPC_CTL_INT_EN) {
        sta |= PCI_EXP_DPC_STATUS_INTERRUPT;
    }
    pci_set_word(dpc + PCI_EXP_DPC_STATUS, sta);
    if ((reason & PCI_EXP_DPC_STATUS_TRIGGER_RSN) ==
        PCI_EXP_DPC_STATUS_TRIGGER_RSN_NFE ||
        (reason & PCI_EXP_DPC_STATUS_TRIGGER_RSN) ==
        PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE) {
        pci_set_word(dpc + PCI_EXP_DPC_SOURCE_ID, source);
    }
    l->dpc_triggers++;
    trace_pcie_dpc_trigger(DEVICE(port)->canonical_path, sta, source);
    pcie_slot_fault_link_changed(port);     /* the link goes down */
    if (sta & PCI_EXP_DPC_STATUS_INTERRUPT) {
        dpc_irq_update(port, l, true);
    }
    return true;
}

bool pcie_dpc_aer_msg(PCIDevice *dev, uint32_t severity, uint16_t source_id)
{
    PCIESlotLink *l = dpc_link(dev);
    uint16_t en;

    if (!l || severity == PCI_ERR_ROOT_CMD_COR_EN) {
        return false;
    }
    if (pcie_dpc_triggered(dev)) {
        return true;            /* contained: nothing goes upstream */
    }
    en = dpc_ctl(dev, l) & PCIE_DPC_CTL_TRIGGER_EN;
    if (source_id == pci_requester_id(dev)) {
        /* the port's own unmasked uncorrectable error */
        return en && dpc_trigger(dev, l, PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR,
                                 0);
    }
    if (severity == PCI_ERR_ROOT_CMD_FATAL_EN && (en == 1 || en == 2)) {
        return dpc_trigger(dev, l, PCI_EXP_DPC_STATUS_TRIGGER_RSN_FE,
                           source_id);
    }
    if (severity == PCI_ERR_ROOT_CMD_NONFATAL_EN && en == 2) {
        return dpc_trigger(dev, l, PCI_EXP_DPC_STATUS_TRIGGER_RSN_NFE,
                           source_id);
    }
    return false;
}

void pcie_dpc_port_error(PCIDevice *port, uint32_t status)
{
    PCIESlotLink *l = dpc_link(port);
    uint32_t mask;

    if (!l || !port->exp.aer_cap) {
        return;
    }
    mask = pci_get_long(port->config + port->exp.aer_cap +
                        PCI_ERR_UNCOR_MASK);
    if (!(status & mask)) {
        dpc_trigger(port, l, PCI_EXP_DPC_STATUS_TRIGGER_RSN_UNCOR, 0);
    }
}

void pcie_dpc_surprise_down(PCIDevice *port)
{
    PCIEAERErr err = {
        .status = PCI_ERR_UNC_SDN,
        .source_id = pci_requester_id(port),
        .flags = 0,
    };

    if (!dpc_link(port) || !port->exp.aer_cap) {
        return;
    }
    trace_pcie_dpc_surprise_down(DEVICE(port)->canonical_path);
    pcie_aer_inject_error(port, &err);      /* logs SDN, may signal it */
    pcie_dpc_port_error(port, PCI_ERR_UNC_SDN);
}

bool pcie_dpc_write_config(PCIDevice *port, uint32_t addr, uint32_t val,
                           int len)
{
    PCIESlotLink *l = dpc_link(port);
    uint8_t *dpc;
    uint16_t ctl;

    if (!l || !ranges_overlap(addr, len, l->dpc_cap, PCIE_DPC_SIZEOF_DSP)) {
        return false;
    }
    dpc = port->config + l->dpc_cap;
    ctl = dpc_ctl(port, l);
    if (ctl & PCIE_DPC_CTL_SW_TRIGGER) {
        /* DPC Software Trigger: acts on a 1 written, reads 0 */
        pci_word_test_and_clear_mask(dpc + PCI_EXP_DPC_CTL,
                                     PCIE_DPC_CTL_SW_TRIGGER);
        if (!dpc_trigger(port, l, PCI_EXP_DPC_STATUS_TRIGGER_RSN_IN_EXT |
                                  PCI_EXP_DPC_STATUS_TRIGGER_RSN_SW_TRIGGER,
                         0)) {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: DPC Software Trigger with "
                          "DPC disabled (Trigger Enable 00b): ignored\n",
                          DEVICE(port)->canonical_path);
        }
    }
    if (!pcie_dpc_triggered(port)) {
        /* Trigger Status cleared: reason and source go with it */
        pci_word_test_and_clear_mask(dpc + PCI_EXP_DPC_STATUS,
                                     PCI_EXP_DPC_STATUS_TRIGGER_RSN |
                                     PCI_EXP_DPC_STATUS_TRIGGER_RSN_EXT);
        pci_set_word(dpc + PCI_EXP_DPC_SOURCE_ID, 0);
    }
    trace_pcie_dpc_write(DEVICE(port)->canonical_path,
                         pci_get_word(dpc + PCI_EXP_DPC_CTL),
                         pci_get_word(dpc + PCI_EXP_DPC_STATUS));
    dpc_irq_update(port, l, false);
    return true;                /* the link model looks again */
}
