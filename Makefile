# goshm build and test entry points.  `make` puts everything in build/:
#   build/libgoshm.so   the engine as a shared library (LD_PRELOAD or -lgoshm)
#   build/goshm         the operator's tool
#   build/shmdemo       the write-up's demos in Go
#   build/legacy/*      the write-up's C programs, built normally
#   build/linked/*      the same programs linked with -lgoshm (no LD_PRELOAD)
#   build/tests/*       C programs that the tests drive (tests/cprogs/)

GO      ?= go
CC      ?= gcc
BUILD   := build
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -Werror
TEST_FLAGS ?= -count=1 -timeout 80m

ENGINE_SRC := $(wildcard capi/*.go capi/engine/*.c capi/engine/*.h capi/engine/*.go) include/goshm.h
GO_SRC     := $(shell find goshm cmd -name '*.go' 2>/dev/null) go.mod
LEGACY     := systemv_shm_wr systemv_shm_rd mmap_shm_wr mmap_shm_rd
CPROGS     := $(patsubst tests/cprogs/%.c,%,$(wildcard tests/cprogs/*.c))

.PHONY: all lib tools c-programs demo test check bench clean

all: lib tools c-programs

lib: $(BUILD)/libgoshm.so

$(BUILD)/libgoshm.so: $(ENGINE_SRC)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -o $@ ./capi
	@rm -f $(BUILD)/libgoshm.h   # cgo's generated header; ours is include/goshm.h

tools: $(GO_SRC) $(ENGINE_SRC)
	@mkdir -p $(BUILD)
	@if ls cmd/*/*.go >/dev/null 2>&1; then $(GO) build -o $(BUILD)/ ./cmd/...; fi

c-programs: $(addprefix $(BUILD)/legacy/,$(LEGACY)) \
            $(addprefix $(BUILD)/linked/,$(LEGACY)) \
            $(addprefix $(BUILD)/tests/,$(CPROGS))

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

# The MIT-SHM client needs Xlib (libx11-dev, libxext-dev).
$(BUILD)/tests/x11_shm: tests/cprogs/x11_shm.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lXext -lX11

# The write-up's experiment, natively and under goshm, with a "restart"
# (a fresh IPC namespace) in between.
demo: all
	./scripts/demo.sh

# Every test.  Tests that need root, Docker, PostgreSQL... are part of it;
# .ci/run installs what they need.  The real programs' tests run verbosely:
# what they print (the version they ran, what they checked) is part of
# their result.
test: all
	@unformatted=$$(gofmt -l capi goshm cmd tests 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v '/tests/realprog$$')
	$(GO) test $(TEST_FLAGS) -v ./tests/realprog

bench: all
	./scripts/bench.sh

clean:
	rm -rf $(BUILD)
