/*
 * plugfault: the partition-removal check on pseries (RTAS isolation of a
 * PCI DRC while translations to the device's MMIO are live)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PPC_SPAPR_LIVE_TRANSLATIONS_H
#define HW_PPC_SPAPR_LIVE_TRANSLATIONS_H

#include "hw/ppc/spapr_drc.h"

/*
 * PAPR / PowerVM: ibm,set-indicator(isolation-state, ISOLATE) fails with
 * -9001 "Valid outstanding translations exist" (powerpc-utils drmgr:
 * VALID_TRANSLATION).
 */
#define RTAS_OUT_VALID_TRANSLATIONS     -9001

/* Hook in hw/ppc/spapr_drc.c drc_isolate_physical (scripts/patches/0025-...). */
bool spapr_live_xlate_isolate_allowed(SpaprDrc *drc);

#endif
