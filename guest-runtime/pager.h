/*
 * Guest memory that cooperates with the host's pager (guest-runtime/abi.h,
 * "Page states"): a page allocator over the heap whose free pages are
 * UNUSED (so the host drops them without I/O; a free 2 MiB block is 512
 * unused entries, dropped whole), volatile buffers the host may discard,
 * prefetch, and the balloon client. Works without a pager too (the hints
 * are then just not used).
 */
#ifndef BEYOND_GUEST_PAGER_H
#define BEYOND_GUEST_PAGER_H

#include <stdint.h>

/* Takes over the heap; 1 if the host pages cooperatively, 0 if no pager runs. Call once, on vCPU 0. */
int mem_init(void);
/* bytes (a multiple of 4 KiB) of contiguous pages, 2 MiB aligned from 2 MiB up; NULL if none. Contents undefined. */
void *page_alloc(uint64_t bytes);
void page_free(void *p, uint64_t bytes);
uint64_t page_free_bytes(void);

/* The host may discard these pages from now on (without writing them anywhere). */
void make_volatile(void *p, uint64_t len);
/* Pins them again; returns how many pages were discarded: their contents must be rebuilt. */
uint64_t make_stable(void *p, uint64_t len);
/* 1 if the host has the page resident (no fault on access). */
int page_present(const void *p);
/* Asks the host to read [p, p + len) in while the guest goes on. */
void prefetch(const void *p, uint64_t len);

/* Follows the host's balloon target: gives back or takes back free 2 MiB blocks; returns bytes given back. */
uint64_t balloon_poll(void);

#endif
