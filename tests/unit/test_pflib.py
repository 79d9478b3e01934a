"""Unit tests of plugfault's own tooling (scripts/pflib): no QEMU, no
network."""

import lzma
import os
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from pflib import assemble, guest, modpost_lite, scenario
from pflib.steps import _subset


def write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


class ScenarioFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    HEAD = '''
        description = "d"
        arch = "ppc64"
        machine = "powernv9"
        kernel = "debian-ppc64el-6.12"
    '''

    def load(self, body):
        return scenario.load(
            write(
                self.d /
                "s.toml",
                self.HEAD +
                textwrap.dedent(body)))

    def test_repeat_group_expands(self):
        sc = self.load('''
            [[step]]
            repeat = 3
            group = "g"
            [[group.g]]
            qmp = "device_add"
            args = { id = "nic{cycle}" }
            [[group.g]]
            event = "DEVICE_DELETED"
        ''')
        self.assertEqual(sc.steps[0].kind, "repeat")
        self.assertEqual(sc.steps[0].value, 3)
        self.assertEqual([s.kind for s in sc.steps[0].steps], ["qmp", "event"])

    def test_test_modules_and_empty_list_expect(self):
        sc = self.load('''
            test_modules = ["lt_flush"]
            [[step]]
            qmp = "x-query-live-translations"
            expect = []
        ''')
        self.assertEqual(sc.test_modules, ["lt_flush"])
        self.assertEqual(sc.steps[0].expect, [])

    def test_step_needs_exactly_one_kind(self):
        with self.assertRaisesRegex(scenario.ScenarioError, "exactly one of"):
            self.load('[[step]]\nqmp = "x"\nguest = "y"\n')
        with self.assertRaisesRegex(scenario.ScenarioError, "exactly one of"):
            self.load('[[step]]\ntimeout = 3\n')

    def test_unknown_keys_are_errors(self):
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    "unknown key.*colour"):
            self.load('[[step]]\nguest = "true"\ncolour = "red"\n')
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    "unknown key.*machnie"):
            scenario.load(
                write(
                    self.d /
                    "t.toml",
                    self.HEAD +
                    'machnie = "x"\n[[step]]\nnote="n"\n'))

    def test_report_rss_keys(self):
        sc = self.load('[report]\nrss = true\nflush_tcg = true\n'
                       'rss_growth = "fit"\n[[step]]\nnote = "n"\n')
        self.assertEqual(sc.report["rss_growth"], "fit")
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    'rss_growth must be "ends" or "fit"'):
            self.load('[report]\nrss_growth = "mean"\n[[step]]\nnote = "n"\n')
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    "flush_tcg must be true or false"):
            self.load('[report]\nflush_tcg = 1\n[[step]]\nnote = "n"\n')

    def test_bad_regex_and_timeout(self):
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    "bad regular expression"):
            self.load('[[step]]\nconsole = "("\n')
        with self.assertRaisesRegex(scenario.ScenarioError, "timeout"):
            self.load('[[step]]\nconsole = "x"\ntimeout = -1\n')

    def test_repeat_needs_known_group(self):
        with self.assertRaisesRegex(scenario.ScenarioError, "group = NAME"):
            self.load('[[step]]\nrepeat = 2\ngroup = "nope"\n')

    def test_substitute(self):
        self.assertEqual(
            scenario.substitute({"id": "nic{cycle}", "l": ["{cycle}"]},
                                {"cycle": 4}),
            {"id": "nic4", "l": ["4"]})
        with self.assertRaisesRegex(scenario.ScenarioError,
                                    "unknown variable"):
            scenario.substitute("{nope}", {"cycle": 1})

    def test_shipped_scenarios_load(self):
        repo = Path(__file__).resolve().parents[2]
        scs = scenario.all_scenarios(repo / "tests" / "scenarios")
        self.assertTrue(any(s.default for s in scs))
        for s in scs:
            self.assertIn(s.kernel, guest.KERNELS, s.name)


class Subset(unittest.TestCase):
    def test_subset(self):
        self.assertTrue(_subset({"a": 1}, {"a": 1, "b": 2}))
        self.assertFalse(_subset({"a": 2}, {"a": 1}))
        self.assertTrue(
            _subset({"p": "re:^/machine/.*nic1$"},
                    {"p": "/machine/peripheral/nic1"}))
        self.assertFalse(_subset({"a": {"b": 1}}, {"a": 1}))
        self.assertTrue(_subset([], []))
        self.assertFalse(_subset([], [{"a": 1}]))


class ModpostLite(unittest.TestCase):
    def test_args_and_symvers(self):
        out, inputs, order = modpost_lite.parse_args(
            ["-M", "-m", "-E", "-o", "Module.symvers", "-T", "-", "-i",
             "k.symvers",
             "-e", "-i", "x.symvers", "-u", "whitelist"])
        self.assertEqual(
            (out, inputs, order), ("Module.symvers", [
                "k.symvers", "x.symvers"], "-"))
        with tempfile.TemporaryDirectory() as t:
            p = Path(t) / "Module.symvers"
            p.write_text(
                "0xc22a3091\tvm_unmap_aliases\tvmlinux\tEXPORT_SYMBOL_GPL\t\n")
            self.assertEqual(
                modpost_lite.read_symvers(
                    [p]), {
                    "vm_unmap_aliases": (
                        0xc22a3091, "vmlinux", "EXPORT_SYMBOL_GPL")})


class ShellView(unittest.TestCase):
    def test_kernel_messages_spliced_into_shell_lines_are_cut(self):
        from pflib.console import Console
        c = Console.__new__(Console)
        c.buf = ("boot\n@@pf-begin-3@@\n@@o Ymlu"
                 "[    5.713625] e1000e 0001:01:00.0 eth0: NIC Link is Down\n"
                 "ZAo=\n[    8.119345618,0] OPAL: msg\n@@pf-rc-0-3@@\nafter\n")
        view, to_raw = c.shell_view(5)
        self.assertEqual(
            view, "@@pf-begin-3@@\n@@o YmluZAo=\n@@pf-rc-0-3@@\nafter\n")
        end = view.index("@@pf-rc-0-3@@") + len("@@pf-rc-0-3@@")
        self.assertEqual(c.buf[to_raw(end):], "\nafter\n")
        self.assertEqual(c.buf[to_raw(0):to_raw(0) + 5], "@@pf-")


class Initramfs(unittest.TestCase):
    def test_newc_layout(self):
        c = guest.Newc()
        c.dir("bin")
        c.file("bin/x", b"hello", 0o755)
        c.symlink("bin/y", "x")
        img = c.finish()
        self.assertEqual(len(img) % 512, 0)
        self.assertTrue(img.startswith(b"070701"))
        self.assertIn(b"TRAILER!!!\0", img)
        if subprocess.run(["which", "cpio"],
                          capture_output=True).returncode == 0:
            out = subprocess.run(["cpio", "-it"], input=img,
                                 capture_output=True).stdout
            self.assertEqual(out.decode().split(), ["bin", "bin/x", "bin/y"])

    def test_modules_resolved_from_modinfo_in_load_order(self):
        with tempfile.TemporaryDirectory() as t:
            md = Path(t)

            def mod(path, deps, xz=False):
                data = (b"\x7fELF....\0license=GPL\0depends=" +
                        deps.encode() + b"\0name=x\0")
                p = md / path
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(lzma.compress(data) if xz else data)
            mod("kernel/a/top-mod.ko.xz", "mid_mod,leaf", xz=True)
            mod("kernel/b/mid_mod.ko", "leaf")
            mod("kernel/c/leaf.ko", "")
            (md / "modules.builtin").write_text("kernel/d/builtin_one.ko\n")
            order, builtin = guest.resolve_modules(
                md, ["top-mod", "builtin-one"])
            self.assertEqual([p.name for p in order], [
                             "leaf.ko", "mid_mod.ko", "top-mod.ko.xz"])
            self.assertEqual(builtin, ["builtin_one"])
            with self.assertRaisesRegex(guest.GuestError, "neither"):
                guest.resolve_modules(md, ["missing"])


class Assemble(unittest.TestCase):
    def test_overlay_patch_and_trace_events(self):
        with tempfile.TemporaryDirectory() as t:
            t = Path(t)
            base, repo, out = t / "base", t / "repo", t / "out"
            write(base / "hw/x/meson.build", "a\nb\nc\n")
            write(base / "hw/x/trace-events", "base_ev(void) \"\"\n")
            write(repo / "meson.build", "# ours\n")
            write(repo / "hw/x/new.c", "int x;\n")
            write(repo / "hw/x/trace-events", "our_ev(void) \"\"\n")
            write(
                repo / "scripts/patches/0001-x.patch",
                "--- a/hw/x/meson.build\n+++ b/hw/x/meson.build\n"
                "@@ -1,3 +1,4 @@\n a\n b\n+hook\n c\n")
            changed = assemble.assemble(base, repo, out)
            self.assertTrue(changed)
            self.assertEqual(
                (out / "hw/x/meson.build").read_text(),
                "a\nb\nhook\nc\n")
            self.assertTrue((out / "hw/x/new.c").is_symlink())
            te = (out / "hw/x/trace-events").read_text()
            self.assertTrue(te.startswith("base_ev") and "our_ev" in te)
            self.assertEqual(
                assemble.assemble(
                    base,
                    repo,
                    out),
                [])   # incremental: no-op
            # a stale patch names itself and the file
            write(
                repo / "scripts/patches/0001-x.patch",
                "--- a/hw/x/meson.build\n+++ b/hw/x/meson.build\n"
                "@@ -1,3 +1,4 @@\n q\n r\n+hook\n s\n")
            with self.assertRaisesRegex(assemble.AssembleError,
                                        "0001-x.patch.*\n.*meson.build"):
                assemble.assemble(base, repo, out)
            # overlaying a base file is refused
            os.remove(repo / "scripts/patches/0001-x.patch")
            write(repo / "hw/x/meson.build", "mine\n")
            with self.assertRaisesRegex(assemble.AssembleError,
                                        "would replace a base file"):
                assemble.assemble(base, repo, out)


if __name__ == "__main__":
    unittest.main()
