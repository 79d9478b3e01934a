"""Unit tests of the runner's own checking logic (steps, health, soak,
facts, results): a fake machine and a fake guest shell, no QEMU.  Each
test breaks when the check it names stops checking."""

import base64
import json
import mmap
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import time
import unittest
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from pflib import facts, guest, kernels, matrix, results, scenario, soak
from pflib import stuck
from pflib.console import Console
from pflib.runner import FAIL, PASS, SKIP, Result, exit_code
from pflib.steps import StepFailed, Steps, _subset

HEAD = '''
description = "d"
arch = "x86_64"
machine = "q35"
kernel = "debian-amd64-6.12"
'''


class FakeConsole(Console):
    """A console whose 'guest' answers shell commands through `answer`."""

    def __init__(self, logpath: Path,
                 answer: Optional[Callable[[str], Optional[tuple]]] = None):
        super().__init__(None, logpath)
        self.answer = answer or (lambda cmd: (0, ""))

    def write(self, data: bytes) -> None:
        text = data.decode()
        m = re.search(r'begin-(\d+)@@"\n\( (.*)\n\) > ', text, re.S)
        if not m:
            return
        n, cmd = m.group(1), m.group(2)
        ans = self.answer(cmd)
        if ans is None:                       # the guest hangs
            return
        rc, out = ans
        b64 = base64.b64encode(out.encode()).decode()
        lines = "".join(f"@@o {b64[i:i + 76]}\n"
                        for i in range(0, len(b64), 76))
        self.feed(f"@@pf-begin-{n}@@\n{lines}@@pf-rc-{rc}-{n}@@\n")


class FakeMachine:
    """What Steps uses of pflib.machine.Machine."""

    def __init__(self, rundir: Path):
        self.rundir = rundir
        self.events: List[Dict[str, Any]] = []
        self.event_cursor = 0
        self.pending: List[Dict[str, Any]] = []
        self.returns: Dict[str, Any] = {}
        self.running = True
        self.registers = ""

    def command(self, name: str, args: Dict[str, Any]) -> Any:
        del args
        return self.returns.get(name, {})

    def pump_events(self, wait: float = 0.0) -> None:
        del wait
        self.events += self.pending
        self.pending = []

    def is_running(self) -> bool:
        return self.running

    def exitcode(self) -> int:
        return 0

    def stderr_tail(self) -> str:
        return "(no stderr)"

    def hmp(self, line: str, cpu: Optional[int] = None) -> str:
        del cpu
        return self.registers if line.startswith("info") else ""


class StepCase(unittest.TestCase):
    """Loads a scenario body and runs its steps against the fakes."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.d = Path(self.tmp.name)
        self.machine = FakeMachine(self.d)
        self.answers: Dict[str, tuple] = {}
        self.consoles: List[Console] = []

    def tearDown(self) -> None:
        for c in self.consoles:
            c.close()
        self.tmp.cleanup()

    def answer(self, cmd: str) -> Optional[tuple]:
        for k, v in self.answers.items():
            if k in cmd:
                return v
        return (0, "")

    def steps(self, body: str, outcome: Optional[str] = None,
              symbols: Optional[Dict[str, int]] = None) -> Steps:
        path = self.d / "s.toml"
        path.write_text(HEAD + textwrap.dedent(body))
        sc = scenario.load(path)
        self.console = FakeConsole(self.d / "console.log", self.answer)
        self.consoles.append(self.console)
        return Steps(sc, self.machine,  # type: ignore[arg-type]
                     self.console, lambda m: None,
                     time.monotonic() + 60, {}, symbols=symbols,
                     outcome=outcome)

    def run_steps(self, body: str, **kw: Any) -> Steps:
        st = self.steps(body, **kw)
        st.run(st.scen.steps)
        return st


class GuestSteps(StepCase):
    def test_exit_status_is_checked(self):
        self.answers = {"false": (1, "")}
        self.run_steps('[[step]]\nguest = "true"\n')
        with self.assertRaisesRegex(StepFailed, "exited 1, expected 0"):
            self.run_steps('[[step]]\nguest = "false"\n')
        self.run_steps('[[step]]\nguest = "false"\nrc = 1\n')

    def test_output_and_not_output(self):
        self.answers = {"cat": (0, "a\nslot 1\n")}
        self.run_steps('[[step]]\nguest = "cat"\noutput = "^slot 1$"\n')
        with self.assertRaisesRegex(StepFailed, "does not match"):
            self.run_steps('[[step]]\nguest = "cat"\noutput = "^slot 2$"\n')
        with self.assertRaisesRegex(StepFailed, "output matches"):
            self.run_steps('[[step]]\nguest = "cat"\nnot_output = "slot"\n')

    def test_kernel_messages_in_the_replay_are_not_output(self):
        st = self.steps('[[step]]\nguest = "x"\nnot_output = "NIC Link"\n')

        def spliced(data: bytes) -> None:
            n = st.shell.seq
            self.console.feed(f"@@pf-begin-{n}@@\n@@o Ymlu"
                              "[    5.7] e1000e eth0: NIC Link is Down\n"
                              f"ZAo=\n@@pf-rc-0-{n}@@\n")
        self.console.write = spliced  # type: ignore
        st.run(st.scen.steps)

    def test_hang(self):
        self.answers = {"echo alive": None}        # never answers
        self.run_steps('[[step]]\nguest = "echo alive"\nhang = true\n'
                       'timeout = 0.3\n')
        self.answers = {}
        with self.assertRaisesRegex(StepFailed, "expected to hang"):
            self.run_steps('[[step]]\nguest = "echo alive"\nhang = true\n'
                           'timeout = 0.3\n')

    def test_timeout_fails(self):
        self.answers = {"sleep": None}
        with self.assertRaisesRegex(StepFailed, "did not start"):
            self.run_steps('[[step]]\nguest = "sleep 9"\ntimeout = 0.3\n')

    def test_stuck_in_needs_every_sample_there(self):
        regs = "CPU#0\nRIP=ffffffff81000150 RFL=00000046 [---Z-P-] HLT=0\n"
        self.machine.registers = regs
        self.answers = {"echo alive": None}
        body = ('[[step]]\nguest = "echo alive"\nhang = true\n'
                'stuck_in = "^qi_submit_sync$"\nirqs_off = true\n'
                'samples = 2\ntimeout = 0.2\n')
        syms = {"_stext": 0xffffffff81000000, "qi_submit_sync":
                0xffffffff81000100, "other": 0xffffffff81000200,
                "_etext": 0xffffffff82000000}
        st = self.run_steps(body, symbols=syms)
        self.assertIn("vCPU0 stuck in qi_submit_sync+0x50 with interrupts "
                      "off", st.found[0])
        self.machine.registers = regs.replace("00000046", "00000246")
        with self.assertRaisesRegex(StepFailed, "interrupts off"):
            self.run_steps(body, symbols=syms)
        self.machine.registers = regs.replace("81000150", "81000250")
        with self.assertRaisesRegex(StepFailed, "stuck in"):
            self.run_steps(body, symbols=syms)


class StuckSamples(unittest.TestCase):
    """stuck.summarize over hand-made samples."""

    SYMS = {"_stext": 0x1000, "qi_submit_sync": 0x2000,
            "printk": 0x3000, "qi_submit_sync.cold": 0x9000}
    ENDS = {"qi_submit_sync": 0x2400, "printk": 0x3100,
            "qi_submit_sync.cold": 0x9200}

    def smp(self, pc: int, stack: List[int]) -> stuck.CpuSample:
        s = stuck.CpuSample(cpu=0, addr=pc, irqs_on=False, halted=False)
        s.stack = stack
        return s

    def test_cold_part_counts_as_its_function(self):
        # a sample in printk called from the loop's cold part (jumped to,
        # not called: no return address into qi_submit_sync itself)
        sym = stuck.Symbolizer(self.SYMS, 0, self.ENDS)
        rounds = [[self.smp(0x2050, [])], [self.smp(0x3010, [0x9183])],
                  [self.smp(0x9010, [])]]
        v = stuck.summarize(rounds, sym, 4, want="^qi_submit_sync$")
        self.assertEqual(v.stuck, {0: "qi_submit_sync"})
        self.assertEqual(stuck.clone_base("qi_submit_sync.cold"),
                         "qi_submit_sync")
        self.assertEqual(stuck.clone_base("f.isra.0"), "f")

    def test_elsewhere_is_moving(self):
        sym = stuck.Symbolizer(self.SYMS, 0, self.ENDS)
        rounds = [[self.smp(0x2050, [])], [self.smp(0x3010, [0x5000])]]
        v = stuck.summarize(rounds, sym, 4, want="^qi_submit_sync$")
        self.assertEqual(v.stuck, {})
        self.assertIn("vCPU0 moving", v.text)


class QmpSteps(StepCase):
    def test_expect_empty_list(self):
        self.machine.returns["q"] = []
        self.run_steps('[[step]]\nqmp = "q"\nexpect = []\n')
        self.machine.returns["q"] = [{"device": "nic1"}]
        with self.assertRaisesRegex(StepFailed, "expected \\[\\]"):
            self.run_steps('[[step]]\nqmp = "q"\nexpect = []\n')

    def test_expect_subset(self):
        self.machine.returns["q"] = {"a": True, "b": 2}
        self.run_steps('[[step]]\nqmp = "q"\nexpect = { a = true }\n')
        self.machine.returns["q"] = {"a": 1}
        with self.assertRaises(StepFailed):
            self.run_steps('[[step]]\nqmp = "q"\nexpect = { a = true }\n')


class EventSteps(StepCase):
    BODY = '''
        [[step]]
        event = "B"
        timeout = 0.3
        [[step]]
        event = "A"
        timeout = 0.3
    '''

    def test_events_are_consumed_in_order(self):
        self.machine.pending = [{"event": "A"}, {"event": "B"}]
        # B matched at index 1: the A before it is passed over for good
        with self.assertRaisesRegex(StepFailed, "no QMP event A"):
            self.run_steps(self.BODY)

    def test_event_counts_once(self):
        self.machine.pending = [{"event": "A"}]
        with self.assertRaisesRegex(StepFailed, "no QMP event A"):
            self.run_steps('[[step]]\nevent = "A"\n[[step]]\nevent = "A"\n'
                           'timeout = 0.3\n')

    def test_event_data(self):
        self.machine.pending = [{"event": "A", "data": {"device": "nic2"}}]
        with self.assertRaises(StepFailed):
            self.run_steps('[[step]]\nevent = "A"\n'
                           'data = { device = "nic1" }\ntimeout = 0.3\n')

    def test_absent(self):
        self.run_steps('[[step]]\nevent = "A"\nabsent = true\n'
                       'timeout = 0.2\n')
        self.machine.pending = [{"event": "A"}]
        with self.assertRaisesRegex(StepFailed, "expected none"):
            self.run_steps('[[step]]\nevent = "A"\nabsent = true\n'
                           'timeout = 0.2\n')


class Health(StepCase):
    def test_oops_right_after_the_last_step_fails_in_settle(self):
        st = self.run_steps('[[step]]\nnote = "n"\n')
        self.console.feed("[  9.1] Oops: 0000 [#1] SMP\n")
        with self.assertRaisesRegex(StepFailed, "Oops"):
            st.settle(0.1)

    def test_kernel_warning_fails_unless_allowed(self):
        warn = ("[  3.2] WARNING: CPU: 0 PID: 1 at drivers/pci/x.c:9 "
                "f+0x1/0x2\n")
        st = self.run_steps('[[step]]\nnote = "n"\n')
        self.console.feed(warn)
        with self.assertRaisesRegex(StepFailed, "WARNING: CPU"):
            st.health.check()
        st = self.run_steps('allow = ["drivers/pci/x.c"]\n[[step]]\n'
                            'note = "n"\n')
        self.console.feed(warn)
        st.health.check()

    def test_kernel_warning_in_7x_format_fails(self):
        # Linux 7.x (Debian 7.2.13): file:line first, CPU and task last
        warn = ("[  5.6] WARNING: lib/refcount.c:28 at "
                "refcount_warn_saturate+0x214/0x230, CPU#0: sh/118\n")
        st = self.run_steps('[[step]]\nnote = "n"\n')
        self.console.feed(warn)
        with self.assertRaisesRegex(StepFailed, "lib/refcount.c:28"):
            st.health.check()

    def test_qemu_exit_fails(self):
        st = self.run_steps('[[step]]\nnote = "n"\n')
        self.machine.running = False
        with self.assertRaisesRegex(StepFailed, "QEMU exited"):
            st.health.check()


class Outcomes(StepCase):
    BODY = '''
        [facts]
        fixed = "version >= 6.9"
        [[expect]]
        outcome = "ok"
        when = "fixed"
        [[expect]]
        outcome = "bad"
        when = "not fixed"
        [[step]]
        outcome = "bad"
        guest = "false"
    '''

    def test_steps_run_for_their_outcome_only(self):
        self.answers = {"false": (1, "")}
        self.run_steps(self.BODY, outcome="ok")
        with self.assertRaises(StepFailed):
            self.run_steps(self.BODY, outcome="bad")

    def test_unknown_outcome_is_an_error(self):
        with self.assertRaisesRegex(scenario.ScenarioError, "not in any"):
            self.steps('[[expect]]\noutcome = "a"\nwhen = "version > 1"\n'
                       '[[step]]\noutcome = "b"\nnote = "n"\n')


class Subset(unittest.TestCase):
    def test_true_is_not_one(self):
        self.assertFalse(_subset(True, 1))
        self.assertFalse(_subset(1, True))
        self.assertFalse(_subset({"a": True}, {"a": 1}))
        self.assertTrue(_subset({"a": True}, {"a": True}))
        self.assertTrue(_subset(0, 0))


class Soak(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.d = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_rss_limit_without_samples_fails(self):
        s = soak.Soak({"rss": True, "rss_growth_max_kib": 10}, self.d)
        s.sample(1, None)                   # no QEMU pid: no sample
        with self.assertRaisesRegex(StepFailed, "no RSS sample"):
            s.verdict_line("")
        s.close()

    def test_rss_growth_over_limit_fails(self):
        s = soak.Soak({"rss": True, "rss_growth_max_kib": 10}, self.d)
        s.rss = [(1, 100, 50), (2, 200, 61)]
        with self.assertRaisesRegex(StepFailed, "more than the 10 KiB"):
            s.verdict_line("")
        s.rss = [(1, 100, 50), (2, 200, 60)]
        self.assertIn("+10 KiB", s.verdict_line(""))
        s.close()

    def test_rss_growth_fitted(self):
        # a sawtooth with no trend: the ends differ by 300 KiB, the fitted
        # line by far less (+69 KiB)
        rows = [(c, 1000, 500 + (300 if c % 2 else 0)) for c in range(10, 22)]
        rep = {"rss": True, "rss_growth_max_kib": 100, "warmup_cycles": 10}
        s = soak.Soak(dict(rep, rss_growth="fit"), self.d)
        s.rss = list(rows)
        self.assertIn("(+300 KiB; fitted +69 KiB)", s.verdict_line(""))
        s.close()
        s = soak.Soak(rep, self.d)
        s.rss = list(rows)
        with self.assertRaisesRegex(StepFailed, "more than the 100 KiB"):
            s.verdict_line("")
        s.close()
        # a leak of 20 KiB a cycle over 10 cycles fails the fitted limit
        s = soak.Soak(dict(rep, rss_growth="fit"), self.d)
        s.rss = [(c, 1000, 500 + 20 * (c - 10)) for c in range(10, 21)]
        with self.assertRaisesRegex(StepFailed, r"\(fitted\)"):
            s.verdict_line("")
        s.close()
        self.assertAlmostEqual(
            soak.fitted_growth([(0, 0), (10, 100), (20, 200)]), 200.0)
        self.assertEqual(soak.fitted_growth([(5, 7)]), 0.0)

    def test_flush_tcg_before_each_sample(self):
        calls = []
        rep = {"rss": True, "flush_tcg": True}
        s = soak.Soak(rep, self.d, flush=lambda: calls.append("flush"),
                      resume=lambda: calls.append("resume"))
        s.sample(10, os.getpid())
        s.sample(11, os.getpid())
        s.sample(12, None)                  # no QEMU: neither flush nor RSS
        self.assertEqual(calls, ["flush", "resume"] * 2)
        self.assertEqual([r[0] for r in s.rss], [10, 11])
        self.assertIn("each sample after a TCG cache flush",
                      s.verdict_line(""))
        s.close()
        # without the key the flush is not called
        calls.clear()
        s = soak.Soak({"rss": True}, self.d, flush=lambda: calls.append(1),
                      resume=lambda: calls.append(2))
        s.sample(1, os.getpid())
        self.assertEqual(calls, [])
        self.assertNotIn("flush", s.verdict_line(""))
        s.close()
        with self.assertRaisesRegex(ValueError, "no way to flush"):
            soak.Soak(rep, self.d)
        # the guest resumes even when the sample fails
        calls.clear()
        s = soak.Soak(rep, self.d, flush=lambda: calls.append("flush"),
                      resume=lambda: calls.append("resume"))
        real = soak.small_mappings
        try:
            soak.small_mappings = lambda pid: 1 // 0   # type: ignore
            with self.assertRaises(ZeroDivisionError):
                s.sample(13, os.getpid())
        finally:
            soak.small_mappings = real
        self.assertEqual(calls, ["flush", "resume"])
        s.close()

    def test_growth_by_mapping(self):
        first = {"7f00 rw-p [heap]": 100, "7e00 rw-p [anon]": 8,
                 "7d00 r-xp /lib/libc.so.6": 40}
        last = {"7f00 rw-p [heap]": 164, "7d00 r-xp /lib/libc.so.6": 40,
                "7c00 rw-p [anon]": 4}
        self.assertEqual(soak.growth_by_mapping(first, last),
                         [(64, "7f00 rw-p [heap]"), (4, "7c00 rw-p [anon]"),
                          (-8, "7e00 rw-p [anon]")])

    def test_small_mappings_of_this_process(self):
        maps = soak.small_mappings(os.getpid())
        assert maps is not None
        self.assertTrue(any(k.endswith("[stack]") for k in maps))
        # 8 MiB touched in a 512 MiB mapping (like guest RAM) do not count
        maps = soak.small_mappings(os.getpid())
        assert maps is not None
        before = sum(maps.values())
        with mmap.mmap(-1, 512 << 20) as big:
            for off in range(0, 8 << 20, 4096):
                big[off] = 1
            maps = soak.small_mappings(os.getpid())
            assert maps is not None
            self.assertLess(sum(maps.values()) - before, 4 << 10)

    def test_console_count_maximum(self):
        rep = {"console_counts": {"EEH": {"pattern": "EEH:", "max": 0},
                                  "noise": "failed to assign"}}
        s = soak.Soak(rep, self.d)
        self.assertEqual(s.verdict_line("failed to assign\n"),
                         "0 EEH (max 0); 1 noise")
        with self.assertRaisesRegex(StepFailed, "1 EEH, at most 0"):
            s.verdict_line("EEH: Frozen PHB#0-PE#fe\n")


class Facts(unittest.TestCase):
    K = kernels.KernelFacts(version=(6, 1, 176),
                            config={"CONFIG_PCI": "y", "CONFIG_X": "m",
                                    "CONFIG_HZ": "250"})

    def ev(self, text: str, **named: str) -> bool:
        return facts.Evaluator(self.K, named).eval(text)

    def test_expressions(self):
        self.assertTrue(self.ev("version >= 6.1 and version < 6.9"))
        self.assertFalse(self.ev("version >= 6.9"))
        self.assertTrue(self.ev("CONFIG_PCI and CONFIG_X"))
        self.assertFalse(self.ev("CONFIG_Y"))
        self.assertTrue(self.ev("CONFIG_HZ=250 and not CONFIG_HZ=100"))
        self.assertTrue(self.ev("not (fixed or CONFIG_Y)",
                                fixed="version >= 6.9"))

    def test_unknown_without_config(self):
        with self.assertRaises(facts.Unknown):
            facts.Evaluator(kernels.KernelFacts()).eval("CONFIG_PCI")
        with self.assertRaises(facts.FactError):
            facts.Evaluator(self.K).eval("version >=")

    def test_missing_config_is_named(self):
        ev = facts.Evaluator(self.K)
        self.assertEqual(facts.describe_missing("CONFIG_INTEL_IOMMU", ev),
                         "CONFIG_INTEL_IOMMU is not set")


class Kernels(unittest.TestCase):
    def test_module_trees_without_modules_dep(self):
        with tempfile.TemporaryDirectory() as t:
            root = Path(t)
            md = root / "lib/modules/7.2.13+deb14-amd64"
            (md / "kernel/drivers").mkdir(parents=True)
            (md / "kernel/drivers/a.ko").write_bytes(b"\0depends=\0")
            self.assertEqual(kernels.find_moddir(root), md)
            self.assertEqual(kernels.find_moddir(md), md)

    def test_builtin_list_from_the_image_package(self):
        # linux-image extracted to A (image, modules.builtin), the modules
        # elsewhere (B): the built-in module is still found
        with tempfile.TemporaryDirectory() as t:
            a, b = Path(t) / "A", Path(t) / "B/lib/modules/6.1.0-50-amd64"
            (a / "boot").mkdir(parents=True)
            img = a / "boot/vmlinuz-6.1.0-50-amd64"
            img.write_bytes(b"x")
            mdir = a / "lib/modules/6.1.0-50-amd64"
            mdir.mkdir(parents=True)
            (mdir / "modules.builtin").write_text(
                "kernel/drivers/virtio/virtio_pci.ko\n")
            (b / "kernel").mkdir(parents=True)
            (b / "kernel/virtio_net.ko").write_bytes(b"\0depends=\0")
            order, builtin = guest.resolve_modules(
                b, ["virtio_pci", "virtio_net"],
                guest.builtin_candidates(img))
            self.assertEqual(builtin, ["virtio_pci"])
            self.assertEqual([p.name for p in order], ["virtio_net.ko"])

    def test_stub_system_map_is_no_system_map(self):
        with tempfile.TemporaryDirectory() as t:
            root = Path(t)
            (root / "boot").mkdir()
            img = root / "boot/vmlinuz-6.1.0-50-amd64"
            img.write_bytes(b"x")
            (root / "boot/System.map-6.1.0-50-amd64").write_text(
                "ffffffffffffffff B The real System.map is in the "
                "linux-image-<version>-dbg package\n")
            f = kernels.find_facts(img, [root], None)
            self.assertIsNone(f.system_map)


class Stuck(unittest.TestCase):
    def test_parse_x86_and_power(self):
        x86 = ("CPU#0\nRIP=ffffffff81000010 RFL=00000246 [---Z-P-] HLT=0\n"
               "CPU#1\nRIP=ffffffff81000020 RFL=00000046 [---Z-P-] HLT=1\n")
        s = stuck.parse_registers(x86)
        self.assertEqual([(c.cpu, c.irqs_on, c.halted) for c in s],
                         [(0, True, False), (1, False, True)])
        ppc = ("CPU#0\nNIP c000000000001234   LR 0 CTR 0 XER 0 CPU#0\n"
               "MSR 8000000000009033 HID0 0\n")
        s = stuck.parse_registers(ppc)
        self.assertEqual((s[0].addr, s[0].irqs_on), (0xc000000000001234, True))

    def test_kaslr_offset(self):
        syms = {"_text": 0xffffffff81000000}
        self.assertEqual(stuck.kaslr_offset(
            "plugfault-init: kallsyms ffffffff9a000000 T _text\n", syms),
            0x19000000)


class Results(unittest.TestCase):
    RES = [Result("a", "k1", PASS, "ok", 1.5, Path("/tmp/a")),
           Result("b", "k1", FAIL, "step 3 (x): no <event>", 2.0,
                  Path("/tmp/b"), failed_step="3"),
           Result("a", "k2", SKIP, "cannot test: CONFIG_X is not set", 0.1,
                  None)]

    def test_exit_codes_for_bisect(self):
        self.assertEqual(exit_code(self.RES[:1]), 0)
        self.assertEqual(exit_code(self.RES), 1)
        self.assertEqual(exit_code(self.RES[2:]), 125)

    def test_junit_shape(self):
        # pylint: disable-next=import-outside-toplevel
        import xml.etree.ElementTree as ET
        root = ET.fromstring(results.junit(self.RES))
        self.assertEqual(root.tag, "testsuites")
        suites = root.findall("testsuite")
        self.assertEqual(len(suites), 2)
        for i, s in enumerate(suites):
            # the XSD's required attributes and child order
            for a in ("package", "id", "name", "timestamp", "hostname",
                      "tests", "failures", "errors", "time"):
                self.assertIn(a, s.attrib)
            self.assertEqual(s.attrib["id"], str(i))
            kids = [c.tag for c in s]
            self.assertEqual(kids[0], "properties")
            self.assertEqual(kids[-2:], ["system-out", "system-err"])
            for c in s.findall("testcase"):
                self.assertLessEqual(len(list(c)), 1)
                for sub in c:
                    if sub.tag in ("failure", "error"):
                        self.assertIn("type", sub.attrib)
        self.assertEqual(suites[0].attrib["failures"], "1")
        self.assertEqual(suites[1].find("testcase/skipped").tag, "skipped")

    @unittest.skipUnless(os.environ.get("PLUGFAULT_JUNIT_XSD") and
                         shutil.which("xmllint"),
                         "PLUGFAULT_JUNIT_XSD (the common JUnit XSD) unset")
    def test_junit_validates_against_the_xsd(self):
        with tempfile.TemporaryDirectory() as t:
            doc = Path(t) / "junit.xml"
            doc.write_text(results.junit(self.RES + [
                Result("c", "k2", "INTERRUPTED", "interrupted (SIGTERM)", 1.0,
                       None)]))
            res = subprocess.run(["xmllint", "--noout", "--schema",
                                  os.environ["PLUGFAULT_JUNIT_XSD"], str(doc)],
                                 capture_output=True, text=True, check=False)
            self.assertEqual(res.returncode, 0, res.stderr)

    def test_tap(self):
        text = results.tap(self.RES)
        self.assertIn("1..3", text)
        self.assertIn("not ok 2 - b [k1]", text)
        self.assertIn("ok 3 - a [k2] # SKIP cannot test", text)

    def test_verdict_json_round_trip(self):
        r = Result.from_json(json.loads(json.dumps(self.RES[1].to_json())))
        self.assertEqual(r, self.RES[1])


class Shards(unittest.TestCase):
    def test_shards_partition_the_cells(self):
        items = [(object(), str(i)) for i in range(7)]
        got = [matrix.shard(items, f"{k}/3") for k in (1, 2, 3)]
        self.assertEqual(sorted(c[1] for g in got for c in g),
                         sorted(c[1] for c in items))
        self.assertEqual([c[1] for c in got[1]], ["1", "4"])
        with self.assertRaises(ValueError):
            matrix.shard(items, "4/3")


if __name__ == "__main__":
    unittest.main()
