/*
 * The host's hugetlb pools, shared by every monitor process on the host.
 *
 * A monitor grows a pool (as root) when a VM needs more huge pages than are
 * free. While any monitor holds pool pages, the pools only grow; when the
 * last one lets go, they go back to the size they had before the first one
 * grew them (the base). All of it happens under one host-wide lock (flock on
 * HUGETLB_STATE_DIR/lock); each holding process leaves a record there
 * (HUGETLB_STATE_DIR/<pid>), so a monitor killed with SIGKILL is noticed by
 * the next one to take the lock, which gives its share back.
 */
#ifndef BEYOND_HUGETLB_POOL_H
#define BEYOND_HUGETLB_POOL_H

#include <stdint.h>
#include "mm/backing.h"

#define HUGETLB_STATE_DIR "/run/beyond-hugetlb"

/*
 * Maps size bytes of p's huge pages, growing the pool if it lacks free
 * pages; the lock is held from the check to the mapping (which reserves the
 * pages), so no other monitor takes them in between. On success the
 * process holds the pools until hugetlb_pool_release() (after munmap).
 * MAP_FAILED with errno on failure.
 */
void *hugetlb_pool_map(enum host_pages p, uint64_t size);
/* Makes sure p's pool has bytes' worth of free pages (for a run of many VMs); 0 and a hold, or -1. */
int hugetlb_pool_reserve(enum host_pages p, uint64_t bytes);
/* Drops one hold; the host's last restores the pools' base. */
void hugetlb_pool_release(void);
/* The same for a dying process, if the lock is free; async-signal-safe. */
void hugetlb_pool_release_on_signal(void);
/* Free pages in p's pool, or -1. */
long hugetlb_pool_free(enum host_pages p);

#endif
