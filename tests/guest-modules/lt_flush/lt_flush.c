// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * plugfault test scaffolding: flush the kernel's lazy vmap aliases on demand.
 *
 * iounmap()/vunmap() clear the page-table entries at once but leave the
 * TLB flush to the lazy vmap purge.  Writing 1 to
 * /sys/module/lt_flush/parameters/unmap_aliases runs vm_unmap_aliases(), as
 * rpaphp's disable_slot does on pseries.
 *
 * The flush is a parameter write, not the module load: loading a module
 * changes page protections of its memory (set_memory_ro/x), and on radix
 * every kernel-range TLB flush is a tlbie of the whole kernel PID, which
 * would drop the stale translation by itself.  Load the module before the
 * removal under test.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/vmalloc.h>

static int unmap_aliases_set(const char *val, const struct kernel_param *kp)
{
	bool v;
	int ret = kstrtobool(val, &v);

	if (ret) {
		return ret;
	}
	if (v) {
		vm_unmap_aliases();
		pr_info("lt_flush: vm_unmap_aliases() done\n");
	}
	return 0;
}

static const struct kernel_param_ops unmap_aliases_ops = {
	.set = unmap_aliases_set,
};
module_param_cb(unmap_aliases, &unmap_aliases_ops, NULL, 0200);
MODULE_PARM_DESC(unmap_aliases, "write 1: run vm_unmap_aliases()");

MODULE_DESCRIPTION("plugfault: run vm_unmap_aliases() on demand");
MODULE_LICENSE("GPL");
