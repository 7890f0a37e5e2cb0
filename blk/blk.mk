# blk/: the deduplicating block store, its CLI and NBD export (tests: tests/blk/).
BLK_SRCS      := $(wildcard blk/*.c)
BLK_INC       := $(BUILD)/blkinc
# xxhash is header-only here; musl-gcc does not search /usr/include, so it
# gets a directory holding just that header.
BLK_CFLAGS    := -isystem $(BLK_INC)
BLK_LIBS      :=
DEB_PACKAGES  += libxxhash-dev qemu-utils gnuplot-nox e2fsprogs

$(BLK_INC)/xxhash.h:
	@mkdir -p $(BLK_INC)
	ln -sfn /usr/include/xxhash.h $@

$(BLK_SRCS:%.c=$(BUILD)/mon/%.o): | $(BLK_INC)/xxhash.h
