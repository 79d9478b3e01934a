#!/usr/bin/python3
"""A minimal stand-in for the kernel's scripts/mod/modpost (external modules).

Debian trixie's linux-kbuild modpost needs glibc 2.38; the build host is
Debian 12.  For our test modules (tests/guest-modules) modpost has one job:
write NAME.mod.c with the module's symbol versions (CONFIG_MODVERSIONS), read
from the kernel's Module.symvers, and an empty Module.symvers for the
external build.  Kbuild runs it as $(MODPOST) with modpost's arguments:

    -o OUT.symvers  -i IN.symvers ...  -T ORDER|-  (other flags ignored;
    -d, -u take an argument)

Undefined symbols come from `$NM -u` (NM from the environment, else
powerpc64le-linux-gnu-nm).  Like modpost it adds "module_layout" and skips
__this_module (NAME.mod.c defines it) and the ppc64 linker symbols (.TOC.,
_savegpr*, ...); an undefined symbol
that vmlinux does not export is an error, as is a GPL-only symbol used by a
module without a GPL-compatible licence.
"""

import os
import re
import shlex
import subprocess
import sys

GPL_COMPATIBLE = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                  "Dual MIT/GPL", "Dual MPL/GPL"}


def parse_args(argv):
    out, inputs, order = None, [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-o":
            out = argv[i + 1]
            i += 2
        elif a == "-i":
            inputs.append(argv[i + 1])
            i += 2
        elif a == "-T":
            order = argv[i + 1]
            i += 2
        elif a in ("-u", "-d"):
            i += 2
        else:
            i += 1
    return out, inputs, order


def read_symvers(paths):
    syms = {}
    for p in paths:
        with open(p) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4:
                    syms[parts[1]] = (int(parts[0], 16), parts[2], parts[3])
    return syms


def module_licence(obj):
    data = open(obj, "rb").read()
    m = re.search(rb"license=([^\0]*)\0", data)
    return m.group(1).decode() if m else ""


def main(argv):
    out, inputs, order = parse_args(argv)
    syms = read_symvers(inputs)
    nm = shlex.split(os.environ.get("NM", "powerpc64le-linux-gnu-nm"))
    objs = (sys.stdin.read() if order in (None, "-") else open(order).read()).split()
    for obj in objs:
        obj = re.sub(r"\.ko$", ".o", obj)
        undef = subprocess.run(nm + ["-u", obj], check=True, capture_output=True,
                               text=True).stdout.split()
        undef = [u for u in undef if u not in ("U", "w")]
        defined = subprocess.run(nm + ["--defined-only", obj], check=True,
                                 capture_output=True, text=True).stdout.split()
        gpl = module_licence(obj) in GPL_COMPATIBLE
        versions = [("module_layout", syms["module_layout"][0])]
        for s in sorted(set(undef)):
            if s not in syms:
                if s == "__this_module" or s.startswith((".TOC.", "TOC.", "_restgpr", "_savegpr", "_rest32gpr",
                                 "_save32gpr", "_restvr", "_savevr")):
                    continue
                sys.stderr.write(f"modpost_lite: ERROR: \"{s}\" [{obj}] undefined!\n")
                return 1
            crc, owner, kind = syms[s]
            if kind.endswith("_GPL") and not gpl:
                sys.stderr.write(f"modpost_lite: ERROR: GPL-only symbol '{s}' used by "
                                 f"non-GPL module {obj}\n")
                return 1
            versions.append((s, crc))
        deps = sorted({syms[s][1] for s, _ in versions[1:]} - {"vmlinux"})
        modc = obj[:-2] + ".mod.c"
        with open(modc, "w") as f:
            f.write('#include <linux/module.h>\n#include <linux/export-internal.h>\n'
                    '#include <linux/compiler.h>\n\n'
                    'MODULE_INFO(name, KBUILD_MODNAME);\n\n'
                    '__visible struct module __this_module\n'
                    '__section(".gnu.linkonce.this_module") = {\n'
                    '\t.name = KBUILD_MODNAME,\n' +
                    ('\t.init = init_module,\n' if "init_module" in defined else '') +
                    ('#ifdef CONFIG_MODULE_UNLOAD\n\t.exit = cleanup_module,\n#endif\n'
                     if "cleanup_module" in defined else '') +
                    '\t.arch = MODULE_ARCH_INIT,\n};\n\n'
                    'static const struct modversion_info ____versions[]\n'
                    '__used __section("__versions") = {\n')
            for s, crc in versions:
                f.write(f'\t{{ {crc:#010x}, "{s}" }},\n')
            f.write('};\n\nMODULE_INFO(depends, "%s");\n' % ",".join(deps))
    if out:
        open(out, "w").close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
