/*
 * plugfault: asynchronous queued-invalidation engine for intel-iommu
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_INTEL_IOMMU_QI_H
#define HW_I386_INTEL_IOMMU_QI_H

#include "qemu/timer.h"
#include "migration/vmstate.h"

/* FSTS bits the base does not define */
#define VTD_FSTS_ICE                (1UL << 5)
#define VTD_FSTS_ITE                (1UL << 6)

/* Invalidation Queue Error Record Register */
#define DMAR_IQER_REG               0xb0
#define VTD_IQER_IQEI_MASK          0xfULL
#define VTD_IQER_ITESID_SHIFT       32
#define VTD_IQER_ICESID_SHIFT       48

/* IQER.IQEI values */
#define VTD_IQEI_BAD_TAIL           1
#define VTD_IQEI_FETCH              2
#define VTD_IQEI_BAD_TYPE           3
#define VTD_IQEI_RESERVED           4
#define VTD_IQEI_BAD_WIDTH          5

/*
 * Default invalidation time-out: the 60 s (-0/+50%) PCIe gives an endpoint
 * to complete an ATS invalidation.
 */
#define VTD_QI_DEFAULT_ITE_TIMEOUT_NS   (60 * NANOSECONDS_PER_SECOND)

/*
 * Descriptors fetched but not complete (device-TLB invalidations waiting
 * for their endpoint, wait descriptors waiting for those).  When full,
 * fetching pauses until something completes.
 */
#define VTD_QI_MAX_PENDING          64

typedef struct VTDQIPending {
    uint64_t lo;
    uint64_t hi;
    int64_t deadline;       /* device-TLB: virtual ns of the time-out */
    uint16_t slot;          /* queue slot it was fetched from */
    uint16_t sid;           /* device-TLB: the endpoint */
    uint8_t type;           /* VTD_INV_DESC_DEVICE/_DEV_PIOTLB/_WAIT */
    uint8_t itag;           /* device-TLB: Invalidate Tag */
} VTDQIPending;

typedef struct VTDQIEngine {
    /* properties */
    bool async_engine;              /* x-qi-engine (else the base's loop) */
    uint64_t ite_timeout_ns;        /* x-ite-timeout-ns */

    /* state, migrated in a subsection while anything is pending */
    uint32_t npending;
    VTDQIPending pending[VTD_QI_MAX_PENDING];   /* in queue order */
    uint8_t next_itag;

    bool running;                   /* in qi_run(): it is not re-entrant */
    bool rerun;                     /* asked for while running: go again */

    /* created in realize */
    QEMUTimer *ite_timer;           /* armed only while a request is out */
    QEMUBH *run_bh;                 /* continues a run over its budget */
    VMChangeStateEntry *vm_state;   /* resends requests after migration */
    bool resend;                    /* migrated in: send requests again */
} VTDQIEngine;

struct IntelIOMMUState;
struct VTDAddressSpace;
union VTDInvDesc;

/* Hooks called from the base's hw/i386/intel_iommu.c (scripts/patches) */
bool vtd_qi_realize(struct IntelIOMMUState *s, Error **errp);
void vtd_qi_unrealize(DeviceState *dev);
void vtd_qi_reset(struct IntelIOMMUState *s);
bool vtd_qi_fetch(struct IntelIOMMUState *s);
bool vtd_qi_iqt_write(struct IntelIOMMUState *s);
void vtd_qi_fsts_write(struct IntelIOMMUState *s);
void vtd_qi_disable(struct IntelIOMMUState *s);
extern const VMStateDescription vtd_qi_vmstate;

/*
 * Exported by the hook patch from intel_iommu.c: the base's processing of a
 * context-cache, IOTLB, PASID-IOTLB, IEC, device-TLB or PASID device-TLB
 * descriptor (reserved-field checks, cache invalidation, notifiers).
 * Returns false if the descriptor is malformed.
 */
bool vtd_qi_base_process(struct IntelIOMMUState *s, union VTDInvDesc *desc);

/*
 * Made global by scripts/patches/0041-intel-iommu-export-for-qi-engine.patch:
 * the base's own functions, which the engine calls rather than copies.
 */
/* The address space of requester id @sid (no PASID), NULL if none. */
struct VTDAddressSpace *vtd_get_as_by_sid(struct IntelIOMMUState *s,
                                          uint16_t sid);
/* Register file access, as the base's own MMIO handlers do it */
uint32_t vtd_get_long_raw(struct IntelIOMMUState *s, hwaddr addr);
uint32_t vtd_set_clear_mask_long(struct IntelIOMMUState *s, hwaddr addr,
                                 uint32_t clear, uint32_t mask);
uint64_t vtd_set_clear_mask_quad(struct IntelIOMMUState *s, hwaddr addr,
                                 uint64_t clear, uint64_t mask);
/*
 * Fault event for a status bit just set (@pre_fsts: FSTS before): none if
 * PFO, PPF, IQE, ICE or ITE was pending (ICE/ITE:
 * scripts/patches/0043-intel-iommu-fault-event-ice-ite.patch).
 */
void vtd_generate_fault_event(struct IntelIOMMUState *s, uint32_t pre_fsts);
/* ICS.IWC and the invalidation completion event (wait descriptor, IF) */
void vtd_generate_completion_event(struct IntelIOMMUState *s);

#endif
