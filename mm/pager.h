/*
 * The pager: keeps at most `limit` bytes of a VM's guest RAM resident on the
 * host and pages the rest to its own swap area, in units of 4 KiB or 2 MiB.
 *
 * Guest RAM is registered with userfaultfd (missing and write-protect
 * modes). A handler thread per VM resolves every missing fault: it makes
 * room by evicting victims, then installs the unit (read back from swap, or
 * zeros) with one UFFDIO_COPY. A 2 MiB unit is one read and one install, and
 * on THP it is collapsed back into a huge page (MADV_COLLAPSE).
 *
 * Eviction of a unit: write-protect it (so guest writes wait), decide (the
 * guest's page states and a zero check: a unit of unused, volatile or zero
 * pages is dropped without I/O), write it to a swap slot otherwise, release
 * it (MADV_DONTNEED) and lift the write protection.
 *
 * Victims: a clock over the accessed bits of the guest's own page tables
 * (which the monitor built; the (shadow) MMU sets them when it walks them).
 * A unit whose bit is set gets a second chance: the bit is cleared and the
 * unit's host mappings invalidated (write-protect on and off, which makes KVM
 * drop its shadow entries), so the next guest access walks the table and
 * sets it again. `fifo` chooses by install order instead, for comparison.
 *
 * Memory groups: pagers started with the same `group` name (VMs of one
 * process) share one resident limit, the sum of their own limits. A fault
 * in one member may evict another member's units: the clock turns over the
 * members' units one member after the other (fifo: the oldest install of
 * any member). The members share one lock, so their handlers take turns.
 */
#ifndef BEYOND_PAGER_H
#define BEYOND_PAGER_H

#include <stddef.h>
#include <stdint.h>
#include "mm/guest_mem.h"

struct pager_config {
	uint64_t limit;              /* bytes of guest RAM that may be resident */
	uint64_t unit;               /* 4 KiB or 2 MiB (hugetlb: 2 MiB only) */
	int hints;                   /* cooperative: page states and the zero check; 0 is naive */
	int fifo;                    /* victims by install order, not by accessed bits */
	const char *swap_path;       /* directory or new file; NULL: $TMPDIR or /var/tmp */
	uint64_t swap_size;          /* bytes; 0 means the size of RAM */
	int swap_keep;               /* leave the swap file behind */
	const char *group;           /* memory group name (shares the limits of its members), or NULL */
	uint64_t balloon_target;     /* bytes the guest is asked to give back, from the start */
	uint64_t cr3;                /* the guest's page tables (accessed bits) */
	/* Called once, from the handler thread, when the pager cannot go on (swap full, I/O error). */
	void (*fail)(void *opaque, const char *reason);
	/* Called first thing on the handler thread (the monitor arms its system call filter there). */
	void (*thread_start)(void *opaque);
	void *opaque;
};

struct pager_stats {
	uint64_t limit, unit, resident, pinned, ballooned; /* bytes */
	uint64_t resident_peak, balloon_target;            /* bytes */
	uint64_t group_limit, group_resident, group_resident_peak; /* bytes; 0 outside a memory group */
	uint64_t evicted_for_group;  /* units of this VM evicted to make room for another member */
	uint64_t swapped, swap_size;                       /* bytes in the swap area, its capacity */
	uint64_t faults;             /* missing faults resolved */
	uint64_t zero_fills;         /* units installed as zeros (never written, dropped, ballooned) */
	uint64_t swap_outs, swap_out_bytes, swap_ins, swap_in_bytes;
	uint64_t zero_dropped, unused_dropped, volatile_discarded; /* bytes dropped without I/O */
	uint64_t prefetched;         /* units brought in by PREFETCH */
	uint64_t collapsed, collapse_failed;
	uint64_t clock_scanned, clock_referenced;
	double out_median_us, out_p99_us, in_median_us, in_p99_us;
};

struct pager;

/* Starts paging m (pin ranges first with pager_pin); 0, or -1 with a reason in err. */
int pager_start(struct pager **pp, struct guest_mem *m, const struct pager_config *c, char *err,
		size_t errlen);
/* Stops the handler; the swap area goes away (unless kept). */
void pager_stop(struct pager *p);

/* Never evict [gpa, gpa + len) (monitor-owned tables); brings it in if needed. 0 or -1. */
int pager_pin(struct pager *p, uint64_t gpa, uint64_t len);
/* The guest's page-state table (abi.h) at gpa; it is pinned. 0, or -1 with a reason. */
int pager_register_table(struct pager *p, uint64_t gpa, char *err, size_t errlen);
/* The balloon target in the table's header (now, or once the guest registers the table). */
void pager_set_balloon_target(struct pager *p, uint64_t bytes);
/* Queues [gpa, gpa + len) to be read in by the handler (clipped to RAM). */
void pager_prefetch(struct pager *p, uint64_t gpa, uint64_t len);
/* BEYOND_BALLOON_INFLATE / DEFLATE of whole 2 MiB blocks; 0 or -1 with a reason. */
int pager_balloon(struct pager *p, unsigned op, uint64_t gpa, uint64_t len, char *err, size_t errlen);

void pager_get_stats(struct pager *p, struct pager_stats *s);

#endif
