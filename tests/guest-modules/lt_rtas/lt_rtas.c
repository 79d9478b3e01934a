// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * plugfault test scaffolding: RTAS isolation of a DRC, as drmgr does it.
 *
 * powerpc-utils' drmgr isolates a PCI slot's DRC with RTAS
 * ibm,set-indicator(9001 isolation-state, DRC index, 0 isolate) after the
 * kernel removed the devices.  The test guest has no drmgr; writing a DRC
 * index to /sys/module/lt_rtas/parameters/isolate makes the same call and
 * logs the raw RTAS status ("lt_rtas: isolate 0x... -> STATUS"), e.g. -9001
 * "valid outstanding translations exist".
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <asm/rtas.h>

#define LT_ISOLATION_STATE	9001
#define LT_ISOLATE		0

static int isolate_set(const char *val, const struct kernel_param *kp)
{
	u32 index;
	int ret = kstrtou32(val, 0, &index);
	int token = rtas_function_token(RTAS_FN_SET_INDICATOR);
	int status;

	if (ret) {
		return ret;
	}
	if (token == RTAS_UNKNOWN_SERVICE) {
		return -ENODEV;
	}
	do {
		status = rtas_call(token, 3, 1, NULL, LT_ISOLATION_STATE, index,
				   LT_ISOLATE);
	} while (rtas_busy_delay(status));
	pr_info("lt_rtas: isolate 0x%x -> %d\n", index, status);
	return 0;
}

static const struct kernel_param_ops isolate_ops = {
	.set = isolate_set,
};
module_param_cb(isolate, &isolate_ops, NULL, 0200);
MODULE_PARM_DESC(isolate, "write a DRC index: RTAS isolate it, log the status");

MODULE_DESCRIPTION("plugfault: RTAS DRC isolation on demand (drmgr's call)");
MODULE_LICENSE("GPL");
