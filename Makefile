# beyond: one static monitor binary with its guests embedded.
#   make            build build/beyond
#   make test       install what is missing, build, run every test suite
#   make stress     the block store's crash test at 1200 kill -9 points
#   make bench      install what is missing, build, run the benchmarks
#   make nested-test  the test suite inside a nested QEMU guest (NPT)

BUILD    := build
CC       := musl-gcc
GUEST_CC := gcc
TEST_CC  := gcc
NASM     := nasm
LD       := ld

# musl-gcc does not search /usr/include: give it the kernel's uapi headers only.
KINC     := $(BUILD)/kinclude
WARN     := -Wall -Wextra -Werror
CFLAGS   := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -I. -MMD -MP
HV_CFLAGS := $(CFLAGS) -isystem $(KINC)
LDFLAGS  := -static -pthread

GUEST_CFLAGS := -std=gnu11 -O2 -g $(WARN) -I. -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -mno-red-zone -mcmodel=small -fno-asynchronous-unwind-tables \
	-fcf-protection=none -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -z max-page-size=4096 -z noexecstack -T linker.ld

# Debian packages the build and the tests need; modules add to this list.
DEB_PACKAGES := musl-tools nasm libcriterion-dev linux-libc-dev make gcc binutils python3 gnuplot-nox hyperfine
DEB_PACKAGES += libnbd-bin nbdkit fio	# bench blk's NBD comparison, nbdinfo --map in tests/blk

all: $(BUILD)/beyond

# --- the monitor, by directory ------------------------------------------------
# The core (hv/: kvm, vm, vcpu, exits, hypercalls, modules, and the modules'
# directories hv/sched/, hv/virtio/; mm/: guest memory), then the command
# line and the benchmark drivers, and the block store (blk/blk.mk).
CORE_SRCS  := $(wildcard hv/*.c hv/sched/*.c hv/virtio/*.c mm/*.c)
CLI_SRCS   := $(wildcard hv/cli/*.c)
BENCH_SRCS := $(wildcard hv/bench/*.c)
include blk/blk.mk
include tests/nested/nested.mk
include guest-runtime/guests.mk
include tests/guests/guests.mk

MON_SRCS := $(CORE_SRCS) $(CLI_SRCS) $(BENCH_SRCS) $(BLK_SRCS)
MON_OBJS := $(MON_SRCS:%.c=$(BUILD)/mon/%.o)

$(BUILD)/beyond: $(MON_OBJS) $(BUILD)/mon/builtin_guests.o $(WORKLOAD_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(BLK_LIBS)

$(BUILD)/mon/%.o: %.c | $(KINC)/.ok
	@mkdir -p $(dir $@)
	$(CC) $(HV_CFLAGS) $(BLK_CFLAGS) -c -o $@ $<

$(KINC)/.ok: $(KINC)/syscall_names.h
	@mkdir -p $(KINC)
	ln -sfn /usr/include/linux $(KINC)/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(KINC)/asm
	ln -sfn /usr/include/asm-generic $(KINC)/asm-generic
	@touch $@

# System call names by number, for seccomp's report (hv/seccomp.c).
$(KINC)/syscall_names.h: /usr/include/x86_64-linux-gnu/asm/unistd_64.h
	@mkdir -p $(KINC)
	sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' $< >$@

# --- dependencies --------------------------------------------------------------
# Installs missing Debian packages when run as root with apt; otherwise names them.
deps:
	@missing=""; for p in $(sort $(DEB_PACKAGES)); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "missing Debian packages:$$missing (install them as root)"; exit 1; fi; \
	fi

# --- tests -------------------------------------------------------------------
# One Criterion binary per directory: tests/DIR/*.c -> build/tests/DIR.crit,
# linked with the whole monitor but its main(), built with gcc and glibc.
MAIN_SRC := hv/cli/main.c
LIB_OBJS := $(patsubst %.c,$(BUILD)/glibc/%.o,$(filter-out $(MAIN_SRC),$(MON_SRCS)))
CRIT_DIRS := unit kvm blk

$(BUILD)/glibc/%.o: %.c | $(KINC)/.ok
	@mkdir -p $(dir $@)
	$(TEST_CC) $(CFLAGS) -isystem $(KINC) -c -o $@ $<

.SECONDEXPANSION:
$(BUILD)/tests/%.crit: $$(wildcard tests/$$*/*.c) $(LIB_OBJS) $(BUILD)/mon/builtin_guests.o $(WORKLOAD_OBJS)
	@mkdir -p $(dir $@)
	$(TEST_CC) $(CFLAGS) -isystem $(KINC) -pthread -no-pie -o $@ $(wildcard tests/$*/*.c) \
		$(filter %.o,$^) -lcriterion

TEST_BINS := $(CRIT_DIRS:%=$(BUILD)/tests/%.crit)
include tests/fuzz/fuzz.mk
include tests/sanitize.mk

test: deps
	$(MAKE) all $(TEST_BINS) test-guests
	tests/run-all.sh

# Crash consistency at scale: the store's kill -9 test at 1200 crash points (~2-7 min).
stress: deps
	$(MAKE) $(BUILD)/tests/blk.crit
	BLK_CRASH_POINTS=1200 $(BUILD)/tests/blk.crit --filter 'crash/*'

# The main job: every benchmark (tlb ~10 min, blk ~2, sched ~4, swap ~20, io ~3).
bench: deps
	$(MAKE) all
	$(BUILD)/beyond bench tlb
	$(BUILD)/beyond bench blk
	$(BUILD)/beyond bench sched
	$(BUILD)/beyond bench swap
	$(BUILD)/beyond bench io

# Startup: `beyond run hello` next to a program that only runs one HLT in a VM.
$(BUILD)/min_hlt: tests/bench/min_hlt.c | $(KINC)/.ok
	$(CC) $(HV_CFLAGS) $(LDFLAGS) -o $@ $<

bench-startup: deps
	$(MAKE) all $(BUILD)/min_hlt
	@command -v hyperfine >/dev/null || { echo "bench-startup needs hyperfine (apt-get install hyperfine)"; exit 1; }
	hyperfine -N --warmup 5 --runs 100 '$(BUILD)/min_hlt' '$(BUILD)/beyond run hello' \
		'$(BUILD)/beyond run --vcpus 2 smp'

clean:
	rm -rf $(BUILD)

.PHONY: all deps test stress bench bench-startup clean test-guests nested-test
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
