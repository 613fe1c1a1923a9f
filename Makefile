# goshm build and test entry points.  `make` puts everything in build/:
#   build/libgoshm.so   the engine as a shared library (LD_PRELOAD or -lgoshm),
#                       built by the C compiler alone: no Go runtime
#   build/libgoshm-go.so  the same engine built by go -buildmode=c-shared
#                       (docs/DESIGN.md: which to pick)
#   build/goshm         the operator's tool
#   build/shmdemo       the write-up's demos in Go
#   build/legacy/*      the write-up's C programs, built normally
#   build/linked/*      the same programs linked with -lgoshm (no LD_PRELOAD)
#   build/tests/*       C programs that the tests drive (tests/cprogs/)
#   build/musl/libgoshm.so  the engine built with musl-gcc, for musl programs
#                       (Alpine); build/musl/legacy/*, build/musl/linked/*
#                       the write-up's programs built against musl;
#                       build/musl/tests/* the conformance programs
#                       built against musl (tests/conformance/musl_test.go)
# `make install` (and `make uninstall`) installs them under PREFIX, and
# `make deb` packages them as build/goshm_VERSION_ARCH.deb (see below).

GO      ?= go
CC      ?= gcc
BUILD   := build
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -Werror
TEST_FLAGS ?= -count=1 -timeout 80m

# The engine's C sources, and the version script that exports only the
# public symbols (both libraries use it).
ENGINE_C   := $(wildcard capi/engine/*.c)
ENGINE_H   := $(wildcard capi/engine/*.h) include/goshm.h
EXPORTS    := capi/engine/exports.map
ENGINE_SRC := $(ENGINE_C) $(ENGINE_H) $(EXPORTS) \
              $(wildcard capi/*.go capi/*.c capi/*.h capi/engine/*.go)
LIB_CFLAGS  := -shared -fPIC $(CFLAGS) -fvisibility=hidden -std=gnu11 -Iinclude
LIB_LDFLAGS := -Wl,--version-script=$(EXPORTS) -Wl,-z,defs
GO_SRC     := $(shell find goshm cmd -name '*.go' 2>/dev/null) go.mod
LEGACY     := systemv_shm_wr systemv_shm_rd mmap_shm_wr mmap_shm_rd
CPROGS     := $(patsubst tests/cprogs/%.c,%,$(wildcard tests/cprogs/*.c))

.PHONY: all lib tools c-programs musl demo test test-deps check bench clean \
        install uninstall deb

all: lib tools c-programs musl

lib: $(BUILD)/libgoshm.so $(BUILD)/libgoshm-go.so

# The default library: the engine and nothing else.
$(BUILD)/libgoshm.so: $(ENGINE_C) $(ENGINE_H) $(EXPORTS)
	@mkdir -p $(BUILD)
	$(CC) $(LIB_CFLAGS) $(LIB_LDFLAGS) -o $@ $(ENGINE_C)

# The Go-built library: the same engine, a dormant Go runtime, and
# capi/runtime_*.c, which keep that runtime out of the program's signals.
$(BUILD)/libgoshm-go.so: $(ENGINE_SRC)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -ldflags='-extldflags "-Wl,--version-script=$(abspath $(EXPORTS)) -Wl,-soname,libgoshm-go.so"' -o $@ ./capi
	@rm -f $(BUILD)/libgoshm-go.h   # cgo's generated header; ours is include/goshm.h

tools: $(GO_SRC) $(ENGINE_SRC)
	@mkdir -p $(BUILD)
	@if ls cmd/*/*.go >/dev/null 2>&1; then $(GO) build -o $(BUILD)/ ./cmd/...; fi

c-programs: $(addprefix $(BUILD)/legacy/,$(LEGACY)) \
            $(addprefix $(BUILD)/linked/,$(LEGACY)) \
            $(addprefix $(BUILD)/tests/,$(CPROGS)) \
            $(BUILD)/tests/plugins/libgsdeep.so \
            $(BUILD)/tests/plugins/libgsforkadvice.so \
            $(BUILD)/tests/plugins/libgslockadvice.so

$(BUILD)/legacy/%: tests/legacy/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $<

# Relinked: the unmodified source, linked against libgoshm instead of
# relying on LD_PRELOAD.
$(BUILD)/linked/%: tests/legacy/%.c $(BUILD)/libgoshm.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -L$(BUILD) -lgoshm -Wl,-rpath,'$$ORIGIN/..'

$(BUILD)/tests/%: tests/cprogs/%.c include/goshm.h $(wildcard tests/cprogs/*.h tests/cprogs/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< -ldl

# The musl build (docs/DESIGN.md, "A musl build").  musl-gcc (Debian's
# musl-tools) has no kernel headers of its own: build/musl/include points
# at the system's.  Without musl-gcc it is left out, saying so; make test
# installs musl-tools first.
MUSL_CC     ?= musl-gcc
MUSL_INC    := $(BUILD)/musl/include
MUSL_CFLAGS := $(CFLAGS) -isystem $(MUSL_INC)
# The System V shm conformance programs, built against musl too, so that
# tests/conformance compares build/musl/libgoshm.so with the kernel under
# musl's own wrappers (tests/cprogs/conf/libc.h: what differs between the
# two C libraries' headers).
MUSL_CPROGS := conf_scenarios conf_fork conf_store_ops
ifneq ($(shell command -v $(MUSL_CC) 2>/dev/null),)
musl: $(BUILD)/musl/libgoshm.so $(addprefix $(BUILD)/musl/legacy/,$(LEGACY)) \
      $(addprefix $(BUILD)/musl/linked/,$(LEGACY)) \
      $(addprefix $(BUILD)/musl/tests/,$(MUSL_CPROGS))
else
musl:
	@echo "make: $(MUSL_CC) not found: build/musl/ not built (apt-get install musl-tools)"
endif

$(MUSL_INC)/.done:
	@mkdir -p $(@D)
	ln -sfn /usr/include/linux $(@D)/linux
	ln -sfn /usr/include/asm-generic $(@D)/asm-generic
	ln -sfn /usr/include/$$($(CC) -print-multiarch)/asm $(@D)/asm
	@touch $@

# Without the semaphore engine: a set's lock is a glibc robust mutex in
# the set's file, which musl's pthread functions cannot share, so the
# musl build leaves semaphores to the kernel (docs/DIFFERENCES.md).
MUSL_ENGINE_C := $(filter-out capi/engine/sem%.c,$(ENGINE_C))

$(BUILD)/musl/libgoshm.so: $(ENGINE_C) $(ENGINE_H) $(EXPORTS) $(MUSL_INC)/.done
	$(MUSL_CC) $(LIB_CFLAGS) -isystem $(MUSL_INC) $(LIB_LDFLAGS) -o $@ $(MUSL_ENGINE_C)

$(BUILD)/musl/legacy/%: tests/legacy/%.c
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS) -o $@ $<

$(BUILD)/musl/linked/%: tests/legacy/%.c $(BUILD)/musl/libgoshm.so
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS) -o $@ $< -L$(BUILD)/musl -lgoshm -Wl,-rpath,'$$ORIGIN/..'

$(BUILD)/musl/tests/%: tests/cprogs/%.c include/goshm.h $(wildcard tests/cprogs/*.h tests/cprogs/*/*.h) \
                       $(MUSL_INC)/.done
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_CFLAGS) -Iinclude -o $@ $<

# A plugin loaded with RTLD_DEEPBIND, as PHP loads its extensions, and
# the dependency it finds through its RUNPATH; the host finds the plugin
# through its own (tests/cprogs/deepbind_host.c).
$(BUILD)/tests/plugins/libgsdeepdep.so: tests/cprogs/plugins/deepbind_dep.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -Wl,-z,now -o $@ $<

$(BUILD)/tests/plugins/libgsdeep.so: tests/cprogs/plugins/deepbind_plugin.c $(BUILD)/tests/plugins/libgsdeepdep.so
	$(CC) $(CFLAGS) -shared -fPIC -Wl,-z,lazy -o $@ $< -L$(@D) -lgsdeepdep -Wl,-rpath,'$$ORIGIN'

$(BUILD)/tests/deepbind_host: tests/cprogs/deepbind_host.c $(BUILD)/tests/plugins/libgsdeep.so
	$(CC) $(CFLAGS) -rdynamic -o $@ $< -ldl -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/plugins'

# A program whose dependency's fork handlers call madvise(MADV_DOFORK /
# MADV_DONTFORK): the dependency registers them before the preloaded
# library registers its own (tests/cprogs/fork_handler_advice.c).
$(BUILD)/tests/plugins/libgsforkadvice.so: tests/cprogs/plugins/fork_advice_lib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/tests/fork_handler_advice: tests/cprogs/fork_handler_advice.c $(BUILD)/tests/plugins/libgsforkadvice.so
	$(CC) $(CFLAGS) -o $@ $< -L$(@D)/plugins -lgsforkadvice -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/plugins'

# Linked against libgoshm.so with the C library first in DT_NEEDED, where
# nothing comes after goshm (tests/cprogs/fork_handlers_linked.c).
$(BUILD)/tests/fork_handlers_linked: tests/cprogs/fork_handlers_linked.c $(BUILD)/libgoshm.so
	$(CC) $(CFLAGS) -Iinclude -o $@ $< -Wl,--no-as-needed -lc -L$(BUILD) -lgoshm -Wl,-rpath,'$$ORIGIN/..'

# A program whose dependency advises memory under a lock that its fork
# prepare handler takes (tests/cprogs/fork_lock_advice.c).
$(BUILD)/tests/plugins/libgslockadvice.so: tests/cprogs/plugins/lock_advice_lib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/tests/fork_lock_advice: tests/cprogs/fork_lock_advice.c $(BUILD)/tests/plugins/libgslockadvice.so
	$(CC) $(CFLAGS) -o $@ $< -L$(@D)/plugins -lgslockadvice -lpthread -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/plugins'

# The MIT-SHM client needs Xlib (libx11-dev, libxext-dev).
$(BUILD)/tests/x11_shm: tests/cprogs/x11_shm.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lXext -lX11

# The write-up's experiment, natively and under goshm, with a "restart"
# (a fresh IPC namespace) in between.
demo: all
	./scripts/demo.sh

# Every test, as root.  scripts/test-deps.sh first installs what the tests
# need (Debian packages, Go modules) when it is missing.  The real
# programs' tests run verbosely: what they print (the version they ran,
# what they checked) is part of their result.
#
# Everything runs under build/libgoshm.so, the default library; then the
# suites that prove the engine (conformance, interop, real programs) run
# again under build/libgoshm-go.so, so that the two builds never drift.
# Those that only concern one build (tests/integration: the Go runtime's
# threads and signals, which library has none) choose it themselves.
#
# make deb first: the Docker example (tests/container) installs
# build/goshm_VERSION_ARCH.deb; tests/install runs make install and make
# deb itself, and installs the package in a clean Debian 12 container.
ENGINE_SUITES := ./tests/conformance ./tests/interop
GO_LIB_RUN    := GOSHM_TEST_LIB=libgoshm-go.so
# The musl build's conformance tests preload build/musl/libgoshm.so whatever
# GOSHM_TEST_LIB says: the first run covers them.
MUSL_TESTS    := ^TestMusl

test: test-deps all deb
	@unformatted=$$(gofmt -l capi goshm cmd tests 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@echo "== every test, under build/libgoshm.so (C build, the default)"
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v '/tests/realprog$$')
	$(GO) test $(TEST_FLAGS) -v ./tests/realprog
	@echo "== conformance, interop and real programs again, under build/libgoshm-go.so (Go c-shared build)"
	$(GO_LIB_RUN) $(GO) test $(TEST_FLAGS) -skip '$(MUSL_TESTS)' $(ENGINE_SUITES)
	$(GO_LIB_RUN) $(GO) test $(TEST_FLAGS) -v ./tests/realprog
	@if [ "$$GOSHM_TEST_NO_DOCKER" = 1 ]; then \
	  echo "== NOTE: tests/container were SKIPPED (GOSHM_TEST_NO_DOCKER=1: no Docker engine here)"; fi

test-deps:
	GO=$(GO) ./scripts/test-deps.sh

bench: all
	./scripts/bench.sh

clean:
	rm -rf $(BUILD)

# ---- make install / make uninstall ----
#
# PREFIX (default /usr/local) and DESTDIR as usual; LIBDIR, INCLUDEDIR,
# BINDIR, MANDIR and BASHCOMPDIR below PREFIX may be changed too (the
# Debian package uses LIBDIR=/usr/lib/x86_64-linux-gnu).  It installs the
# files CMake's install does, from the same templates (tests/install
# compares the two trees), and what needs Go or musl-gcc: the goshm tool,
# libgoshm-go.so beside the library, the musl build as
# LIBDIR/goshm/musl/libgoshm.so (where `goshm run` looks for it: a
# directory of goshm's own, for a library only ever preloaded, that the
# loader's search never meets), goshm(1) and the bash completion.  CMake
# builds neither Go nor musl: without musl-gcc, make install too leaves
# the musl build out, saying so (the Debian package requires it).
# The installed library carries a SONAME (libgoshm.so.0), unlike
# build/libgoshm.so; libraries are mode 644, as CMake and Debian install
# them.
PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL     ?= install

# The one version number, from include/goshm.h.
version_part = $(shell sed -n 's/^\#define GOSHM_VERSION_$(1) \([0-9]*\)$$/\1/p' include/goshm.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION       := $(VERSION_MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SONAME        := libgoshm.so.$(VERSION_MAJOR)
REAL_LIB      := libgoshm.so.$(VERSION)
SIZEOF_VOID_P := $(shell echo __SIZEOF_POINTER__ | $(CC) -E -P - | tail -n 1)

# LIBDIR and INCLUDEDIR relative to PREFIX, and the way back up from
# LIBDIR/cmake/goshm, for the files that locate the others.
below_prefix  = $(if $(filter $(PREFIX)/%,$(1)),$(patsubst $(PREFIX)/%,%,$(1)),$(error $(1) is not below PREFIX $(PREFIX)))
REL_LIBDIR     = $(call below_prefix,$(LIBDIR))
REL_INCLUDEDIR = $(call below_prefix,$(INCLUDEDIR))
empty :=
space := $(empty) $(empty)
CMAKE_TO_PREFIX = $(subst $(space),/,$(foreach c,$(subst /, ,$(REL_LIBDIR)) cmake goshm,..))

SUBST = sed -e 's|@GOSHM_VERSION@|$(VERSION)|g' \
	-e 's|@GOSHM_VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
	-e 's|@GOSHM_SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g' \
	-e 's|@GOSHM_REL_LIBDIR@|$(REL_LIBDIR)|g' \
	-e 's|@GOSHM_REL_INCLUDEDIR@|$(REL_INCLUDEDIR)|g' \
	-e 's|@GOSHM_CMAKE_TO_PREFIX@|$(CMAKE_TO_PREFIX)|g' \
	-e 's|@GOSHM_PC_PREFIX@|$(PREFIX)|g' \
	-e 's|@GOSHM_PC_LIBDIR@|$${prefix}/$(REL_LIBDIR)|g' \
	-e 's|@GOSHM_PC_INCLUDEDIR@|$${prefix}/$(REL_INCLUDEDIR)|g'

# The installed library: build/libgoshm.so's sources and flags, with the
# SONAME that programs linked against it record.
$(BUILD)/soname/$(REAL_LIB): $(ENGINE_C) $(ENGINE_H) $(EXPORTS)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(LIB_LDFLAGS) -Wl,-soname,$(SONAME) -o $@ $(ENGINE_C)

INSTALLED_FILES = $(LIBDIR)/$(REAL_LIB) $(LIBDIR)/$(SONAME) $(LIBDIR)/libgoshm.so \
	$(LIBDIR)/libgoshm-go.so $(INCLUDEDIR)/goshm.h $(LIBDIR)/pkgconfig/goshm.pc \
	$(LIBDIR)/cmake/goshm/goshmConfig.cmake $(LIBDIR)/cmake/goshm/goshmConfigVersion.cmake \
	$(BINDIR)/goshm $(MANDIR)/man1/goshm.1 $(MANDIR)/man7/libgoshm.7 \
	$(BASHCOMPDIR)/goshm $(LIBDIR)/$(MUSL_INSTALLED)

# The musl build's place below LIBDIR (cmd/goshm/libc.go looks there).
MUSL_INSTALLED := goshm/musl/libgoshm.so
ifneq ($(shell command -v $(MUSL_CC) 2>/dev/null),)
MUSL_INSTALL_DEP := $(BUILD)/musl/libgoshm.so
endif

# The tool as a file target, so that `make install` run again (by
# tests/install, while other tests run build/goshm) rebuilds nothing that
# is up to date.
$(BUILD)/goshm: $(GO_SRC) $(ENGINE_SRC)
	@mkdir -p $(@D)
	$(GO) build -o $@ ./cmd/goshm

install: $(BUILD)/soname/$(REAL_LIB) $(BUILD)/libgoshm-go.so $(BUILD)/goshm $(MUSL_INSTALL_DEP)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/goshm \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 644 $(BUILD)/soname/$(REAL_LIB) $(DESTDIR)$(LIBDIR)/$(REAL_LIB)
	ln -sfn $(REAL_LIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libgoshm.so
	$(INSTALL) -m 644 $(BUILD)/libgoshm-go.so $(DESTDIR)$(LIBDIR)/libgoshm-go.so
	$(INSTALL) -m 644 include/goshm.h $(DESTDIR)$(INCLUDEDIR)/goshm.h
	$(SUBST) goshm.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/goshm.pc
	$(SUBST) cmake/goshmConfig.cmake.in >$(DESTDIR)$(LIBDIR)/cmake/goshm/goshmConfig.cmake
	$(SUBST) cmake/goshmConfigVersion.cmake.in >$(DESTDIR)$(LIBDIR)/cmake/goshm/goshmConfigVersion.cmake
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/goshm.pc $(DESTDIR)$(LIBDIR)/cmake/goshm/*.cmake
	$(INSTALL) -m 755 $(BUILD)/goshm $(DESTDIR)$(BINDIR)/goshm
	$(INSTALL) -m 644 man/goshm.1 $(DESTDIR)$(MANDIR)/man1/goshm.1
	$(INSTALL) -m 644 man/libgoshm.7 $(DESTDIR)$(MANDIR)/man7/libgoshm.7
	$(INSTALL) -m 644 contrib/bash-completion/goshm $(DESTDIR)$(BASHCOMPDIR)/goshm
ifneq ($(MUSL_INSTALL_DEP),)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/$(dir $(MUSL_INSTALLED))
	$(INSTALL) -m 644 $(BUILD)/musl/libgoshm.so $(DESTDIR)$(LIBDIR)/$(MUSL_INSTALLED)
else
	@echo "make install: $(MUSL_CC) not found: the musl build ($(LIBDIR)/$(MUSL_INSTALLED)) not installed (apt-get install musl-tools)"
endif

# Removes the files install put in place, and the directories that only
# they occupied.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	-rmdir $(DESTDIR)$(LIBDIR)/cmake/goshm $(DESTDIR)$(LIBDIR)/cmake \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/goshm/musl \
	  $(DESTDIR)$(LIBDIR)/goshm 2>/dev/null || true

# The Debian package, build/goshm_VERSION_ARCH.deb (DEB_OUT=DIR puts it
# elsewhere): `make install` into a staging tree with PREFIX=/usr and the
# library in the multiarch directory, then dpkg-deb (scripts/mkdeb.sh).
DEB_OUT ?= $(BUILD)
deb: $(BUILD)/soname/$(REAL_LIB) $(BUILD)/libgoshm-go.so $(BUILD)/goshm $(MUSL_INSTALL_DEP)
	MAKE="$(MAKE)" GOSHM=$(BUILD)/goshm ./scripts/mkdeb.sh $(DEB_OUT)
