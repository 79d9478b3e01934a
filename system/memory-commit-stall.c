/*
 * plugfault: a test device that holds memory-map commits open
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A memory-map commit (memory_region_transaction_commit()) publishes the
 * new FlatView of every AddressSpace in turn, and only afterwards runs the
 * global commit hooks; TCG's (tcg_commit) queues the TLB flush of each
 * vCPU there.  In between, and until each vCPU has run that flush, vCPUs
 * keep running with TLB entries filled from the old map.  The window is
 * normally microseconds, so races in it show up once in many runs.  This
 * device makes it as long as asked, deterministically:
 *
 *   -device x-memory-commit-stall,id=stall,probe-addr=0xfe000000
 *   qom-set /machine/peripheral/stall delay-ms 20
 *   qom-set /machine/peripheral/stall probe-mapped false
 *
 * It owns an AddressSpace over system memory, created when the device is
 * realized, after the machine's vCPUs (so it comes after their
 * AddressSpaces in the commit order), and a listener on it that sleeps
 * @delay-ms the first time a commit changes that map.  Only commits made
 * outside vCPU threads are held (a vCPU's own commit cannot race with
 * itself).
 *
 * @hold-next-commit-ms holds the next commit made outside a vCPU thread
 * from its start instead (the listeners' begin), whatever it changes:
 * before any AddressSpace has its new map, so vCPUs keep resolving against
 * the old one, and before anything else the command that made the commit
 * goes on to do.  It is one-shot and reads back 0 once spent.
 *
 * With @probe-addr it also maps a 4 KiB MMIO probe there, which
 * @probe-mapped takes out of the map and puts back (a memory-map change
 * the host controls).  The probe reads 0x5ca1ab1e; if it is accessed while
 * it is not mapped (an access routed by a stale TLB entry to a region that
 * has left the map) it counts the access in @stale-probe-accesses and
 * reads 0x0badf00d.
 *
 * For tests only (tests/plugfault/iotlb-race); the x- prefix says so.  It
 * is a bus-less device rather than an -object so that it needs no entry in
 * the QAPI ObjectType enumeration of the base's schema.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object.h"
#include "hw/qdev-core.h"
#include "hw/qdev-properties.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "hw/core/cpu.h"
#include "trace.h"

#define TYPE_MEMORY_COMMIT_STALL "x-memory-commit-stall"
OBJECT_DECLARE_SIMPLE_TYPE(MemoryCommitStall, MEMORY_COMMIT_STALL)

/* Upper bound on a stall: a test device must not hang the main loop. */
#define MEMORY_COMMIT_STALL_MAX_MS  10000
#define PROBE_NONE                  UINT64_MAX
#define PROBE_VALUE                 0x5ca1ab1eu
#define PROBE_STALE_VALUE           0x0badf00du

struct MemoryCommitStall {
    DeviceState parent_obj;

    /* properties */
    uint64_t probe_addr;
    uint32_t delay_ms;          /* runtime, atomic: read on commit */
    uint32_t hold_next_ms;      /* runtime, one-shot */
    bool probe_mapped;

    uint64_t stalls;            /* commits held so far */
    uint64_t stale_probe_accesses;
    bool stalled_this_commit;
    AddressSpace as;
    MemoryListener listener;
    MemoryRegion probe;
};

static void stall_begin(MemoryListener *listener)
{
    MemoryCommitStall *s = container_of(listener, MemoryCommitStall, listener);
    uint32_t ms = qatomic_read(&s->hold_next_ms);

    s->stalled_this_commit = false;
    if (!ms || current_cpu) {
        return;
    }
    qatomic_set(&s->hold_next_ms, 0);
    s->stalls++;
    trace_memory_commit_stall_begin(ms);
    g_usleep(ms * 1000);
}

static void stall_change(MemoryListener *listener, MemoryRegionSection *section)
{
    MemoryCommitStall *s = container_of(listener, MemoryCommitStall, listener);
    uint32_t ms = qatomic_read(&s->delay_ms);

    if (!ms || s->stalled_this_commit || current_cpu) {
        return;
    }
    s->stalled_this_commit = true;
    s->stalls++;
    trace_memory_commit_stall(ms, section->offset_within_address_space,
                              int128_get64(section->size));
    g_usleep(ms * 1000);
}

static uint64_t probe_read(void *opaque, hwaddr addr, unsigned size)
{
    MemoryCommitStall *s = opaque;

    if (!s->probe_mapped) {
        s->stale_probe_accesses++;
        trace_memory_commit_stall_stale_probe(addr, size);
        return PROBE_STALE_VALUE;
    }
    return PROBE_VALUE;
}

static void probe_write(void *opaque, hwaddr addr, uint64_t val,
                        unsigned size)
{
    MemoryCommitStall *s = opaque;

    if (!s->probe_mapped) {
        s->stale_probe_accesses++;
        trace_memory_commit_stall_stale_probe(addr, size);
    }
}

static const MemoryRegionOps probe_ops = {
    .read = probe_read,
    .write = probe_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

static void stall_realize(DeviceState *dev, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(dev);

    if (s->probe_addr != PROBE_NONE && (s->probe_addr & (4 * KiB - 1))) {
        error_setg(errp, "probe-addr must be 4 KiB aligned");
        return;
    }
    if (s->probe_addr != PROBE_NONE) {
        memory_region_init_io(&s->probe, OBJECT(s), &probe_ops, s,
                              "x-memory-commit-stall-probe", 4 * KiB);
        memory_region_add_subregion_overlap(get_system_memory(), s->probe_addr,
                                            &s->probe, 1);
        s->probe_mapped = true;
    }
    address_space_init(&s->as, get_system_memory(), "x-memory-commit-stall");
    s->listener = (MemoryListener) {
        .name = "x-memory-commit-stall",
        .begin = stall_begin,
        .region_add = stall_change,
        .region_del = stall_change,
        .priority = MEMORY_LISTENER_PRIORITY_MIN,
    };
    memory_listener_register(&s->listener, &s->as);
}

static void stall_unrealize(DeviceState *dev)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(dev);

    memory_listener_unregister(&s->listener);
    address_space_destroy(&s->as);
    if (s->probe_addr != PROBE_NONE) {
        memory_region_del_subregion(get_system_memory(), &s->probe);
    }
}

static void stall_get_delay(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);
    uint32_t value = s->delay_ms;

    visit_type_uint32(v, name, &value, errp);
}

static void stall_set_delay(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value > MEMORY_COMMIT_STALL_MAX_MS) {
        error_setg(errp, "delay-ms must be at most %u",
                   MEMORY_COMMIT_STALL_MAX_MS);
        return;
    }
    qatomic_set(&s->delay_ms, value);
}

static void stall_get_hold_next(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);
    uint32_t value = qatomic_read(&s->hold_next_ms);

    visit_type_uint32(v, name, &value, errp);
}

static void stall_set_hold_next(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value > MEMORY_COMMIT_STALL_MAX_MS) {
        error_setg(errp, "hold-next-commit-ms must be at most %u",
                   MEMORY_COMMIT_STALL_MAX_MS);
        return;
    }
    qatomic_set(&s->hold_next_ms, value);
}

static bool stall_get_probe_mapped(Object *obj, Error **errp)
{
    return MEMORY_COMMIT_STALL(obj)->probe_mapped;
}

static void stall_set_probe_mapped(Object *obj, bool value, Error **errp)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);

    if (!DEVICE(obj)->realized || s->probe_addr == PROBE_NONE) {
        error_setg(errp, "the device has no probe (set probe-addr)");
        return;
    }
    s->probe_mapped = value;
    memory_region_set_enabled(&s->probe, value);
}

static void stall_get_u64(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    uint64_t value = *(uint64_t *)opaque;

    visit_type_uint64(v, name, &value, errp);
}

static void stall_instance_init(Object *obj)
{
    MemoryCommitStall *s = MEMORY_COMMIT_STALL(obj);

    object_property_add(obj, "stalls", "uint64", stall_get_u64, NULL, NULL,
                        &s->stalls);
    object_property_add(obj, "stale-probe-accesses", "uint64", stall_get_u64,
                        NULL, NULL, &s->stale_probe_accesses);
}

static const Property stall_properties[] = {
    DEFINE_PROP_UINT64("probe-addr", MemoryCommitStall, probe_addr,
                       PROBE_NONE),
};

static void stall_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);

    dc->realize = stall_realize;
    dc->unrealize = stall_unrealize;
    dc->user_creatable = true;
    dc->desc = "test device: holds memory-map commits open (x-: tests only)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_props(dc, stall_properties);
    object_class_property_add(oc, "delay-ms", "uint32", stall_get_delay,
                              stall_set_delay, NULL, NULL);
    object_class_property_set_description(oc, "delay-ms",
        "Milliseconds each memory-map commit made outside a vCPU is held "
        "open after the vCPUs' maps were switched (0: off, at most 10000)");
    object_class_property_add(oc, "hold-next-commit-ms", "uint32",
                              stall_get_hold_next, stall_set_hold_next,
                              NULL, NULL);
    object_class_property_set_description(oc, "hold-next-commit-ms",
        "Milliseconds the next memory-map commit made outside a vCPU is held "
        "from its start, before any map is switched (one-shot: reads 0 once "
        "spent; at most 10000)");
    object_class_property_add_bool(oc, "probe-mapped", stall_get_probe_mapped,
                                   stall_set_probe_mapped);
    object_class_property_set_description(oc, "probe-mapped",
        "Whether the 4 KiB probe at probe-addr is in the memory map");
}

static const TypeInfo memory_commit_stall_types[] = {
    {
        .name = TYPE_MEMORY_COMMIT_STALL,
        .parent = TYPE_DEVICE,
        .instance_size = sizeof(MemoryCommitStall),
        .instance_init = stall_instance_init,
        .class_init = stall_class_init,
    },
};

DEFINE_TYPES(memory_commit_stall_types)
