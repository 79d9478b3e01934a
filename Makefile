# plugfault top-level Makefile.  See README.md.
#   make          configure if needed, assemble build/tree, build both binaries
#   make check    all test suites (unit, qtest, functional scenarios) via meson
#   make demo     the default scenario set on Debian's guest kernels, as a table
#   make bench    boot benchmark, ours vs Debian's stock QEMU (scripts/bench)
#   make docs     QEMU's manual with our pages, warnings as errors (scripts/docs)
#   make check-sanitizers  unit, qtest, base and compat suites on an ASan+UBSan
#                 build (build/san, scripts/check-sanitizers)
#   make fuzz     bounded generic-fuzz campaigns against our models (build/fuzz,
#                 scripts/fuzz; FUZZ_TIME=seconds FUZZ_RUNS=n FUZZ_CAMPAIGNS=names)

SHELL := /bin/bash
PYTHON := /usr/bin/python3
-include build/config.mk
PLUGFAULT_CACHE ?= $(HOME)/.cache/plugfault
export PLUGFAULT_CACHE
export CCACHE_DIR ?= $(PLUGFAULT_CACHE)/ccache
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
export PYTHONPATH := $(CURDIR)/scripts

BINARIES := qemu-system-ppc64 qemu-system-x86_64

.PHONY: all tree check demo bench clean distclean images docs check-sanitizers fuzz
all: tree
	ninja -C build/qemu $(BINARIES)
	@for b in $(BINARIES); do ln -sfn qemu/$$b build/$$b; done
	@$(PYTHON) -m pflib.tool firmware build/qemu/qemu-bundle$$(sed -n 's/^#define CONFIG_QEMU_DATADIR "\(.*\)"/\1/p' build/qemu/config-host.h)
	@build/qemu-system-ppc64 --version | head -1

build/config.mk: configure scripts/pins
	./configure

tree: build/config.mk
	@$(PYTHON) -m pflib.tool assemble --base "$(BASE_TREE)" --out build/tree

images: all
	scripts/plugfault images

check: all images
	scripts/check

demo: all
	scripts/plugfault demo

bench: all
	scripts/bench

docs: tree
	scripts/docs

check-sanitizers: tree
	scripts/check-sanitizers

FUZZ_TIME ?= 180
FUZZ_RUNS ?= -1
FUZZ_CAMPAIGNS ?=
fuzz: tree
	scripts/fuzz --time $(FUZZ_TIME) --runs $(FUZZ_RUNS) $(FUZZ_CAMPAIGNS)

clean:
	-ninja -C build/qemu -t clean

distclean:
	rm -rf build
