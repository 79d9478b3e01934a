/*
 * plugfault: PE freeze (EEH) in the PowerNV PHB4/PHB5
 *
 * A real PHB4/PHB5 keeps per Partitionable Endpoint (PE) an error state:
 * the PESTA bit 0 ("MMIO frozen") and PESTB bit 0 ("DMA stopped") of its
 * IODA PEST tables, summarised per 64 PEs in the PE Error Vector (PEEV),
 * and a memory-resident PEST entry (PHB_PEST_BAR) where the PHB logs the
 * first error: word 0 cause, transaction type and requester ID, word 1
 * the failing address.  While a PE is frozen:
 *
 *   - CPU loads from its MMIO segments complete with all ones and stores
 *     are dropped (the PHB decodes the address to a PE with its MBT and
 *     MDT, as for any MMIO),
 *   - DMA by its devices is refused and their MSIs are discarded.
 *
 * An error enters that state: an MMIO load or store that no device
 * answers (hw/pci-host/pnv_phb4_mmio_error.c: the device was surprise
 * removed, its link is down or it is powered off), a DMA that fails
 * translation (TCE page or access fault), a configuration access the
 * PAPR error-injection registers (PHB_PAPR_ERR_INJ_*) match, and an error
 * injected over QMP.  An error also raises the PHB's ER interrupt (LSI 7),
 * whose skiboot handler posts OPAL_EVENT_PCI_ERROR to the OS.
 *
 * An uncorrectable PCIe error message from below (ERR_NONFATAL or
 * ERR_FATAL reaching the root port, hw/pci/pcie_aer_root_msg.c) freezes
 * the PE of its requester too, logged with the PEST0 cause bits the IODA3
 * layout has for it (PCIE_NONFATAL, PCIE_FATAL) and the requester's ID.
 * That freeze raises no interrupt here: the OS finds it only by asking,
 * which is what pnv_php does since a2a2a6fc24695 ("PCI: pnv_php: Fix
 * surprise plug detection and recovery": after a surprise removal below a
 * switch "the bridge upstream port will cause a PE freeze" that, left
 * alone, blocks the hot-plug MSIs of every slot in that PE; the fix checks
 * the bridge's PE state after the removal and thaws it, as nothing else
 * reports it).  A downstream port sends such a message on a surprise link
 * loss when it reports Surprise Down errors (x-surprise-down-error).  A
 * message from the PHB's own root port freezes nothing: on hardware an
 * unexpected root-port link loss fences the PHB ("error link down kill",
 * PHB_PCIE_MISC_STRAP), which is not modelled.
 *
 * skiboot's hw/phb4.c reads all this as it does on hardware: freeze_status
 * reads PEEV and PESTA/B, next_error scans PEEV, freeze_clear writes
 * PESTA/B (which thaws the PE here), get_diag_data dumps PESTA/B ORed with
 * the memory entries.  The PHB's error status registers are write-1-to-
 * clear but never set here: their bit layout is not public, and skiboot
 * only prints them.
 *
 * A fence stops the whole PHB, as a fatal PHB error does on hardware:
 * its PowerBus interface (AIB) answers every load, of its registers and of
 * its PCI MMIO space, with all ones and drops every store; DMA and MSIs of
 * every PE are refused.  skiboot finds it by the all-ones
 * PHB_CPU_LOADSTORE_STATUS (phb4_fenced()) and reports a fenced PHB; only
 * a complete reset (phb4_creset()) lifts it: the ETU reset released with
 * the nest FIR clear.  A fence is entered by an injected one (QMP, which
 * also sets a nest FIR bit) or by any unmasked nest FIR bit set over
 * XSCOM (skiboot's creset forces a fence that way).  The register space
 * stays reachable over XSCOM (ASB), as skiboot uses it while fenced.  Real
 * hardware also raises a hypervisor maintenance interrupt; QEMU models no
 * PHB HMI, so the OS notices the fence at its next all-ones MMIO read.
 *
 * The freeze bits live in the base's ioda_PEST_AB[]; the PHB4 model has
 * no VMState, so migration is blocked while a PE is frozen or the PHB is
 * fenced.
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-pnv-eeh.h"
#include "qom/object.h"
#include "hw/irq.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pcie_aer_root_msg.h"
#include "hw/pci-host/pnv_phb4_regs.h"
#include "hw/pci-host/pnv_phb4.h"
#include "hw/pci-host/pnv_phb.h"
#include "hw/pci-host/pnv_phb4_eeh.h"
#include "hw/qdev-find.h"
#include "migration/blocker.h"
#include "qemu/main-loop.h"
#include "system/dma.h"
#include "system/reset.h"
#include "trace.h"

#define PEST_A          1       /* ioda_PEST_AB[]: PESTA bit 0, MMIO frozen */
#define PEST_B          2       /* PESTB bit 0, DMA stopped */
#define PHB4_LSI_ER     7       /* skiboot's PHB4_LSI_PCIE_ER */
#define PRIO_FROZEN     0x100   /* above every BAR and bridge window */
#define PRIO_FENCED     0x101   /* above the frozen windows too */
/* The nest FIR bit an injected fence sets: skiboot's creset forces one so */
#define NFIR_FENCE      PPC_BIT(26)

/* A frozen PE's MMIO segment, laid over the PHB's PCI MMIO space */
typedef struct FrozenWindow {
    MemoryRegion mr;
    PnvPhb4Eeh *eeh;
    unsigned pe;
    bool mapped;
} FrozenWindow;

/* A device that keeps failing (x-pnv-eeh-inject persistent=true) */
typedef struct FailingDevice {
    PCIDevice *dev;             /* the instance; forgotten when unrealized */
    PnvEehErrorKind kind;
} FailingDevice;

struct PnvPhb4Eeh {
    PnvPHB4 *phb;
    GPtrArray *windows;         /* FrozenWindow *, reused, never freed */
    GPtrArray *failing;         /* FailingDevice * */
    uint32_t errors[PNV_PHB4_MAX_PEs];
    uint64_t pest0[PNV_PHB4_MAX_PEs];
    uint64_t pest1[PNV_PHB4_MAX_PEs];
    Error *blocker;
    bool fenced;
    MemoryRegion fence_regs;    /* over the register BAR, while fenced */
    MemoryRegion fence_mmio;    /* over the whole PCI MMIO space */
    QLIST_ENTRY(PnvPhb4Eeh) next;
};

static QLIST_HEAD(, PnvPhb4Eeh) eeh_phbs = QLIST_HEAD_INITIALIZER(eeh_phbs);
/* failing devices on all PHBs: lets a DMA translation skip the lookup */
static unsigned failing_total;
/* fenced PHBs: the same for DMA and MSIs */
static unsigned fenced_total;

static unsigned num_pes(PnvPHB4 *phb)
{
    return phb->big_phb ? PNV_PHB4_MAX_PEs : PNV_PHB4_MAX_PEs >> 1;
}

static PnvPhb4Eeh *eeh_of(PnvPHB4 *phb)
{
    PnvPhb4Eeh *eeh;

    QLIST_FOREACH(eeh, &eeh_phbs, next) {
        if (eeh->phb == phb) {
            return eeh;
        }
    }
    g_assert_not_reached();
}

/* The PowerNV PHB4/PHB5 whose root bus is @root, if any */
static PnvPhb4Eeh *eeh_of_root_bus(PCIBus *root)
{
    PnvPhb4Eeh *eeh;

    QLIST_FOREACH(eeh, &eeh_phbs, next) {
        if (PCI_HOST_BRIDGE(eeh->phb->phb_base)->bus == root) {
            return eeh;
        }
    }
    return NULL;
}

/* The PE the PHB's RTT gives a requester ID; -1 if the RTT is not set up */
static int rid_pe(PnvPHB4 *phb, uint16_t rid)
{
    uint64_t rtt = phb->regs[PHB_RTT_BAR >> 3];
    uint16_t rte;

    if (!(rtt & PHB_RTT_BAR_ENABLE)) {
        return -1;
    }
    if (dma_memory_read(&address_space_memory,
                        (rtt & PHB_RTT_BASE_ADDRESS_MASK) + 2 * rid, &rte,
                        sizeof(rte), MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
        return -1;
    }
    return be16_to_cpu(rte) & (num_pes(phb) - 1);
}

/* ------------------------------------------------- persistent errors */

static void windows_update(PnvPhb4Eeh *eeh);

/* The device of PE @pe that keeps failing, if any */
static FailingDevice *pe_failing(PnvPhb4Eeh *eeh, int pe)
{
    for (unsigned i = 0; i < eeh->failing->len; i++) {
        FailingDevice *f = g_ptr_array_index(eeh->failing, i);

        if (rid_pe(eeh->phb, pci_requester_id(f->dev)) == pe) {
            return f;
        }
    }
    return NULL;
}

/* A failing device that goes is forgotten: it does not outlive its id */
static void failing_unrealize(DeviceListener *listener, DeviceState *dev)
{
    PnvPhb4Eeh *eeh;

    QLIST_FOREACH(eeh, &eeh_phbs, next) {
        for (unsigned i = 0; i < eeh->failing->len; i++) {
            FailingDevice *f = g_ptr_array_index(eeh->failing, i);

            if (DEVICE(f->dev) == dev) {
                g_ptr_array_remove_index(eeh->failing, i);
                failing_total--;
                windows_update(eeh);
                return;
            }
        }
    }
}

static DeviceListener failing_listener = {
    .unrealize = failing_unrealize,
};

static bool kind_is_mmio(PnvEehErrorKind kind)
{
    return kind == PNV_EEH_ERROR_KIND_MMIO_LOAD ||
           kind == PNV_EEH_ERROR_KIND_MMIO_STORE;
}

/* ------------------------------------------------------ MMIO decoding */

/* The PCI-side extent of MBT entry @i; false if the BAR is disabled */
static bool mbt_window(PnvPHB4 *phb, unsigned i, uint64_t *start,
                       uint64_t *size)
{
    uint64_t mbe0 = phb->ioda_MBT[i << 1], mbe1 = phb->ioda_MBT[(i << 1) + 1];
    uint64_t base = GETFIELD(IODA3_MBT0_BASE_ADDR, mbe0) << 12;
    uint64_t sz;

    if (!(mbe0 & IODA3_MBT0_ENABLE)) {
        return false;
    }
    /* as pnv_phb4_check_mbt() maps it */
    sz = (GETFIELD(IODA3_MBT1_MASK, mbe1) << 12) | 0xff00000000000000ull;
    sz = ~sz + 1;
    if (mbe0 & IODA3_MBT0_TYPE_M32) {
        *start = phb->regs[PHB_M32_START_ADDR >> 3];
        sz = MIN(sz, 0x100000000ull - MIN(*start, 0x100000000ull));
    } else {
        *start = base | phb->regs[PHB_M64_UPPER_BITS >> 3];
    }
    *size = sz;
    return sz != 0;
}

static unsigned mbt_entries(PnvPHB4 *phb)
{
    return phb->big_phb ? PNV_PHB4_MAX_MMIO_WINDOWS :
                          PNV_PHB4_MIN_MMIO_WINDOWS;
}

/* Segments of an MBT entry: one in single-PE mode */
static unsigned mbt_segments(PnvPHB4 *phb, uint64_t mbe0)
{
    if (GETFIELD(IODA3_MBT0_MODE, mbe0) == IODA3_MBT0_MODE_SINGLE_PE) {
        return 1;
    }
    if (GETFIELD(IODA3_MBT0_MODE, mbe0) == IODA3_MBT0_MODE_PE_SEG) {
        switch (GETFIELD(IODA3_MBT0_SEG_DIV, mbe0)) {
        case IODA3_MBT0_SEG_DIV_128:
            return 128;
        case IODA3_MBT0_SEG_DIV_64:
            return 64;
        case IODA3_MBT0_SEG_DIV_8:
            return 8;
        }
    }
    return num_pes(phb);
}

/* The PE of segment @seg of MBT entry @i; -1 if the mode is unknown */
static int mbt_segment_pe(PnvPHB4 *phb, unsigned i, unsigned seg)
{
    uint64_t mbe0 = phb->ioda_MBT[i << 1], mbe1 = phb->ioda_MBT[(i << 1) + 1];
    uint64_t mdt;

    switch (GETFIELD(IODA3_MBT0_MODE, mbe0)) {
    case IODA3_MBT0_MODE_PE_SEG:
        return (GETFIELD(IODA3_MBT1_SEG_BASE, mbe1) + seg) &
               (num_pes(phb) - 1);
    case IODA3_MBT0_MODE_MDT:
        mdt = phb->ioda_MDT[seg & (num_pes(phb) - 1)];
        switch (GETFIELD(IODA3_MBT0_MDT_COLUMN, mbe0)) {
        case 0:
            return GETFIELD(IODA3_MDT_PE_A, mdt) & (num_pes(phb) - 1);
        case 1:
            return GETFIELD(IODA3_MDT_PE_B, mdt) & (num_pes(phb) - 1);
        case 2:
            return GETFIELD(IODA3_MDT_PE_C, mdt) & (num_pes(phb) - 1);
        default:
            return GETFIELD(IODA3_MDT_PE_D, mdt) & (num_pes(phb) - 1);
        }
    case IODA3_MBT0_MODE_SINGLE_PE:
        return GETFIELD(IODA3_MBT1_SINGLE_PE_NUM, mbe1) & (num_pes(phb) - 1);
    default:
        return -1;
    }
}

/* The PE an MMIO PCI address decodes to; -1 if no MBT entry covers it */
static int mmio_pe(PnvPHB4 *phb, hwaddr addr)
{
    for (unsigned i = 0; i < mbt_entries(phb); i++) {
        uint64_t start, size, segsz;
        unsigned seg;

        if (!mbt_window(phb, i, &start, &size) ||
            addr < start || addr - start >= size) {
            continue;
        }
        segsz = size / mbt_segments(phb, phb->ioda_MBT[i << 1]);
        seg = segsz ? (addr - start) / segsz : 0;
        return mbt_segment_pe(phb, i, seg);
    }
    return -1;
}

/* ------------------------------------------------ frozen MMIO windows */

static void device_error(PnvPhb4Eeh *eeh, unsigned pe, PCIDevice *dev,
                         PnvEehErrorKind kind);

/*
 * skiboot sets PHB_CTRLR_MMIO_EEH_DISABLE when NVRAM says
 * pci-eeh-mmio=disabled: MMIO errors then complete with all ones but
 * freeze nothing.
 */
static bool mmio_eeh_enabled(PnvPHB4 *phb)
{
    return !(phb->regs[PHB_CTRLR >> 3] & PHB_CTRLR_MMIO_EEH_DISABLE);
}

/* A window over a PE that is not frozen: a device of it keeps failing */
static void window_access(FrozenWindow *w)
{
    PnvPHB4 *phb = w->eeh->phb;
    FailingDevice *f;

    if (phb->ioda_PEST_AB[w->pe] & PEST_A) {
        return;
    }
    f = pe_failing(w->eeh, w->pe);
    if (f && kind_is_mmio(f->kind) && mmio_eeh_enabled(phb)) {
        device_error(w->eeh, w->pe, f->dev, f->kind);
    }
}

static uint64_t frozen_read(void *opaque, hwaddr addr, unsigned size)
{
    FrozenWindow *w = opaque;
    PnvPHB4 *phb = w->eeh->phb;

    window_access(w);
    trace_pnv_phb4_eeh_frozen_access(phb->chip_id, phb->phb_id, w->pe,
                                     "load", w->mr.addr + addr, size);
    return size == 8 ? UINT64_MAX : MAKE_64BIT_MASK(0, size * 8);
}

static void frozen_write(void *opaque, hwaddr addr, uint64_t data,
                         unsigned size)
{
    FrozenWindow *w = opaque;
    PnvPHB4 *phb = w->eeh->phb;

    window_access(w);
    trace_pnv_phb4_eeh_frozen_access(phb->chip_id, phb->phb_id, w->pe,
                                     "store", w->mr.addr + addr, size);
}

static const MemoryRegionOps frozen_ops = {
    .read = frozen_read,
    .write = frozen_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static void window_map(PnvPhb4Eeh *eeh, unsigned *used, unsigned pe,
                       uint64_t start, uint64_t size)
{
    PnvPHB4 *phb = eeh->phb;
    FrozenWindow *w;

    if (*used == eeh->windows->len) {
        w = g_new0(FrozenWindow, 1);
        w->eeh = eeh;
        memory_region_init_io(&w->mr, OBJECT(phb), &frozen_ops, w,
                              "phb4-pe-frozen", size);
        g_ptr_array_add(eeh->windows, w);
    }
    w = g_ptr_array_index(eeh->windows, (*used)++);
    w->pe = pe;
    memory_region_set_size(&w->mr, size);
    memory_region_add_subregion_overlap(&phb->pci_mmio, start, &w->mr,
                                        PRIO_FROZEN);
    w->mapped = true;
}

/*
 * Lay a window over every MMIO segment of every MMIO-frozen PE, and of
 * every PE with a device whose MMIO keeps failing (adjacent segments of
 * one PE merged).  Called when a freeze bit, a persistent error or the
 * MMIO decode (MBT, MDT, M32/M64 registers) changes.
 */
static void windows_update(PnvPhb4Eeh *eeh)
{
    PnvPHB4 *phb = eeh->phb;
    DECLARE_BITMAP(failing, PNV_PHB4_MAX_PEs) = { 0 };
    unsigned used = 0;

    for (unsigned i = 0; i < eeh->failing->len; i++) {
        FailingDevice *f = g_ptr_array_index(eeh->failing, i);
        int pe = rid_pe(phb, pci_requester_id(f->dev));

        if (pe >= 0 && kind_is_mmio(f->kind)) {
            set_bit(pe, failing);
        }
    }
    memory_region_transaction_begin();
    for (unsigned i = 0; i < eeh->windows->len; i++) {
        FrozenWindow *w = g_ptr_array_index(eeh->windows, i);

        if (w->mapped) {
            memory_region_del_subregion(&phb->pci_mmio, &w->mr);
            w->mapped = false;
        }
    }
    for (unsigned i = 0; i < mbt_entries(phb); i++) {
        uint64_t start, size, segsz, run_start = 0, run_size = 0;
        unsigned nseg;
        int run_pe = -1;

        if (!mbt_window(phb, i, &start, &size)) {
            continue;
        }
        nseg = mbt_segments(phb, phb->ioda_MBT[i << 1]);
        segsz = size / nseg;
        for (unsigned seg = 0; segsz && seg < nseg; seg++) {
            int pe = mbt_segment_pe(phb, i, seg);
            bool frozen = pe >= 0 && ((phb->ioda_PEST_AB[pe] & PEST_A) ||
                                      test_bit(pe, failing));

            if (run_size && (!frozen || pe != run_pe)) {
                window_map(eeh, &used, run_pe, run_start, run_size);
                run_size = 0;
            }
            if (frozen) {
                if (!run_size) {
                    run_start = start + seg * segsz;
                    run_pe = pe;
                }
                run_size += segsz;
            }
        }
        if (run_size) {
            window_map(eeh, &used, run_pe, run_start, run_size);
        }
    }
    memory_region_transaction_commit();
}

/* ------------------------------------------------------ freeze, thaw */

static bool any_frozen(PnvPHB4 *phb)
{
    for (unsigned pe = 0; pe < num_pes(phb); pe++) {
        if (phb->ioda_PEST_AB[pe]) {
            return true;
        }
    }
    return false;
}

static void blocker_update(PnvPhb4Eeh *eeh)
{
    PnvPHB4 *phb = eeh->phb;
    bool block = any_frozen(phb) || eeh->fenced;

    if (block && !eeh->blocker) {
        error_setg(&eeh->blocker, "PHB%u:%u has a frozen PE or is fenced "
                   "(EEH state is not migrated)", phb->chip_id, phb->phb_id);
        migrate_add_blocker(&eeh->blocker, &error_warn);
    } else if (!block && eeh->blocker) {
        migrate_del_blocker(&eeh->blocker);
    }
}

/* ------------------------------------------------------------- fence */

/* An access the fence answers: loads all ones, stores dropped */
static uint64_t fenced_access(PnvPhb4Eeh *eeh, const char *space,
                              const char *op, hwaddr addr, unsigned size)
{
    trace_pnv_phb4_eeh_fenced_access(eeh->phb->chip_id, eeh->phb->phb_id,
                                     space, op, addr, size);
    return size == 8 ? UINT64_MAX : MAKE_64BIT_MASK(0, size * 8);
}

static uint64_t fenced_regs_read(void *opaque, hwaddr addr, unsigned size)
{
    return fenced_access(opaque, "register", "load", addr, size);
}

static void fenced_regs_write(void *opaque, hwaddr addr, uint64_t data,
                              unsigned size)
{
    fenced_access(opaque, "register", "store", addr, size);
}

static uint64_t fenced_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    return fenced_access(opaque, "PCI MMIO", "load", addr, size);
}

static void fenced_mmio_write(void *opaque, hwaddr addr, uint64_t data,
                              unsigned size)
{
    fenced_access(opaque, "PCI MMIO", "store", addr, size);
}

static const MemoryRegionOps fenced_regs_ops = {
    .read = fenced_regs_read,
    .write = fenced_regs_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static const MemoryRegionOps fenced_mmio_ops = {
    .read = fenced_mmio_read,
    .write = fenced_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/*
 * Fence or unfence the PHB: the two overlays go in or out (the register
 * one inside the register region itself, which is where its BAR maps it
 * over the AIB; XSCOM's indirect access calls the base's handler and is
 * not affected).
 */
static void fence_set(PnvPhb4Eeh *eeh, bool on, const char *why)
{
    PnvPHB4 *phb = eeh->phb;

    if (eeh->fenced == on) {
        return;
    }
    if (!memory_region_size(&eeh->fence_mmio)) {
        memory_region_init_io(&eeh->fence_regs, OBJECT(phb), &fenced_regs_ops,
                              eeh, "phb4-fenced-regs",
                              memory_region_size(&phb->mr_regs));
        memory_region_init_io(&eeh->fence_mmio, OBJECT(phb), &fenced_mmio_ops,
                              eeh, "phb4-fenced-mmio",
                              memory_region_size(&phb->pci_mmio));
    }
    eeh->fenced = on;
    fenced_total += on ? 1 : -1;
    trace_pnv_phb4_eeh_fence(phb->chip_id, phb->phb_id, on, why);
    memory_region_transaction_begin();
    if (on) {
        memory_region_add_subregion_overlap(&phb->mr_regs, 0,
                                            &eeh->fence_regs, PRIO_FENCED);
        memory_region_add_subregion_overlap(&phb->pci_mmio, 0,
                                            &eeh->fence_mmio, PRIO_FENCED);
    } else {
        memory_region_del_subregion(&phb->mr_regs, &eeh->fence_regs);
        memory_region_del_subregion(&phb->pci_mmio, &eeh->fence_mmio);
    }
    memory_region_transaction_commit();
    blocker_update(eeh);
}

static bool phb_fenced(PnvPHB4 *phb)
{
    return fenced_total && eeh_of(phb)->fenced;
}

static bool nest_fir_unmasked(PnvPHB4 *phb)
{
    return phb->nest_regs[PEC_NEST_STK_PCI_NEST_FIR] &
           ~phb->nest_regs[PEC_NEST_STK_PCI_NEST_FIR_MSK];
}

void pnv_phb4_eeh_nest_fir_written(PnvPHB4 *phb)
{
    if (nest_fir_unmasked(phb)) {
        fence_set(eeh_of(phb), true, "nest FIR set");
    }
}

void pnv_phb4_eeh_etu_reset(PnvPHB4 *phb, bool assert)
{
    if (!assert && !nest_fir_unmasked(phb)) {
        fence_set(eeh_of(phb), false, "ETU reset released, nest FIR clear");
    }
}

/* Set or clear freeze bits of PE @pe: the PE's MMIO windows follow */
static void pest_set(PnvPhb4Eeh *eeh, unsigned pe, uint8_t bits, bool on)
{
    PnvPHB4 *phb = eeh->phb;
    uint8_t old = phb->ioda_PEST_AB[pe];
    uint8_t new = on ? old | bits : old & ~bits;

    if (new == old) {
        return;
    }
    phb->ioda_PEST_AB[pe] = new;
    if (on) {
        trace_pnv_phb4_eeh_freeze(phb->chip_id, phb->phb_id, pe,
                                  !!(new & PEST_A), !!(new & PEST_B));
    } else {
        trace_pnv_phb4_eeh_thaw(phb->chip_id, phb->phb_id, pe,
                                !!(new & PEST_A), !!(new & PEST_B));
    }
    if ((old ^ new) & PEST_A) {
        windows_update(eeh);
    }
    blocker_update(eeh);
}

/* An error found outside the BQL (a DMA from an I/O thread), for later */
typedef struct DeferredError {
    PnvPhb4Eeh *eeh;
    unsigned pe;
    uint64_t pest0, pest1;
    const char *what;
} DeferredError;

static void pe_error(PnvPhb4Eeh *eeh, unsigned pe, uint64_t pest0,
                     uint64_t pest1, const char *what);

static void pe_error_bh(void *opaque)
{
    DeferredError *d = opaque;

    pe_error(d->eeh, d->pe, d->pest0, d->pest1, d->what);
    g_free(d);
}

/*
 * An error in PE @pe, under the BQL: log it (the first one, as the
 * hardware keeps the first error until the freeze is cleared) and freeze
 * the PE for MMIO and DMA.  False if it was frozen already.
 */
static bool pe_freeze_logged(PnvPhb4Eeh *eeh, unsigned pe, uint64_t pest0,
                             uint64_t pest1, const char *what)
{
    PnvPHB4 *phb = eeh->phb;
    uint64_t bar = phb->regs[PHB_PEST_BAR >> 3];

    trace_pnv_phb4_eeh_error(phb->chip_id, phb->phb_id, pe, what, pest0,
                             pest1);
    if (phb->ioda_PEST_AB[pe] == (PEST_A | PEST_B)) {
        return false;           /* already frozen: the first error stays */
    }
    eeh->errors[pe]++;
    eeh->pest0[pe] = pest0;
    eeh->pest1[pe] = pest1;
    if (bar & PHB_PEST_BAR_ENABLE) {
        uint64_t entry[2] = { cpu_to_be64(pest0), cpu_to_be64(pest1) };
        hwaddr at = (bar & PHB_PEST_BASE_ADDRESS) + pe * sizeof(entry);

        if (dma_memory_write(&address_space_memory, at, entry, sizeof(entry),
                             MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR, "phb4[%u:%u]: PEST entry of PE %u "
                          "at 0x%" HWADDR_PRIx " is not writable\n",
                          phb->chip_id, phb->phb_id, pe, at);
        }
    }
    pest_set(eeh, pe, PEST_A | PEST_B, true);
    return true;
}

/*
 * An error in PE @pe: logged and frozen (pe_freeze_logged), and the ER
 * interrupt raised.
 */
static void pe_error(PnvPhb4Eeh *eeh, unsigned pe, uint64_t pest0,
                     uint64_t pest1, const char *what)
{
    PnvPHB4 *phb = eeh->phb;
    uint32_t lsi_base;

    if (!bql_locked()) {
        /* a DMA from an I/O thread: the freeze's effects need the BQL */
        DeferredError *d = g_new(DeferredError, 1);

        *d = (DeferredError) { eeh, pe, pest0, pest1, what };
        aio_bh_schedule_oneshot(qemu_get_aio_context(), pe_error_bh, d);
        return;
    }

    if (!pe_freeze_logged(eeh, pe, pest0, pest1, what)) {
        return;
    }
    lsi_base = GETFIELD(PHB_LSI_SRC_ID, phb->regs[PHB_LSI_SOURCE_ID >> 3]) << 3;
    if (lsi_base + PHB4_LSI_ER < phb->xsrc.nr_irqs) {
        qemu_irq_pulse(phb->qirqs[lsi_base + PHB4_LSI_ER]);
    }
}

/* ------------------------------------------------ PCIe error messages */

/*
 * An error message reached the root port of a PHB: an uncorrectable one
 * freezes its requester's PE, without an interrupt (see the top of this
 * file).
 */
static void root_msg_received(Notifier *n, void *data)
{
    PCIEAERRootMsg *m = data;
    PnvPhb4Eeh *eeh = eeh_of_root_bus(pci_get_bus(m->root_port));
    uint16_t rid = m->msg->source_id;
    bool fatal = m->msg->severity == PCI_ERR_ROOT_CMD_FATAL_EN;
    PnvPHB4 *phb;
    int pe;

    if (!eeh || m->msg->severity == PCI_ERR_ROOT_CMD_COR_EN) {
        return;
    }
    phb = eeh->phb;
    if (rid == pci_requester_id(m->root_port)) {
        qemu_log_mask(LOG_UNIMP, "phb4[%u:%u]: an error message from the "
                      "root port itself freezes no PE (hardware fences the "
                      "PHB on an unexpected root-port link loss: not "
                      "modelled)\n", phb->chip_id, phb->phb_id);
        return;
    }
    pe = rid_pe(phb, rid);
    if (pe < 0) {
        qemu_log_mask(LOG_GUEST_ERROR, "phb4[%u:%u]: error message from "
                      "0x%04x with the RTT not set up: no PE to freeze\n",
                      phb->chip_id, phb->phb_id, rid);
        return;
    }
    pe_freeze_logged(eeh, pe,
                     (fatal ? IODA3_PEST0_PCIE_FATAL :
                              IODA3_PEST0_PCIE_NONFATAL) |
                     SETFIELD(IODA3_PEST0_RID, 0ull, rid),
                     0, fatal ? "ERR_FATAL message" : "ERR_NONFATAL message");
}

static Notifier root_msg_notifier = {
    .notify = root_msg_received,
};

/* ------------------------------------------------------- base's hooks */

bool pnv_phb4_eeh_ioda_read(PnvPHB4 *phb, unsigned table, unsigned idx,
                            uint64_t *val)
{
    uint64_t peev = 0;

    switch (table) {
    case IODA3_TBL_PESTA:
        *val = phb->ioda_PEST_AB[idx] & PEST_A ? IODA3_PESTA_MMIO_FROZEN : 0;
        return true;
    case IODA3_TBL_PESTB:
        *val = phb->ioda_PEST_AB[idx] & PEST_B ? IODA3_PESTB_DMA_STOPPED : 0;
        return true;
    case IODA3_TBL_PEEV:
        /* a PE's bit is set while either of its PEST bits is */
        for (unsigned j = 0; j < 64 && idx * 64 + j < num_pes(phb); j++) {
            if (phb->ioda_PEST_AB[idx * 64 + j]) {
                peev |= PPC_BIT(j);
            }
        }
        *val = peev;
        return true;
    }
    return false;
}

bool pnv_phb4_eeh_ioda_write(PnvPHB4 *phb, unsigned table, unsigned idx,
                             uint64_t val)
{
    switch (table) {
    case IODA3_TBL_PESTA:
        pest_set(eeh_of(phb), idx, PEST_A, val & IODA3_PESTA_MMIO_FROZEN);
        return true;
    case IODA3_TBL_PESTB:
        pest_set(eeh_of(phb), idx, PEST_B, val & IODA3_PESTB_DMA_STOPPED);
        return true;
    case IODA3_TBL_PEEV:
        return true;            /* follows the PEST bits */
    }
    return false;
}

/*
 * A configuration access below the root port that the PAPR injection
 * registers match (skiboot's phb4_err_inject_cfg() arms them: address
 * and mask in PHB_CONFIG_ADDRESS layout, bus or bus/dev/fn): the access
 * fails, the PE named in PHB_CONFIG_ADDRESS is frozen.
 */
static bool cfg_injected(PnvPHB4 *phb, bool is_write)
{
    uint64_t ctl = phb->regs[PHB_PAPR_ERR_INJ_CTL >> 3];
    uint64_t ca = phb->regs[PHB_CONFIG_ADDRESS >> 3];
    uint64_t addr = phb->regs[PHB_PAPR_ERR_INJ_ADDR >> 3];
    uint64_t mask = phb->regs[PHB_PAPR_ERR_INJ_MASK >> 3];
    unsigned pe;

    if (!(ctl & PHB_PAPR_ERR_INJ_CTL_CFG) ||
        !(ctl & (is_write ? PHB_PAPR_ERR_INJ_CTL_WR :
                            PHB_PAPR_ERR_INJ_CTL_RD)) ||
        !(ca & PHB_CA_ENABLE) || !GETFIELD(PHB_CA_BDFN, ca) ||
        ((ca ^ addr) & mask & PHB_CA_BDFN)) {
        return false;
    }
    pe = GETFIELD(PHB_CA_PE, ca) & (num_pes(phb) - 1);
    if (!(ctl & PHB_PAPR_ERR_INJ_CTL_STICKY)) {
        phb->regs[PHB_PAPR_ERR_INJ_CTL >> 3] = 0;
    }
    pe_error(eeh_of(phb), pe,
             (is_write ? IODA3_PEST0_CFG_WRITE : IODA3_PEST0_CFG_READ) |
             SETFIELD(IODA3_PEST0_TTYPE, 0ull, PEST_TTYPE_OTHER) |
             SETFIELD(IODA3_PEST0_RID, 0ull, GETFIELD(PHB_CA_BDFN, ca)),
             0, is_write ? "injected config store" : "injected config load");
    return true;
}

bool pnv_phb4_eeh_reg_read(PnvPHB4 *phb, hwaddr off, unsigned size,
                           uint64_t *val)
{
    if ((off & 0xfffc) == PHB_CONFIG_DATA && cfg_injected(phb, false)) {
        *val = ~0ull;
        return true;
    }
    switch (off) {
    case PHB_PAPR_ERR_INJ_CTL:
    case PHB_PAPR_ERR_INJ_ADDR:
    case PHB_PAPR_ERR_INJ_MASK:
        *val = size == 8 ? phb->regs[off >> 3] : ~0ull;
        return true;
    }
    return false;
}

bool pnv_phb4_eeh_reg_write(PnvPHB4 *phb, hwaddr off, unsigned size,
                            uint64_t val)
{
    if ((off & 0xfffc) == PHB_CONFIG_DATA) {
        return cfg_injected(phb, true);         /* dropped if injected */
    }
    switch (off) {
    case PHB_ERR_STATUS:
    case PHB_TXE_ERR_STATUS:
    case PHB_RXE_ARB_ERR_STATUS:
    case PHB_RXE_MRG_ERR_STATUS:
    case PHB_RXE_TCE_ERR_STATUS:
    case PHB_PBL_ERR_STATUS:
    case PHB_REGB_ERR_STATUS:
    case PHB_PCIE_DLP_ERRLOG1:
    case PHB_PCIE_DLP_ERRLOG2:
    case PHB_PCIE_DLP_ERR_STATUS:
        /*
         * Write 1 to clear (skiboot's phb4_init_errors() and
         * phb4_err_clear() write the bits back, or all ones; its init
         * "Clear DLP error logs" writes all ones to the DLP logs); the
         * base stored the value, so a diag dump showed all ones.
         */
        if (size != 8) {
            return false;
        }
        phb->regs[off >> 3] &= ~val;
        return true;
    case PHB_PAPR_ERR_INJ_CTL:
    case PHB_PAPR_ERR_INJ_ADDR:
    case PHB_PAPR_ERR_INJ_MASK:
        if (size != 8) {
            return false;       /* the base reports the bad access */
        }
        phb->regs[off >> 3] = val;
        if (off == PHB_PAPR_ERR_INJ_CTL && val) {
            trace_pnv_phb4_eeh_inject_armed(phb->chip_id, phb->phb_id, val,
                phb->regs[PHB_PAPR_ERR_INJ_ADDR >> 3],
                phb->regs[PHB_PAPR_ERR_INJ_MASK >> 3]);
        }
        return true;
    }
    return false;
}

void pnv_phb4_eeh_dma_xlate(PnvPHB4 *phb, int pe, hwaddr iova, uint16_t rid,
                            IOMMUAccessFlags flag, IOMMUTLBEntry *entry)
{
    bool is_write = flag & IOMMU_WO;

    if (flag != IOMMU_NONE && phb_fenced(phb)) {
        trace_pnv_phb4_eeh_dma_refused(phb->chip_id, phb->phb_id, pe, rid,
                                       iova, is_write);
        entry->perm = IOMMU_NONE;
        return;
    }
    if (pe < 0 || pe >= num_pes(phb) || flag == IOMMU_NONE) {
        return;
    }
    if (!(phb->ioda_PEST_AB[pe] & PEST_B) && failing_total) {
        FailingDevice *f = pe_failing(eeh_of(phb), pe);

        if (f && !kind_is_mmio(f->kind) &&
            pci_requester_id(f->dev) == rid) {
            device_error(eeh_of(phb), pe, f->dev, f->kind);
        }
    }
    if (phb->ioda_PEST_AB[pe] & PEST_B) {
        trace_pnv_phb4_eeh_dma_refused(phb->chip_id, phb->phb_id, pe, rid,
                                       iova, is_write);
        entry->perm = IOMMU_NONE;
        return;
    }
    if ((entry->perm & flag) != flag) {
        /* the TCE is invalid (page fault) or lacks the permission */
        pe_error(eeh_of(phb), pe,
                 (entry->perm ? IODA3_PEST0_TCE_ACCESS_FAULT :
                                IODA3_PEST0_TCE_PAGE_FAULT) |
                 SETFIELD(IODA3_PEST0_TTYPE, 0ull,
                          is_write ? PEST_TTYPE_DMA_WRITE :
                                     PEST_TTYPE_DMA_READ) |
                 SETFIELD(IODA3_PEST0_RID, 0ull, rid),
                 SETFIELD(IODA3_PEST1_FAIL_ADDR, 0ull, iova >> 3),
                 is_write ? "DMA write translation fault" :
                            "DMA read translation fault");
        entry->perm = IOMMU_NONE;
    }
}

bool pnv_phb4_eeh_msi_blocked(PnvPHB4 *phb, int pe, uint32_t src)
{
    if (phb_fenced(phb)) {
        trace_pnv_phb4_eeh_msi_dropped(phb->chip_id, phb->phb_id, pe, src);
        return true;
    }
    if (pe < 0 || pe >= num_pes(phb) || !(phb->ioda_PEST_AB[pe] & PEST_B)) {
        return false;
    }
    trace_pnv_phb4_eeh_msi_dropped(phb->chip_id, phb->phb_id, pe, src);
    return true;
}

void pnv_phb4_eeh_mmio_miss(PnvPHB4 *phb, hwaddr pci_addr, bool is_write)
{
    int pe = mmio_pe(phb, pci_addr);

    if (pe < 0 || !mmio_eeh_enabled(phb)) {
        return;         /* no MBT entry (the access did not get here), or */
    }                   /* MMIO EEH disabled */
    pe_error(eeh_of(phb), pe, IODA3_PEST0_MMIO_CAUSE | IODA3_PEST0_UR_RETURN |
             SETFIELD(IODA3_PEST0_TTYPE, 0ull,
                      is_write ? PEST_TTYPE_MMIO_STORE : PEST_TTYPE_MMIO_LOAD),
             SETFIELD(IODA3_PEST1_FAIL_ADDR, 0ull, pci_addr >> 3),
             is_write ? "MMIO store: no device" : "MMIO load: no device");
}

void pnv_phb4_eeh_mmio_decode_changed(PnvPHB4 *phb)
{
    PnvPhb4Eeh *eeh = eeh_of(phb);

    if (any_frozen(phb) || eeh->failing->len) {
        windows_update(eeh);
    }
}

static void eeh_reset(void *opaque)
{
    PnvPhb4Eeh *eeh = opaque;

    memset(eeh->errors, 0, sizeof(eeh->errors));
    memset(eeh->pest0, 0, sizeof(eeh->pest0));
    memset(eeh->pest1, 0, sizeof(eeh->pest1));
    memset(eeh->phb->ioda_PEST_AB, 0, sizeof(eeh->phb->ioda_PEST_AB));
    failing_total -= eeh->failing->len;
    g_ptr_array_set_size(eeh->failing, 0);
    fence_set(eeh, false, "machine reset");
    windows_update(eeh);
    blocker_update(eeh);
}

void pnv_phb4_eeh_init(PnvPHB4 *phb)
{
    PnvPhb4Eeh *eeh = g_new0(PnvPhb4Eeh, 1);

    eeh->phb = phb;
    eeh->windows = g_ptr_array_new();
    eeh->failing = g_ptr_array_new_with_free_func(g_free);
    if (QLIST_EMPTY(&eeh_phbs)) {
        device_listener_register(&failing_listener);
        pcie_aer_root_msg_add_notifier(&root_msg_notifier);
    }
    QLIST_INSERT_HEAD(&eeh_phbs, eeh, next);
    qemu_register_reset(eeh_reset, eeh);
}

/* ---------------------------------------------------------------- QMP */

static PCIDevice *qmp_pci_device(const char *id, PnvPhb4Eeh **eehp,
                                 Error **errp)
{
    DeviceState *dev = qdev_find_by_id_or_path(id, errp);
    PCIDevice *pdev;
    PCIBus *root;
    PnvPhb4Eeh *eeh;

    if (!dev) {
        return NULL;
    }
    pdev = (PCIDevice *)object_dynamic_cast(OBJECT(dev), TYPE_PCI_DEVICE);
    if (!pdev || !pci_get_bus(pdev)) {
        error_setg(errp, "'%s' is not a PCI device", id);
        return NULL;
    }
    root = pci_device_root_bus(pdev);
    eeh = eeh_of_root_bus(root);
    if (!eeh) {
        error_setg(errp, "'%s' is not below a PowerNV PHB4/PHB5", id);
        return NULL;
    }
    if (pci_get_bus(pdev) == root) {
        error_setg(errp, "'%s' is the PHB's root port, which has no PE of "
                   "its own to freeze here", id);
        return NULL;
    }
    *eehp = eeh;
    return pdev;
}

static int qmp_device_pe(const char *id, PnvPhb4Eeh **eehp, PCIDevice **pdevp,
                         Error **errp)
{
    PCIDevice *pdev = qmp_pci_device(id, eehp, errp);
    int pe;

    if (!pdev) {
        return -1;
    }
    pe = rid_pe((*eehp)->phb, pci_requester_id(pdev));
    if (pe < 0) {
        error_setg(errp, "the RTT of '%s''s PHB is not set up: firmware has "
                   "not assigned PEs yet", id);
        return -1;
    }
    if (pdevp) {
        *pdevp = pdev;
    }
    return pe;
}

static uint64_t first_bar(PCIDevice *pdev)
{
    for (int i = 0; i < PCI_NUM_REGIONS; i++) {
        if (pdev->io_regions[i].size &&
            pdev->io_regions[i].addr != PCI_BAR_UNMAPPED &&
            !(pdev->io_regions[i].type & PCI_BASE_ADDRESS_SPACE_IO)) {
            return pdev->io_regions[i].addr;
        }
    }
    return 0;
}

/* An error of @kind by @dev, logged as the PHB logs it */
static void device_error(PnvPhb4Eeh *eeh, unsigned pe, PCIDevice *dev,
                         PnvEehErrorKind kind)
{
    uint64_t rid = SETFIELD(IODA3_PEST0_RID, 0ull, pci_requester_id(dev));
    uint64_t pest0, fail = 0;

    switch (kind) {
    case PNV_EEH_ERROR_KIND_MMIO_LOAD:
    case PNV_EEH_ERROR_KIND_MMIO_STORE:
        pest0 = IODA3_PEST0_MMIO_CAUSE | IODA3_PEST0_UR_RETURN | rid |
                SETFIELD(IODA3_PEST0_TTYPE, 0ull,
                         kind == PNV_EEH_ERROR_KIND_MMIO_LOAD ?
                         PEST_TTYPE_MMIO_LOAD : PEST_TTYPE_MMIO_STORE);
        fail = first_bar(dev);
        break;
    case PNV_EEH_ERROR_KIND_DMA_READ:
    case PNV_EEH_ERROR_KIND_DMA_WRITE:
        pest0 = IODA3_PEST0_TCE_PAGE_FAULT | rid |
                SETFIELD(IODA3_PEST0_TTYPE, 0ull,
                         kind == PNV_EEH_ERROR_KIND_DMA_READ ?
                         PEST_TTYPE_DMA_READ : PEST_TTYPE_DMA_WRITE);
        break;
    default:
        g_assert_not_reached();
    }
    pe_error(eeh, pe, pest0, SETFIELD(IODA3_PEST1_FAIL_ADDR, 0ull, fail >> 3),
             PnvEehErrorKind_str(kind));
}

/* A fence of @pdev's PHB, as a fatal PHB error makes it */
static void qmp_inject_fence(const char *id, bool persistent, Error **errp)
{
    PnvPhb4Eeh *eeh;
    PCIDevice *pdev = qmp_pci_device(id, &eeh, errp);

    if (!pdev) {
        return;
    }
    if (persistent) {
        error_setg(errp, "'persistent' applies to a device's errors, not to "
                   "a PHB fence");
        return;
    }
    trace_pnv_phb4_eeh_qmp_inject(id, "fence", 0, false);
    eeh->phb->nest_regs[PEC_NEST_STK_PCI_NEST_FIR] |= NFIR_FENCE;
    fence_set(eeh, true, "injected");
}

void qmp_x_pnv_eeh_inject(const char *id, PnvEehErrorKind kind,
                          bool has_persistent, bool persistent, Error **errp)
{
    PnvPhb4Eeh *eeh;
    PCIDevice *pdev;
    int pe;

    if (kind == PNV_EEH_ERROR_KIND_FENCE) {
        qmp_inject_fence(id, persistent, errp);
        return;
    }
    pe = qmp_device_pe(id, &eeh, &pdev, errp);
    if (pe < 0) {
        return;
    }
    if (kind_is_mmio(kind) && !mmio_eeh_enabled(eeh->phb)) {
        error_setg(errp, "the PHB of '%s' has MMIO EEH disabled "
                   "(PHB_CTRLR, skiboot's pci-eeh-mmio=disabled): an MMIO "
                   "error freezes nothing", id);
        return;
    }
    trace_pnv_phb4_eeh_qmp_inject(id, PnvEehErrorKind_str(kind), pe,
                                  persistent);
    for (unsigned i = 0; i < eeh->failing->len; i++) {
        FailingDevice *f = g_ptr_array_index(eeh->failing, i);

        if (f->dev == pdev) {
            g_ptr_array_remove_index(eeh->failing, i);
            failing_total--;
            break;
        }
    }
    if (persistent) {
        FailingDevice *f = g_new0(FailingDevice, 1);

        f->dev = pdev;
        f->kind = kind;
        g_ptr_array_add(eeh->failing, f);
        failing_total++;
        windows_update(eeh);
    }
    device_error(eeh, pe, pdev, kind);
}

void qmp_x_pnv_eeh_freeze(const char *id, bool has_mmio, bool mmio,
                          bool has_dma, bool dma, Error **errp)
{
    PnvPhb4Eeh *eeh;
    uint8_t bits = (!has_mmio || mmio ? PEST_A : 0) |
                   (!has_dma || dma ? PEST_B : 0);
    int pe;

    if (!bits) {
        error_setg(errp, "nothing to freeze: 'mmio' and 'dma' are both false");
        return;
    }
    pe = qmp_device_pe(id, &eeh, NULL, errp);
    if (pe < 0) {
        return;
    }
    pest_set(eeh, pe, bits, true);
}

typedef struct PeDevices {
    PnvPHB4 *phb;
    unsigned pe;
    strList **tail;
} PeDevices;

static void pe_device_one(PCIBus *bus, PCIDevice *pdev, void *opaque)
{
    PeDevices *pd = opaque;

    if (pci_get_bus(pdev) != pci_device_root_bus(pdev) &&
        rid_pe(pd->phb, pci_requester_id(pdev)) == pd->pe) {
        QAPI_LIST_APPEND(pd->tail, object_get_canonical_path(OBJECT(pdev)));
    }
}

static void pe_info_append(PnvPhb4Eeh *eeh, unsigned pe,
                           PnvEehPeInfoList ***tail)
{
    PnvPHB4 *phb = eeh->phb;
    PnvEehPeInfo *info = g_new0(PnvEehPeInfo, 1);
    PeDevices pd = { .phb = phb, .pe = pe, .tail = &info->devices };
    PCIBus *root = PCI_HOST_BRIDGE(phb->phb_base)->bus;

    info->phb = object_get_canonical_path(OBJECT(phb->phb_base));
    info->chip_id = phb->chip_id;
    info->phb_id = phb->phb_id;
    info->pe = pe;
    info->mmio_frozen = phb->ioda_PEST_AB[pe] & PEST_A;
    info->dma_frozen = phb->ioda_PEST_AB[pe] & PEST_B;
    info->errors = eeh->errors[pe];
    info->pest0 = eeh->pest0[pe];
    info->pest1 = eeh->pest1[pe];
    info->persistent = pe_failing(eeh, pe) != NULL;
    info->phb_fenced = eeh->fenced;
    for (int b = 0; b < 256; b++) {
        pci_for_each_device(root, b, pe_device_one, &pd);
    }
    QAPI_LIST_APPEND(*tail, info);
}

PnvEehPeInfoList *qmp_x_query_pnv_eeh(const char *id, Error **errp)
{
    PnvEehPeInfoList *head = NULL, **tail = &head;
    PnvPhb4Eeh *eeh;
    GList *phbs = NULL;

    if (id) {
        int pe = qmp_device_pe(id, &eeh, NULL, errp);

        if (pe >= 0) {
            pe_info_append(eeh, pe, &tail);
        }
        return head;
    }
    QLIST_FOREACH(eeh, &eeh_phbs, next) {
        phbs = g_list_prepend(phbs, eeh);       /* list head is newest */
    }
    for (GList *l = phbs; l; l = l->next) {
        eeh = l->data;
        for (unsigned pe = 0; pe < num_pes(eeh->phb); pe++) {
            if (eeh->phb->ioda_PEST_AB[pe] || eeh->errors[pe] ||
                pe_failing(eeh, pe)) {
                pe_info_append(eeh, pe, &tail);
            }
        }
    }
    g_list_free(phbs);
    return head;
}
