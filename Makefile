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
#                       the write-up's programs built against musl

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

.PHONY: all lib tools c-programs musl demo test test-deps check bench clean

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
	$(GO) build -buildmode=c-shared -ldflags='-extldflags=-Wl,--version-script=$(abspath $(EXPORTS))' -o $@ ./capi
	@rm -f $(BUILD)/libgoshm-go.h   # cgo's generated header; ours is include/goshm.h

tools: $(GO_SRC) $(ENGINE_SRC)
	@mkdir -p $(BUILD)
	@if ls cmd/*/*.go >/dev/null 2>&1; then $(GO) build -o $(BUILD)/ ./cmd/...; fi

c-programs: $(addprefix $(BUILD)/legacy/,$(LEGACY)) \
            $(addprefix $(BUILD)/linked/,$(LEGACY)) \
            $(addprefix $(BUILD)/tests/,$(CPROGS)) \
            $(BUILD)/tests/plugins/libgsdeep.so

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
ifneq ($(shell command -v $(MUSL_CC) 2>/dev/null),)
musl: $(BUILD)/musl/libgoshm.so $(addprefix $(BUILD)/musl/legacy/,$(LEGACY)) \
      $(addprefix $(BUILD)/musl/linked/,$(LEGACY))
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

$(BUILD)/musl/libgoshm.so: $(ENGINE_C) $(ENGINE_H) $(EXPORTS) $(MUSL_INC)/.done
	$(MUSL_CC) $(LIB_CFLAGS) -isystem $(MUSL_INC) $(LIB_LDFLAGS) -o $@ $(ENGINE_C)

$(BUILD)/musl/legacy/%: tests/legacy/%.c
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS) -o $@ $<

$(BUILD)/musl/linked/%: tests/legacy/%.c $(BUILD)/musl/libgoshm.so
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS) -o $@ $< -L$(BUILD)/musl -lgoshm -Wl,-rpath,'$$ORIGIN/..'

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
ENGINE_SUITES := ./tests/conformance ./tests/interop
GO_LIB_RUN    := GOSHM_TEST_LIB=libgoshm-go.so

test: test-deps all
	@unformatted=$$(gofmt -l capi goshm cmd tests 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@echo "== every test, under build/libgoshm.so (C build, the default)"
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v '/tests/realprog$$')
	$(GO) test $(TEST_FLAGS) -v ./tests/realprog
	@echo "== conformance, interop and real programs again, under build/libgoshm-go.so (Go c-shared build)"
	$(GO_LIB_RUN) $(GO) test $(TEST_FLAGS) $(ENGINE_SUITES)
	$(GO_LIB_RUN) $(GO) test $(TEST_FLAGS) -v ./tests/realprog
	@if [ "$$GOSHM_TEST_NO_DOCKER" = 1 ]; then \
	  echo "== NOTE: tests/container were SKIPPED (GOSHM_TEST_NO_DOCKER=1: no Docker engine here)"; fi

test-deps:
	GO=$(GO) ./scripts/test-deps.sh

bench: all
	./scripts/bench.sh

clean:
	rm -rf $(BUILD)
