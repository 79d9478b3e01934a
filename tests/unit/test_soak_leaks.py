"""Unit tests of soak-leaks' reading of heaptrack_print --diff output."""

import io
import sys
import unittest
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugfault"))
# pylint: disable-next=import-error,wrong-import-position
import soak_leaks  # noqa: E402

DIFF = """reading file "a.zst" - please wait, this might take some time...
MEMORY LEAKS
251.76K leaked over 279970 calls from
g_malloc
  in /lib/x86_64-linux-gnu/libglib-2.0.so.0
251.76K leaked over 6294 calls from:
    q_tree_node_new
      at ../tree/util/qtree.c:122
      in /work/exp/bin/qemu-system-ppc64
    tcg_tb_insert
      at ../tree/tcg/region.c:229
    tb_gen_code
  and 0B from 495 other places

3.47K leaked over 7 calls from
0x7f81e20cd993
  in /lib/x86_64-linux-gnu/libglib-2.0.so.0
3.47K leaked over 7 calls from:
    g_slice_alloc
      in /lib/x86_64-linux-gnu/libglib-2.0.so.0
    pnv_phb_slot_power
      at ../tree/hw/pci-host/pnv_phb_slot.c:100
-1.02K leaked over -4 calls from:
    g_slice_alloc
    object_resolve_path_type
  and 2.02K from 3 other places

24.58K leaked over 824 calls from
tlb_mmu_resize_locked
  at ../tree/accel/tcg/cputlb.c:273
122.88K leaked over 635 calls from:
    tlb_flush_one_mmuidx_locked
      at ../tree/accel/tcg/cputlb.c:293

total memory leaked: 154.82K
"""


class LeakSites(unittest.TestCase):
    def test_sites(self):
        sites = soak_leaks.leak_sites(DIFF)
        self.assertEqual(
            [(s, t, f[:2]) for s, t, f in sites],
            [(251760.0, "g_malloc", ["q_tree_node_new", "tcg_tb_insert"]),
             (0.0, "g_malloc", ["(other places)"]),
             (3470.0, "0x7f81e20cd993", ["g_slice_alloc",
                                         "pnv_phb_slot_power"]),
             (-1020.0, "0x7f81e20cd993", ["g_slice_alloc",
                                          "object_resolve_path_type"]),
             (2020.0, "0x7f81e20cd993", ["(other places)"]),
             (122880.0, "tlb_mmu_resize_locked",
              ["tlb_flush_one_mmuidx_locked"])])

    def test_verdict_counts_only_what_is_not_tcg(self):
        sites = soak_leaks.leak_sites(DIFF)
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(soak_leaks.verdict(sites, 40, 4.5), 0)
        self.assertIn("+4.4 KiB elsewhere", out.getvalue())
        self.assertIn("pnv_phb_slot_power", out.getvalue())
        with redirect_stdout(io.StringIO()):
            self.assertEqual(soak_leaks.verdict(sites, 40, 4.0), 1)

    def test_verdict_only_counts_the_named_sites(self):
        sites = soak_leaks.leak_sites(DIFF)
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(
                soak_leaks.verdict(sites, 40, 3.0, ("pnv_phb_slot_",)), 1)
        self.assertIn("+3.4 KiB in those", out.getvalue())
        self.assertIn("+1.0 KiB at sites without pnv_phb_slot_",
                      out.getvalue())
        with redirect_stdout(io.StringIO()):
            self.assertEqual(
                soak_leaks.verdict(sites, 40, 3.0, ("live_xlate_",)), 0)

    def test_no_leak_section_is_an_error(self):
        with self.assertRaises(ValueError):
            soak_leaks.leak_sites("reading file\n")


if __name__ == "__main__":
    unittest.main()
