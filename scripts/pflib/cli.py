"""plugfault: run PCI hotplug / IOMMU fault scenarios on real Linux guests.

  plugfault list                       scenarios and boot presets
  plugfault run NAME|FILE.toml ...     run scenarios
  plugfault demo                       the default set, as a table
  plugfault matrix --kernels K,... [--scenarios S,...] [-j N] [--shard K/N]
  plugfault boot PRESET|NAME           boot to the guest shell (Ctrl-a x)
  plugfault qmp SOCKET COMMAND [key=value ...]
  plugfault images [KERNEL...]         fetch and cache the pinned images

Exit status (git bisect run): 0 pass, 1 fail, 125 cannot test (set-up
error, missing kernel config, interrupted); 2 usage error.  Every run keeps
its artifacts (console.log, qmp.log, qemu-cmdline.txt, qemu-stderr.log,
steps.log, verdict.txt, verdict.json) in a directory it prints.
"""

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import debfetch, guest, kernels, matrix, report, results, runner
from . import scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "tests" / "scenarios"
PRESETS = REPO / "tests" / "presets"


def find_scenario(name: str) -> scenario.Scenario:
    """A scenario by name, path or boot preset name."""
    if name.endswith(".toml"):
        return scenario.load(Path(name))
    if (PRESETS / f"{name}.toml").exists() and \
            not (SCENARIOS / f"{name}.toml").exists():
        return scenario.load(PRESETS / f"{name}.toml")
    return scenario.load(scenario.find(SCENARIOS, name))


def kernel_spec(args: argparse.Namespace) -> Optional[str]:
    """--kernel / --kernel-deb as one kernel spec."""
    debs = getattr(args, "kernel_deb", None)
    if debs:
        if len(debs) == 1 and not debs[0].endswith(".deb"):
            return f"debian:{debs[0]}" if not debs[0].startswith(
                "debian:") else debs[0]
        return ",".join(str(Path(d).resolve()) for d in debs)
    if args.kernel:
        k = args.kernel
        return str(Path(k).resolve()) if Path(k).exists() else k
    return None


def options(args: argparse.Namespace, **kw: object) -> runner.Options:
    """runner.Options from the command line."""
    return runner.Options(
        repo=REPO, qemu=args.qemu, kernel=kernel_spec(args),
        modules=args.modules, initrd=args.initrd, artifacts=args.artifacts,
        rundir=getattr(args, "rundir", None),
        until_ready=getattr(args, "until_ready", False), quiet=args.quiet,
        extra_qemu=tuple(args.qemu_arg or ()),
        facts=kernels.fact_overrides(args.fact or ()), **kw)  # type: ignore


def publish(res: Sequence[runner.Result], args: argparse.Namespace) -> None:
    """--junit / --tap / --report."""
    if args.junit:
        results.write(args.junit, results.junit(res))
    if args.tap:
        sys.stdout.write(results.tap(res))
    if args.report:
        page = report.write(args.report, res)
        print(f"report: {page}")


def run_many(names: Sequence[str], args: argparse.Namespace,
             kernels_of: Optional[Sequence[Optional[str]]] = None) -> int:
    """Run scenarios one after the other (each on kernels_of[i], when
    given and no --kernel)."""
    res: List[runner.Result] = []
    base = options(args)
    for i, name in enumerate(names):
        opts = base
        if kernels_of and kernels_of[i] and not base.kernel:
            opts = dataclasses.replace(base, kernel=kernels_of[i])
        try:
            scen = find_scenario(name)
        except scenario.ScenarioError as exc:
            print(f"plugfault: error: {exc}", file=sys.stderr)
            res.append(runner.Result(name, opts.kernel or "-", runner.ERROR,
                                     f"set-up error: {exc}", 0.0, None))
            continue
        result = runner.Run(scen, opts).execute()
        print(f"{result.verdict} {name} ({result.elapsed:.1f}s): "
              f"{result.reason}",
              flush=True)
        print(f"  artifacts: {result.rundir}", flush=True)
        res.append(result)
        if result.verdict == runner.INTERRUPTED:
            break
    if len(res) > 1:
        print()
        print(results.table(res))
    publish(res, args)
    return runner.exit_code(res)


def cmd_list(_args: argparse.Namespace) -> int:
    """plugfault list."""
    for scen in scenario.all_scenarios(SCENARIOS):
        mark = "*" if scen.default else " "
        print(f"{mark} {scen.name:28s} {scen.machine:10s} {scen.kernel:22s} "
              f"{scen.description}")
    print("(* = in the default set run by 'make demo')")
    print("boot presets (plugfault boot NAME):")
    for path in sorted(PRESETS.glob("*.toml")):
        scen = scenario.load(path)
        print(f"  {scen.name:28s} {scen.machine:10s} {scen.kernel:22s} "
              f"{scen.description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """plugfault run."""
    if args.modules and not args.kernel:
        print("plugfault: error: --modules needs --kernel", file=sys.stderr)
        return 2
    for path in (args.modules, args.initrd, args.qemu):
        if path and not path.exists():
            print(f"plugfault: error: {path}: no such file or directory",
                  file=sys.stderr)
            return 2
    return run_many(args.names, args)


def cmd_demo(args: argparse.Namespace) -> int:
    """plugfault demo."""
    pairs = [(sc.name, k if k != sc.kernel else None)
             for sc in scenario.all_scenarios(SCENARIOS) if sc.default
             for k in sc.kernels]
    return run_many([n for n, _ in pairs], args, [k for _, k in pairs])


def cmd_matrix(args: argparse.Namespace) -> int:
    """plugfault matrix."""
    specs = [s for k in args.kernels for s in k.split(",") if s]
    specs = [str(Path(s).resolve()) if Path(s).exists() else s
             for s in specs]
    if args.scenarios:
        names = [s for n in args.scenarios for s in n.split(",") if s]
        scs = [find_scenario(n) for n in names]
    else:
        scs = [sc for sc in scenario.all_scenarios(SCENARIOS) if sc.default]
    todo, not_applicable = matrix.cells(scs, specs, REPO)
    try:
        todo = matrix.shard(todo, args.shard)
    except ValueError as exc:
        print(f"plugfault: error: {exc}", file=sys.stderr)
        return 2
    out = args.artifacts or (REPO / "build" / "matrix")
    # every kernel once, before the cells (downloads, extraction)
    for spec in sorted({c[1] for c in todo}):
        for arch in sorted({runner.ARCH[c[0].arch] for c in todo
                            if c[1] == spec}):
            try:
                kernels.resolve(spec, arch, REPO, args.modules)
            except (guest.GuestError, debfetch.FetchError) as exc:
                print(f"plugfault: {spec} ({arch}): {exc}", file=sys.stderr)
    print(f"matrix: {len(todo)} cells ({len(not_applicable)} not "
          f"applicable: other "
          f"arch), -j {args.jobs}, artifacts in {out}", flush=True)
    extra: List[str] = []
    for arg in args.qemu_arg or ():
        extra += ["--qemu-arg", arg]
    for fact_arg in args.fact or ():
        extra += ["--fact", fact_arg]
    if args.qemu:
        extra += ["--qemu", str(args.qemu)]
    mtx = matrix.Matrix(REPO / "scripts" / "plugfault", out, args.jobs, extra,
                        args.quiet)
    res = mtx.run(todo)
    print()
    print(results.grid(res))
    print()
    print(results.table(res))
    publish(res, args)
    return runner.exit_code(res)


def cmd_boot(args: argparse.Namespace) -> int:
    """plugfault boot."""
    from . import interactive  # pylint: disable=import-outside-toplevel
    try:
        scen = find_scenario(args.name)
    except scenario.ScenarioError as exc:
        print(f"plugfault: error: {exc}", file=sys.stderr)
        return 2
    opts = options(args, interactive=interactive.session)
    res = runner.Run(scen, opts).execute()
    print(f"{res.verdict} {scen.name} ({res.elapsed:.1f}s): {res.reason}",
          flush=True)
    print(f"  artifacts: {res.rundir}", flush=True)
    return res.code


def cmd_qmp(args: argparse.Namespace) -> int:
    """plugfault qmp."""
    from . import qmpcli  # pylint: disable=import-outside-toplevel
    return qmpcli.main(args.socket, args.command, args.pretty)


def cmd_images(args: argparse.Namespace) -> int:
    """plugfault images."""
    names = args.kernels or list(guest.KERNELS)
    try:
        for name in names:
            k = guest.fetch_debian_kernel(name, REPO)
            print(f"{name:22s} {k.image}")
        for arch in guest.BUSYBOX:
            print(f"busybox {arch:14s} {guest.fetch_busybox(arch, REPO)}")
    except (guest.GuestError, debfetch.FetchError) as exc:
        print(f"plugfault: error: {exc}", file=sys.stderr)
        return 125
    return 0


def _kernel_options(prs: argparse.ArgumentParser, many: bool) -> None:
    if many:
        prs.add_argument("--kernels", action="append", required=True,
                         metavar="K,K,...",
                         help="kernel specs (pinned name, debian:VERSION"
                         "[:FLAVOUR], directory, image, .deb[,.deb])")
        prs.add_argument("--scenarios", action="append", metavar="S,S,...",
                         help="scenarios (default: the default set)")
        prs.add_argument("-j", "--jobs", type=int, default=1,
                         help="cells at once (default 1)")
        prs.add_argument("--shard", metavar="K/N",
                         help="run only the K-th of N slices of the cells")
        prs.add_argument("--kernel", help=argparse.SUPPRESS)
    else:
        prs.add_argument("--kernel", metavar="SPEC",
                         help="kernel: image (vmlinux/bzImage), build tree, "
                         "pinned name or debian:VERSION[:FLAVOUR]")
        prs.add_argument("--kernel-deb", nargs="+", metavar="FILE|VERSION",
                         help="Debian kernel .deb files, or a Debian version "
                         "to fetch (e.g. 7.2.13-1)")
    prs.add_argument("--modules", type=Path,
                     help="modules tree (make modules_install's "
                     "INSTALL_MOD_PATH or lib/modules/VERSION)")
    prs.add_argument("--fact", action="append", metavar="NAME=yes|no",
                     help="override a scenario fact (e.g. a backport)")


def _common(prs: argparse.ArgumentParser) -> None:
    prs.add_argument("--initrd", type=Path,
                     help="initramfs appended after ours")
    prs.add_argument("--qemu", type=Path,
                     help="QEMU binary (default: build/qemu-system-ARCH)")
    prs.add_argument("--qemu-arg", action="append", metavar="ARG",
                     help="extra QEMU argument (repeatable)")
    prs.add_argument("--artifacts", type=Path,
                     help="directory for run directories (default: "
                     "build/artifacts, matrix: build/matrix)")
    prs.add_argument("-q", "--quiet", action="store_true",
                     help="only print verdicts")


def _outputs(prs: argparse.ArgumentParser) -> None:
    prs.add_argument("--junit", type=Path, metavar="FILE",
                     help="write JUnit XML")
    prs.add_argument("--tap", action="store_true", help="print TAP")
    prs.add_argument("--report", type=Path, metavar="DIR",
                     help="write an HTML report (DIR/index.html)")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    argp = argparse.ArgumentParser(
        prog="plugfault", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = argp.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list scenarios and presets")
    for name in ("run", "demo", "matrix"):
        prs = sub.add_parser(name, help=f"{name} scenarios")
        if name == "run":
            prs.add_argument("names", nargs="+", metavar="NAME")
            prs.add_argument("--until-ready", action="store_true",
                             help="stop once the guest is ready")
            prs.add_argument("--rundir", type=Path, help=argparse.SUPPRESS)
        _kernel_options(prs, name == "matrix")
        _common(prs)
        _outputs(prs)
    prs = sub.add_parser("boot", help="boot to the guest shell")
    prs.add_argument("name", metavar="PRESET|NAME")
    _kernel_options(prs, False)
    _common(prs)
    prs = sub.add_parser("qmp", help="one QMP command on a socket")
    prs.add_argument("socket")
    prs.add_argument("command", nargs="+", metavar="COMMAND [key=value]")
    prs.add_argument("--pretty", action="store_true")
    prs = sub.add_parser("images", help="fetch and cache the pinned images")
    prs.add_argument("kernels", nargs="*", metavar="KERNEL")
    return argp


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    cmds = {"list": cmd_list, "run": cmd_run, "demo": cmd_demo,
            "matrix": cmd_matrix, "boot": cmd_boot, "qmp": cmd_qmp,
            "images": cmd_images}
    try:
        return cmds[args.cmd](args)
    except (scenario.ScenarioError, guest.GuestError) as exc:
        print(f"plugfault: error: {exc}", file=sys.stderr)
        return 2
