/*
 * plugfault: x-tcg-flush, TCG's translation cache flushed on request
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The bookkeeping of translated blocks (the blocks' search-tree nodes,
 * hash-table slots, page lists) lives on QEMU's heap and grows with every
 * block translated until the cache is flushed, which with the default
 * code buffer (1 GiB) a long soak never reaches.  A memory measurement
 * that wants what QEMU keeps outside the translation cache flushes it
 * first: this command does that as tb_flush() does when the buffer is
 * full, in an exclusive section on a vCPU (all vCPUs out of generated
 * code), gives what that freed back to the OS, and only then returns.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-tcg-flush.h"
#include "qemu/coroutine.h"
#include "block/aio.h"
#include "hw/core/cpu.h"
#include "exec/tb-flush.h"
#include "system/tcg.h"
#include "trace.h"
#ifdef CONFIG_MALLOC_TRIM
#include <malloc.h>
#endif

/* On a vCPU thread, in an exclusive section: tb_flush() is synchronous */
static void tcg_flush_work(CPUState *cpu, run_on_cpu_data data)
{
    Coroutine *co = data.host_ptr;

    tb_flush(cpu);
#ifdef CONFIG_MALLOC_TRIM
    malloc_trim(0);
#endif
    trace_tcg_flush_qmp_done(cpu->cpu_index);
    /* The command's coroutine, in the main loop's context */
    aio_co_wake(co);
}

void coroutine_fn qmp_x_tcg_flush(Error **errp)
{
    if (!tcg_enabled()) {
        error_setg(errp, "x-tcg-flush needs TCG (-accel tcg); this machine "
                   "runs under another accelerator");
        return;
    }
    if (!first_cpu) {
        error_setg(errp, "x-tcg-flush: the machine has no vCPU");
        return;
    }
    /*
     * The work item cannot run before this coroutine yields: a vCPU
     * processes queued work with the BQL, which the main loop holds until
     * then; and aio_co_wake() from the vCPU thread only schedules the
     * coroutine in the main loop's context.
     */
    async_safe_run_on_cpu(first_cpu, tcg_flush_work,
                          RUN_ON_CPU_HOST_PTR(qemu_coroutine_self()));
    qemu_coroutine_yield();
}
