/*
 * plugfault: asynchronous queued-invalidation engine for intel-iommu
 *
 * The base model processes the whole invalidation queue synchronously when
 * the guest writes IQT, and a device-TLB invalidation "completes" at once.
 * This engine (on by default, intel-iommu property x-qi-engine, field
 * qi.async_engine beside the base's qi_enabled, which is GSTS.QIES) replaces
 * that loop, as the VT-d specification describes the hardware:
 *
 *  - descriptors are fetched from IQH toward IQT; context-cache, IOTLB,
 *    PASID-cache, PASID-IOTLB and interrupt-entry-cache descriptors complete
 *    when fetched, through the base's own processing functions
 *    (vtd_qi_base_process(), exported by the hook patch); registers are
 *    read and written, and fault and completion events raised, by the
 *    base's own functions (exported by the hook patch "hw/i386/intel_iommu:
 *    export what the QI engine calls");
 *  - a device-TLB or PASID device-TLB invalidation is sent to its endpoint
 *    as an ATS Invalidate Request (hw/pci/pcie_ats_inval.c) and completes
 *    only when the endpoint answers with the right Invalidate Tag; at most
 *    the descriptor's Invalidate Queue Depth requests per endpoint are out;
 *  - a wait descriptor completes (status write, ICS.IWC and completion
 *    interrupt) only once everything fetched before it has completed; with
 *    FN set nothing after it is fetched until then;
 *  - Invalidation Time-out Error: a request unanswered after x-ite-timeout-ns
 *    of virtual time (default 60 s, PCIe's completion time-out for ATS
 *    invalidation) sets FSTS.ITE, latches IQER.ITESID (only if ITE was
 *    clear), raises a fault event unless one is already pending, aborts the
 *    fetched but incomplete wait descriptors (no status write, no IWC),
 *    forgets the other outstanding requests, and fetches nothing more until
 *    the guest clears ITE; fetching then resumes from IQH, which points past
 *    every descriptor fetched;
 *  - Invalidation Completion Error: an answer matching no outstanding
 *    request sets FSTS.ICE and latches IQER.ICESID;
 *  - Invalidation Queue Error: a bad tail, a failed fetch, an unknown type,
 *    a reserved field set or a descriptor the queue's width cannot carry
 *    sets FSTS.IQE with IQER.IQEI; IQH points at the faulting descriptor
 *    and fetching resumes from there when the guest clears IQE.
 *
 * Nothing here arms a timer unless a device-TLB request is outstanding, so
 * the IOTLB-only path costs what the base loop costs.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/qapi-events-vtd-fault.h"
#include "hw/i386/intel_iommu.h"
#include "hw/i386/intel_iommu_qi.h"
#include "hw/pci/pcie_ats_inval.h"
#include "intel_iommu_internal.h"
#include "system/dma.h"
#include "system/runstate.h"
#include "migration/vmstate.h"
#include "trace.h"

/* ---------------------------------------------------------------- registers */

static void qi_update_iqh(IntelIOMMUState *s)
{
    int shift = s->iq_dw ? VTD_IQH_QH_SHIFT_5 : VTD_IQH_QH_SHIFT_4;

    stq_le_p(&s->csr[DMAR_IQH_REG],
             ((uint64_t)s->iq_head << shift) & VTD_IQH_QH_MASK);
}

/* Set FSTS.IQE/ICE/ITE, latch IQER, fault event, QMP event. */
static void qi_error(IntelIOMMUState *s, VtdQiErrorKind kind, uint16_t sid,
                     uint8_t iqei)
{
    static const uint32_t bit[] = {
        [VTD_QI_ERROR_KIND_IQE] = VTD_FSTS_IQE,
        [VTD_QI_ERROR_KIND_ICE] = VTD_FSTS_ICE,
        [VTD_QI_ERROR_KIND_ITE] = VTD_FSTS_ITE,
    };
    uint32_t pre = vtd_get_long_raw(s, DMAR_FSTS_REG);
    g_autofree char *path = NULL;

    trace_vtd_qi_error(VtdQiErrorKind_str(kind), sid, s->iq_head, s->iq_tail,
                       iqei);
    if (pre & bit[kind]) {
        /* IQER keeps the record of the first error until software clears */
        return;
    }
    vtd_set_clear_mask_long(s, DMAR_FSTS_REG, 0, bit[kind]);
    switch (kind) {
    case VTD_QI_ERROR_KIND_IQE:
        vtd_set_clear_mask_quad(s, DMAR_IQER_REG, VTD_IQER_IQEI_MASK, iqei);
        qemu_log_mask(LOG_GUEST_ERROR, "intel-iommu: invalidation queue "
                      "error IQEI %u at head %u tail %u\n", iqei,
                      s->iq_head, s->iq_tail);
        break;
    case VTD_QI_ERROR_KIND_ICE:
        vtd_set_clear_mask_quad(s, DMAR_IQER_REG,
                                0xffffULL << VTD_IQER_ICESID_SHIFT,
                                (uint64_t)sid << VTD_IQER_ICESID_SHIFT);
        break;
    case VTD_QI_ERROR_KIND_ITE:
        vtd_set_clear_mask_quad(s, DMAR_IQER_REG,
                                0xffffULL << VTD_IQER_ITESID_SHIFT,
                                (uint64_t)sid << VTD_IQER_ITESID_SHIFT);
        break;
    default:
        g_assert_not_reached();
    }
    vtd_generate_fault_event(s, pre);

    path = object_get_canonical_path(OBJECT(s));
    qapi_event_send_x_vtd_qi_error(path, kind, sid, s->iq_head, s->iq_tail,
                                   kind == VTD_QI_ERROR_KIND_IQE, iqei);
}

static void qi_iqe(IntelIOMMUState *s, uint8_t iqei)
{
    qi_error(s, VTD_QI_ERROR_KIND_IQE, 0, iqei);
}

/* ---------------------------------------------------------------- pending */

static void qi_remove(VTDQIEngine *e, uint32_t i)
{
    e->npending--;
    memmove(&e->pending[i], &e->pending[i + 1],
            (e->npending - i) * sizeof(e->pending[0]));
}

static bool qi_is_devtlb(const VTDQIPending *p)
{
    return p->type != VTD_INV_DESC_WAIT;
}

static void qi_arm_timer(IntelIOMMUState *s)
{
    VTDQIEngine *e = &s->qi;
    int64_t first = INT64_MAX;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        if (qi_is_devtlb(&e->pending[i]) && e->pending[i].deadline < first) {
            first = e->pending[i].deadline;
        }
    }
    if (first == INT64_MAX) {
        timer_del(e->ite_timer);
    } else {
        timer_mod(e->ite_timer, first);
    }
}

static void qi_wait_complete(IntelIOMMUState *s, uint16_t slot,
                             uint64_t lo, uint64_t hi)
{
    trace_vtd_qi_wait_done(slot, lo, hi);
    if (lo & VTD_INV_DESC_WAIT_SW) {
        uint32_t data = cpu_to_le32(lo >> VTD_INV_DESC_WAIT_DATA_SHIFT);

        if (dma_memory_write(&address_space_memory, hi, &data, sizeof(data),
                             MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR, "intel-iommu: wait descriptor "
                          "status write to 0x%" PRIx64 " failed\n", hi);
        }
    }
    if (lo & VTD_INV_DESC_WAIT_IF) {
        vtd_generate_completion_event(s);
    }
}

/* Complete the wait descriptors nothing incomplete precedes any more. */
static void qi_retire(IntelIOMMUState *s)
{
    VTDQIEngine *e = &s->qi;

    while (e->npending && e->pending[0].type == VTD_INV_DESC_WAIT) {
        VTDQIPending w = e->pending[0];

        qi_remove(e, 0);
        qi_wait_complete(s, w.slot, w.lo, w.hi);
    }
}

/* Drop everything pending; @ite: waits are aborted by a time-out. */
static void qi_drop_all(IntelIOMMUState *s, bool ite)
{
    VTDQIEngine *e = &s->qi;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        VTDQIPending *p = &e->pending[i];

        if (qi_is_devtlb(p)) {
            trace_vtd_qi_devtlb_discarded(p->slot, p->sid, p->itag);
        } else if (ite) {
            trace_vtd_qi_wait_aborted(p->slot);
        }
    }
    e->npending = 0;
    timer_del(e->ite_timer);
    qemu_bh_cancel(e->run_bh);
    pcie_ats_inval_cancel(s);
}

static void qi_run(IntelIOMMUState *s);

/*
 * The endpoint with requester id @sid among the devices this IOMMU
 * translates for (on any bus behind it: pxb-pcie expanders too), found
 * the way the base finds the address space it invalidates for the same
 * descriptor.  NULL if there is none.
 */
static PCIDevice *qi_endpoint(IntelIOMMUState *s, uint16_t sid)
{
    VTDAddressSpace *as = vtd_get_as_by_sid(s, sid);

    return as ? pci_find_device(as->bus, pci_bus_num(as->bus), as->devfn)
              : NULL;
}

/* An endpoint answered (hw/pci/pcie_ats_inval.c). */
static void qi_ats_done(void *opaque, uint16_t sid, uint8_t itag)
{
    IntelIOMMUState *s = opaque;
    VTDQIEngine *e = &s->qi;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        VTDQIPending *p = &e->pending[i];

        if (qi_is_devtlb(p) && p->sid == sid && p->itag == itag) {
            trace_vtd_qi_devtlb_done(p->slot, sid, itag);
            qi_remove(e, i);
            qi_arm_timer(s);
            qi_run(s);              /* retires the waits it unblocked */
            return;
        }
    }
    trace_vtd_qi_ice(sid, itag);
    qi_error(s, VTD_QI_ERROR_KIND_ICE, sid, 0);
}

static void qi_ite_timer(void *opaque)
{
    IntelIOMMUState *s = opaque;
    VTDQIEngine *e = &s->qi;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    VTDQIPending *first = NULL;
    uint16_t sid;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        VTDQIPending *p = &e->pending[i];

        if (qi_is_devtlb(p) && p->deadline <= now &&
            (!first || p->deadline < first->deadline)) {
            first = p;
        }
    }
    if (!first) {
        qi_arm_timer(s);
        return;
    }
    trace_vtd_qi_ite(first->slot, first->sid, first->itag, now);
    sid = first->sid;
    qi_drop_all(s, true);
    qi_error(s, VTD_QI_ERROR_KIND_ITE, sid, 0);
}

static void qi_send(IntelIOMMUState *s, VTDInvDesc *d, uint8_t type,
                    uint16_t sid)
{
    VTDQIEngine *e = &s->qi;
    VTDQIPending *p = &e->pending[e->npending];
    uint32_t i;
    uint8_t tag;
    int n;

    /* a tag no request to this endpoint is using (at most 32 are out) */
    for (n = 0, tag = e->next_itag; n < 32; n++, tag = (tag + 1) & 0x1f) {
        for (i = 0; i < e->npending; i++) {
            if (qi_is_devtlb(&e->pending[i]) && e->pending[i].sid == sid &&
                e->pending[i].itag == tag) {
                break;
            }
        }
        if (i == e->npending) {
            break;
        }
    }
    e->next_itag = (tag + 1) & 0x1f;

    p->lo = d->lo;
    p->hi = d->hi;
    p->slot = s->iq_head;
    p->sid = sid;
    p->type = type;
    p->itag = tag;
    p->deadline = pcie_ats_inval_deadline(e->ite_timeout_ns);
    e->npending++;

    trace_vtd_qi_devtlb_send(p->slot, sid, tag, p->deadline);
    if (p->deadline != INT64_MAX) {
        timer_mod_anticipate(e->ite_timer, p->deadline);
    }
    pcie_ats_inval_send(qi_endpoint(s, sid), sid, tag, qi_ats_done, s);
}

/* Requests to @sid outstanding, against its invalidate queue depth. */
static bool qi_queue_full(IntelIOMMUState *s, uint16_t sid, unsigned qdep)
{
    VTDQIEngine *e = &s->qi;
    unsigned n = 0;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        if (qi_is_devtlb(&e->pending[i]) && e->pending[i].sid == sid) {
            n++;
        }
    }
    return n >= (qdep ? qdep : 32);
}

static bool qi_fenced(IntelIOMMUState *s)
{
    VTDQIEngine *e = &s->qi;
    uint32_t i;

    for (i = 0; i < e->npending; i++) {
        if (e->pending[i].type == VTD_INV_DESC_WAIT &&
            (e->pending[i].lo & VTD_INV_DESC_WAIT_FN)) {
            return true;
        }
    }
    return false;
}

typedef enum {
    QI_DONE,        /* consumed: advance the head */
    QI_STALL,       /* not consumed, retry after a completion */
    QI_ERROR,       /* IQE raised: the head stays on it */
} QIStep;

/*
 * Descriptors are fetched up to QI_FETCH_BATCH at a time (never past the
 * tail or the end of the queue), as hardware prefetches: one DMA read for
 * many descriptors keeps the IOTLB-only path faster than the base's one
 * read per descriptor.  A failed batch read is retried one descriptor at a
 * time, so a fetch error is reported at the descriptor that caused it.
 */
#define QI_FETCH_BATCH  16

typedef struct QIFetch {
    uint64_t raw[QI_FETCH_BATCH * 4];
    uint16_t first;             /* slot of raw[0] */
    unsigned n;                 /* descriptors in raw[] */
} QIFetch;

static bool qi_fetch(IntelIOMMUState *s, QIFetch *f, VTDInvDesc *d)
{
    unsigned dw = s->iq_dw ? 32 : 16;
    unsigned words = dw / 8;
    unsigned idx = (uint16_t)(s->iq_head - f->first);
    unsigned i;

    /* idx wraps to a large value when the head is before the batch */
    if (!f->n || idx >= f->n) {
        unsigned n = (s->iq_tail > s->iq_head ? s->iq_tail : s->iq_size) -
                     s->iq_head;

        f->first = s->iq_head;
        f->n = MIN(n, QI_FETCH_BATCH);
        idx = 0;
        if (dma_memory_read(&address_space_memory, s->iq + s->iq_head * dw,
                            f->raw, f->n * dw,
                            MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
            f->n = 1;
            if (dma_memory_read(&address_space_memory,
                                s->iq + s->iq_head * dw, f->raw, dw,
                                MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
                f->n = 0;
                return false;
            }
        }
    }
    for (i = 0; i < 4; i++) {
        d->val[i] = i < words ? le64_to_cpu(f->raw[idx * words + i]) : 0;
    }
    return true;
}

/*
 * A (PASID) device-TLB invalidation: wait for room in the endpoint's
 * invalidate queue, let the base check and process it, send it.
 */
static QIStep qi_devtlb(IntelIOMMUState *s, VTDInvDesc *d, uint8_t type,
                        uint16_t sid, unsigned qdep)
{
    if (qi_queue_full(s, sid, qdep)) {
        trace_vtd_qi_stall(s->iq_head, "invalidate queue depth");
        return QI_STALL;
    }
    if (!vtd_qi_base_process(s, d)) {
        qi_iqe(s, VTD_IQEI_RESERVED);
        return QI_ERROR;
    }
    qi_send(s, d, type, sid);
    return QI_DONE;
}

static QIStep qi_step(IntelIOMMUState *s, QIFetch *f)
{
    VTDQIEngine *e = &s->qi;
    VTDInvDesc d;
    uint8_t type;
    QIStep ret;

    if (!qi_fetch(s, f, &d)) {
        qi_iqe(s, VTD_IQEI_FETCH);
        return QI_ERROR;
    }
    type = VTD_INV_DESC_TYPE(d.lo);
    trace_vtd_qi_desc(s->iq_head, type, d.val[0], d.val[1], d.val[2],
                      d.val[3]);

    switch (type) {
    case VTD_INV_DESC_CC:
    case VTD_INV_DESC_IOTLB:
    case VTD_INV_DESC_IEC:
        if (!vtd_qi_base_process(s, &d)) {
            qi_iqe(s, VTD_IQEI_RESERVED);
            return QI_ERROR;
        }
        break;

    case VTD_INV_DESC_DEVICE:
        if (!(s->ecap & VTD_ECAP_DT)) {
            qi_iqe(s, VTD_IQEI_BAD_TYPE);
            return QI_ERROR;
        }
        ret = qi_devtlb(s, &d, type, VTD_INV_DESC_DEVICE_IOTLB_SID(d.lo),
                        (d.lo >> 16) & 0x1f);
        if (ret != QI_DONE) {
            return ret;
        }
        break;

    case VTD_INV_DESC_PIOTLB:
    case VTD_INV_DESC_PC:
    case VTD_INV_DESC_DEV_PIOTLB:
        if (!(s->ecap & VTD_ECAP_SMTS) ||
            (type == VTD_INV_DESC_DEV_PIOTLB && !(s->ecap & VTD_ECAP_DT))) {
            qi_iqe(s, VTD_IQEI_BAD_TYPE);
            return QI_ERROR;
        }
        if (!s->iq_dw) {
            qi_iqe(s, VTD_IQEI_BAD_WIDTH);
            return QI_ERROR;
        }
        if (type == VTD_INV_DESC_PC) {
            break;              /* the base keeps no PASID cache */
        }
        if (type == VTD_INV_DESC_DEV_PIOTLB) {
            ret = qi_devtlb(s, &d, type,
                            VTD_INV_DESC_PASID_DEVICE_IOTLB_SID(d.lo),
                            (d.lo >> 4) & 0x1f);
            if (ret != QI_DONE) {
                return ret;
            }
        } else if (!vtd_qi_base_process(s, &d)) {
            qi_iqe(s, VTD_IQEI_RESERVED);
            return QI_ERROR;
        }
        break;

    case VTD_INV_DESC_WAIT:
        if ((d.lo & VTD_INV_DESC_WAIT_RSVD_LO) ||
            (d.hi & VTD_INV_DESC_WAIT_RSVD_HI) || d.val[2] || d.val[3]) {
            qi_iqe(s, VTD_IQEI_RESERVED);
            return QI_ERROR;
        }
        if (!e->npending) {
            qi_wait_complete(s, s->iq_head, d.lo, d.hi);
        } else {
            VTDQIPending *p = &e->pending[e->npending++];

            memset(p, 0, sizeof(*p));
            p->lo = d.lo;
            p->hi = d.hi;
            p->slot = s->iq_head;
            p->type = type;
            trace_vtd_qi_wait_queued(p->slot, d.lo);
        }
        break;

    default:
        qi_iqe(s, VTD_IQEI_BAD_TYPE);
        return QI_ERROR;
    }

    s->iq_last_desc_type = type;
    return QI_DONE;
}

static bool qi_stopped(IntelIOMMUState *s)
{
    return !s->qi_enabled ||
           (vtd_get_long_raw(s, DMAR_FSTS_REG) & (VTD_FSTS_IQE | VTD_FSTS_ITE));
}

/*
 * One pass: complete the waits nothing blocks any more, then fetch from IQH
 * toward IQT while nothing stops us, at most *@budget descriptors.  Stops
 * after a descriptor whose side effect asked for a run (qi.rerun): the
 * caller starts over from the registers as they are now.
 */
static void qi_run_pass(IntelIOMMUState *s, uint32_t *budget)
{
    VTDQIEngine *e = &s->qi;
    QIFetch f;

    f.n = 0;
    qi_retire(s);
    trace_vtd_qi_fetch(s->iq_head, s->iq_tail, e->npending);
    if (qi_stopped(s)) {
        return;
    }
    if (s->iq_tail >= s->iq_size) {
        qi_iqe(s, VTD_IQEI_BAD_TAIL);
        return;
    }
    while (s->iq_head != s->iq_tail && *budget && !qi_stopped(s)) {
        if (e->npending) {
            if (e->npending == VTD_QI_MAX_PENDING) {
                trace_vtd_qi_stall(s->iq_head, "pending descriptors full");
                break;
            }
            if (qi_fenced(s)) {
                trace_vtd_qi_stall(s->iq_head, "fenced wait");
                break;
            }
        }
        if (qi_step(s, &f) != QI_DONE) {
            break;
        }
        if (!s->qi_enabled) {
            return;             /* disabled by the step: IQH is reset */
        }
        (*budget)--;
        if (++s->iq_head == s->iq_size) {
            s->iq_head = 0;
        }
        if (e->rerun) {
            break;
        }
    }
    qi_update_iqh(s);
}

/*
 * Process the queue.  Not re-entrant: a descriptor's side effect can ask
 * for a run while one is in progress (a wait whose status address is the
 * IOMMU's own IQT, FSTS or GCMD, completed from a timer, where QEMU's
 * memory re-entrancy guard is not engaged).  Such a request only sets
 * qi.rerun; the running loop finishes the descriptor and starts over.
 *
 * A run does at most one queue's worth of descriptors.  More can only be
 * due when status writes keep moving the tail (hardware would go round
 * for ever too); the rest is done from a bottom half, so the main loop
 * (and the guest's vCPUs, which may repair the queue) keep running.
 */
static void qi_run(IntelIOMMUState *s)
{
    VTDQIEngine *e = &s->qi;
    uint32_t budget = s->iq_size;

    if (e->running) {
        trace_vtd_qi_rerun(s->iq_head, s->iq_tail);
        e->rerun = true;
        return;
    }
    e->running = true;
    do {
        e->rerun = false;
        qi_run_pass(s, &budget);
    } while (e->rerun && budget);
    e->running = false;

    if (!budget && !qi_stopped(s) && s->iq_head != s->iq_tail) {
        trace_vtd_qi_defer(s->iq_head, s->iq_tail);
        qemu_bh_schedule(e->run_bh);
    }
}

static void qi_run_bh(void *opaque)
{
    qi_run(opaque);
}

/* ---------------------------------------------------------------- hooks */

static void qi_vm_state_change(void *opaque, bool running, RunState state);

bool vtd_qi_fetch(IntelIOMMUState *s)
{
    if (!s->qi.async_engine) {
        return false;
    }
    qi_run(s);
    return true;
}

bool vtd_qi_iqt_write(IntelIOMMUState *s)
{
    uint64_t val = ldq_le_p(&s->csr[DMAR_IQT_REG]);

    if (!s->qi.async_engine) {
        return false;
    }
    if (s->iq_dw && (val & VTD_IQT_QT_256_RSV_BIT)) {
        qi_iqe(s, VTD_IQEI_BAD_TAIL);
        return true;
    }
    s->iq_tail = VTD_IQT_QT(s->iq_dw, val);
    trace_vtd_inv_qi_tail(s->iq_tail);
    qi_run(s);
    return true;
}

void vtd_qi_fsts_write(IntelIOMMUState *s)
{
    if (s->qi.async_engine && s->qi_enabled &&
        !(vtd_get_long_raw(s, DMAR_FSTS_REG) & (VTD_FSTS_IQE | VTD_FSTS_ITE)) &&
        s->iq_head != s->iq_tail) {
        trace_vtd_qi_resume(s->iq_head, s->iq_tail);
        qi_run(s);
    }
}

void vtd_qi_disable(IntelIOMMUState *s)
{
    if (s->qi.async_engine) {
        qi_drop_all(s, false);
    }
}

bool vtd_qi_realize(IntelIOMMUState *s, Error **errp)
{
    VTDQIEngine *e = &s->qi;

    if (!e->ite_timeout_ns) {
        error_setg(errp, "x-ite-timeout-ns must be at least 1 ns");
        error_append_hint(errp, "A time-out of 2^63 ns or more means "
                          "\"never\".\n");
        return false;
    }
    e->ite_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, qi_ite_timer, s);
    e->run_bh = qemu_bh_new(qi_run_bh, s);
    e->vm_state = qemu_add_vm_change_state_handler(qi_vm_state_change, s);
    return true;
}

void vtd_qi_unrealize(DeviceState *dev)
{
    IntelIOMMUState *s = INTEL_IOMMU_DEVICE(dev);
    VTDQIEngine *e = &s->qi;

    qi_drop_all(s, false);
    timer_free(e->ite_timer);
    e->ite_timer = NULL;
    qemu_bh_delete(e->run_bh);
    e->run_bh = NULL;
    qemu_del_vm_change_state_handler(e->vm_state);
    e->vm_state = NULL;
}

void vtd_qi_reset(IntelIOMMUState *s)
{
    VTDQIEngine *e = &s->qi;

    if (!e->async_engine) {
        return;
    }
    qi_drop_all(s, false);
    e->next_itag = 0;
    e->resend = false;
    /* IQE, ICE and ITE are write-1-to-clear (with PFO) */
    stl_le_p(&s->w1cmask[DMAR_FSTS_REG],
             VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE);
    stq_le_p(&s->csr[DMAR_IQER_REG], 0);
}

/* ---------------------------------------------------------------- vmstate */

static const VMStateDescription vtd_qi_pending_vmstate = {
    .name = "iommu-intel/qi-pending",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(lo, VTDQIPending),
        VMSTATE_UINT64(hi, VTDQIPending),
        VMSTATE_INT64(deadline, VTDQIPending),
        VMSTATE_UINT16(slot, VTDQIPending),
        VMSTATE_UINT16(sid, VTDQIPending),
        VMSTATE_UINT8(type, VTDQIPending),
        VMSTATE_UINT8(itag, VTDQIPending),
        VMSTATE_END_OF_LIST()
    }
};

static bool vtd_qi_vmstate_needed(void *opaque)
{
    IntelIOMMUState *s = opaque;

    return s->qi.npending != 0;
}

/*
 * Answers in flight are not migrated: once the VM runs on the destination
 * (every endpoint's config space loaded by then: the IOMMU loads first),
 * send the outstanding requests again (ATS invalidation is idempotent).
 * The deadlines stand.
 */
static void qi_vm_state_change(void *opaque, bool running, RunState state)
{
    IntelIOMMUState *s = opaque;
    VTDQIEngine *e = &s->qi;
    uint32_t i;

    if (!running || !e->resend) {
        return;
    }
    e->resend = false;
    for (i = 0; i < e->npending; i++) {
        VTDQIPending *p = &e->pending[i];

        if (qi_is_devtlb(p)) {
            trace_vtd_qi_devtlb_send(p->slot, p->sid, p->itag, p->deadline);
            pcie_ats_inval_send(qi_endpoint(s, p->sid), p->sid, p->itag,
                                qi_ats_done, s);
        }
    }
}

/*
 * Requests outstanding on the source, x-qi-engine=off here: the base's
 * loop has no notion of them (the waits behind them would never complete
 * and the engine would have to run after all).  Refuse the stream.
 */
static int vtd_qi_pre_load(void *opaque)
{
    IntelIOMMUState *s = opaque;

    if (!s->qi.async_engine) {
        error_report("intel-iommu: the migration stream carries outstanding "
                     "queued invalidations (x-qi-engine=on on the source), "
                     "but x-qi-engine=off here");
        return -EINVAL;
    }
    return 0;
}

static int vtd_qi_post_load(void *opaque, int version_id)
{
    IntelIOMMUState *s = opaque;
    VTDQIEngine *e = &s->qi;
    uint32_t i;

    if (e->npending > VTD_QI_MAX_PENDING) {
        return -EINVAL;
    }
    for (i = 0; i < e->npending; i++) {
        e->pending[i].itag &= 0x1f;
    }
    e->next_itag &= 0x1f;
    e->resend = true;
    qi_arm_timer(s);
    return 0;
}

const VMStateDescription vtd_qi_vmstate = {
    .name = "iommu-intel/qi",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = vtd_qi_vmstate_needed,
    .pre_load = vtd_qi_pre_load,
    .post_load = vtd_qi_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(qi.npending, IntelIOMMUState),
        VMSTATE_UINT8(qi.next_itag, IntelIOMMUState),
        VMSTATE_STRUCT_ARRAY(qi.pending, IntelIOMMUState, VTD_QI_MAX_PENDING,
                             1, vtd_qi_pending_vmstate, VTDQIPending),
        VMSTATE_END_OF_LIST()
    }
};
