/*
 * The value of `beyond run --disk`: a comma-separated list of key=value
 * items (paths cannot contain commas).
 *
 *   store=DIR,vol=NAME | file=PATH     the backend (blk/disk.h)
 *   ro                                 read-only (writes fail with IOERR)
 *   iops=N, bps=N                      caps (N with K/M/G), blk/io_cap.h
 *   id=STRING                          GET_ID's answer (20 bytes; default the volume or file name)
 *   threads=N                          I/O threads serving the queue (1..8, default 1)
 *   poll=US                            an idle I/O thread polls this long before it sleeps (default 50)
 *   ioeventfd=off                      notifications by MMIO exit even where KVM offers an ioeventfd
 */
#ifndef BEYOND_BLK_DISK_SPEC_H
#define BEYOND_BLK_DISK_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct disk;

#define DISK_MAX_THREADS 8
#define DISK_SPEC_MAX 4096

struct disk_spec {
	char buf[DISK_SPEC_MAX];     /* the value, cut into the strings below */
	const char *store, *vol, *file, *id;
	bool ro, no_ioeventfd;
	uint64_t iops, bps;
	unsigned threads, poll_us;
};

/* 0, or -1 with the reason in err. */
int disk_spec_parse(const char *value, struct disk_spec *s, char *err, size_t errlen);
/* Opens the backend the spec names. */
int disk_spec_open(const struct disk_spec *s, struct disk **out, char *err, size_t errlen);

#endif
