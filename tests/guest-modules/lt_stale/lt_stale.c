// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * plugfault test scaffolding: a buggy access through a stale translation.
 *
 * "map": ioremap() BAR 0 of the first e1000e (8086:10d3), read its STATUS
 * register, iounmap() it and keep the virtual address.  iounmap() clears the
 * page-table entry but leaves the TLB flush to the lazy vmap purge, so the
 * translation stays live in the TLB of the CPU that read.
 * "read": read STATUS again through the kept address, the way a driver bug
 * (a use after iounmap) would.  On hardware that still holds the
 * translation the read reaches whatever now decodes the old BAR address.
 * Run both on the same CPU (the scenario uses one vCPU).
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/io.h>

#define LT_E1000E_STATUS	0x8

static void __iomem *stale;

static int map_set(const char *val, const struct kernel_param *kp)
{
	struct pci_dev *pdev = pci_get_device(PCI_VENDOR_ID_INTEL, 0x10d3, NULL);
	void __iomem *p;

	if (!pdev) {
		return -ENODEV;
	}
	p = ioremap(pci_resource_start(pdev, 0), PAGE_SIZE);
	if (!p) {
		pci_dev_put(pdev);
		return -ENOMEM;
	}
	pr_info("lt_stale: %s BAR 0 %pa at %px: STATUS 0x%08x\n", pci_name(pdev),
		&pdev->resource[0].start, p, readl(p + LT_E1000E_STATUS));
	iounmap(p);
	stale = p;
	pci_dev_put(pdev);
	return 0;
}

static int read_set(const char *val, const struct kernel_param *kp)
{
	if (!stale) {
		return -EINVAL;
	}
	pr_info("lt_stale: read through stale %px: STATUS 0x%08x\n", stale,
		readl(stale + LT_E1000E_STATUS));
	return 0;
}

static const struct kernel_param_ops map_ops = { .set = map_set };
static const struct kernel_param_ops read_ops = { .set = read_set };
module_param_cb(map, &map_ops, NULL, 0200);
module_param_cb(read, &read_ops, NULL, 0200);
MODULE_PARM_DESC(map, "write 1: ioremap e1000e BAR 0, read, iounmap, keep the address");
MODULE_PARM_DESC(read, "write 1: read through the kept (stale) address");

MODULE_DESCRIPTION("plugfault: access through a stale translation (use after iounmap)");
MODULE_LICENSE("GPL");
