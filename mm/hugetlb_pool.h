/*
 * The host's hugetlb pools, shared by every monitor process on the host.
 *
 * A monitor grows a pool (as root) when a VM needs more huge pages than are
 * free and shrinks it by what it added when done. All changes happen under
 * one host-wide lock (flock on HUGETLB_STATE_DIR/lock), and each process
 * records what it has added in HUGETLB_STATE_DIR/<pid>. Whoever takes the
 * lock first gives back what dead processes recorded (killed with SIGKILL,
 * say), so no page stays reserved for a process that is gone.
 */
#ifndef BEYOND_HUGETLB_POOL_H
#define BEYOND_HUGETLB_POOL_H

#include <stdint.h>
#include "mm/backing.h"

#define HUGETLB_STATE_DIR "/run/beyond-hugetlb"

/*
 * Maps size bytes of p's huge pages (mmap flags besides the backing's own:
 * MAP_POPULATE, say), growing the pool if it lacks free pages; the lock is
 * held from the check to the mapping, so no other monitor takes the pages
 * in between. Sets *added to the pages added (give them back with
 * hugetlb_pool_release() after munmap). MAP_FAILED with errno on failure.
 */
void *hugetlb_pool_map(enum host_pages p, uint64_t size, int flags, long *added);
/*
 * Makes sure the pool of p has bytes' worth of free pages, growing it if
 * needed (for a run of many VMs). Returns the pages added, or -1.
 */
long hugetlb_pool_reserve(enum host_pages p, uint64_t bytes);
void hugetlb_pool_release(enum host_pages p, long added);
/* Gives back what this process added, if the lock is free; async-signal-safe. */
void hugetlb_pool_release_on_signal(void);
/* Free pages in p's pool, or -1. */
long hugetlb_pool_free(enum host_pages p);

#endif
