"""The --report page in a real browser: Debian's headless Chromium loads
it, takes a screenshot, and the rendered DOM has the grid's cells, the
failing step highlighted and the plots.  Skipped without chromium."""

import json
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from pflib import report
from pflib.runner import FAIL, PASS, SKIP, Result

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def fake_run(d: Path, ites: int = 0, cycles: int = 0) -> Path:
    d.mkdir(parents=True)
    (d / "console.log").write_text("plugfault-init: ready\n")
    (d / "steps.log").write_text("[0.1s] step 1 ok\n")
    with open(d / "qmp.log", "w", encoding="utf-8") as fh:
        for i in range(ites):
            fh.write(json.dumps({"t": 20 + i * 0.5, "event": {
                "event": "X_VTD_QI_ERROR", "data": {"kind": "ite"}}}) + "\n")
    if cycles:
        (d / "rss.csv").write_text("".join(
            f"{c},{900000 + c},{40000 + 3 * c}\n" for c in range(cycles)))
    return d


@unittest.skipUnless(CHROMIUM, "chromium is not installed")
class ReportInChromium(unittest.TestCase):
    def test_grid_steps_and_plots(self):
        with tempfile.TemporaryDirectory() as t:
            t = Path(t)
            res = [
                Result("vtd-ite-surprise-removal", "debian-amd64-6.1", PASS,
                       "lockup (expected: ...)", 30.0,
                       fake_run(t / "r1", ites=12),
                       steps=[{"label": "1", "name": "booted", "ok": True,
                               "result": "ready"}]),
                Result("vtd-ite-surprise-removal", "debian-amd64-6.12", FAIL,
                       "step 2 (traffic): exited 1", 20.0, fake_run(t / "r2"),
                       steps=[{"label": "1", "name": "booted", "ok": True},
                              {"label": "2", "name": "traffic", "ok": False,
                               "error": "exited 1"}], failed_step="2"),
                Result("pnv-hotplug-soak", "debian-ppc64el-6.12", PASS, "ok",
                       900.0, fake_run(t / "r3", cycles=20)),
                Result("pnv-hotplug-soak", "debian-amd64-6.1", SKIP,
                       "cannot test: arch", 0.0, None),
            ]
            page = report.write(t / "rep", res)
            shot = t / "shot.png"
            base = [CHROMIUM] + FLAGS + [f"--user-data-dir={t / 'profile'}"]
            subprocess.run(base + ["--window-size=1200,1600",
                                   f"--screenshot={shot}", page.as_uri()],
                           capture_output=True, timeout=120, check=True)
            self.assertTrue(shot.read_bytes().startswith(b"\x89PNG"))
            self.assertGreater(shot.stat().st_size, 10000)
            dom = subprocess.run(base + ["--dump-dom", page.as_uri()],
                                 capture_output=True, text=True, timeout=120,
                                 check=True).stdout
            cells = re.findall(r'<td class="verdict (\w+)" data-scenario='
                               r'"([^"]+)" data-kernel="([^"]+)"', dom)
            self.assertIn(("PASS", "vtd-ite-surprise-removal",
                           "debian-amd64-6.1"), cells)
            self.assertIn(("FAIL", "vtd-ite-surprise-removal",
                           "debian-amd64-6.12"), cells)
            self.assertIn(("SKIP", "pnv-hotplug-soak", "debian-amd64-6.1"),
                          cells)
            self.assertEqual(len(cells), 2 * 3)        # 2 scenarios, 3 kernels
            self.assertRegex(dom, r'<tr class="failed"><td>2</td>'
                             r'<td>traffic</td>')
            self.assertIn('class="plot ite"', dom)
            self.assertIn('class="plot rss"', dom)
            # the cells link to their sections, and those to the logs
            self.assertIn('href="#run-1"', dom)
            self.assertTrue((t / "rep/runs/1/console.log.txt").exists())


if __name__ == "__main__":
    unittest.main()
