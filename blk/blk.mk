# blk/: the deduplicating block store (owned by the blk module; see blk/blk_cli.h).
BLK_SRCS      := $(wildcard blk/*.c)
BLK_CFLAGS    :=
BLK_LIBS      :=
BLK_TEST_BINS :=
