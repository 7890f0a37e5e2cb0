# blk/: the deduplicating block store, its CLI, NBD export and benchmark.
BLK_SRCS      := $(wildcard blk/*.c)
BLK_INC       := $(BUILD)/blkinc
# xxhash is header-only here; musl-gcc does not search /usr/include, so it
# gets a directory holding just that header.
BLK_CFLAGS    := -isystem $(BLK_INC)
BLK_LIBS      :=
BLK_TEST_BINS := $(BUILD)/tests/blk.crit
DEB_PACKAGES  += libxxhash-dev qemu-utils gnuplot-nox e2fsprogs

$(BLK_INC)/xxhash.h:
	@mkdir -p $(BLK_INC)
	ln -sfn /usr/include/xxhash.h $@

$(BLK_SRCS:%.c=$(BUILD)/mon/%.o): | $(BLK_INC)/xxhash.h

# Unit tests: the store's sources, minus the front ends, against glibc.
BLK_CORE_SRCS := $(filter-out blk/blk_cli.c blk/bench%.c blk/nbd.c,$(BLK_SRCS))

$(BUILD)/tests/blk.crit: $(wildcard tests/blk/*.c) $(BLK_CORE_SRCS) $(wildcard blk/*.h)
	@mkdir -p $(dir $@)
	$(TEST_CC) -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -I. -pthread -o $@ \
		$(wildcard tests/blk/*.c) $(BLK_CORE_SRCS) -lcriterion
