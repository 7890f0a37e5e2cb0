/*
 * The split virtqueue (virtio 1.x, 2.6), device side: descriptor chains
 * walked from guest memory with every address and length checked against
 * guest RAM, and the used ring written back.
 *
 * The guest may rewrite its rings at any time: each descriptor is copied
 * once and only the copy is checked and used. A chain that leaves guest
 * RAM, loops, is longer than the queue (counting indirect entries), nests
 * indirect tables or is otherwise malformed is refused with a reason; the
 * device then ends the guest.
 */
#ifndef BEYOND_VIRTQ_H
#define BEYOND_VIRTQ_H

#include <stddef.h>
#include <stdint.h>
#include "mm/guest_mem.h"

/* The largest queue a device offers (QueueNumMax) and so the longest chain. */
#define VIRTQ_MAX_SIZE 256

struct virtq {
	const struct guest_mem *mem;
	uint16_t size;                 /* a power of two, at most VIRTQ_MAX_SIZE */
	int indirect;                  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t desc_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;           /* next avail entry to take */
	uint16_t used_idx;             /* next used entry to fill */
};

/* One buffer of a chain: host address and length, inside guest RAM. */
struct virtq_seg {
	uint8_t *p;
	uint32_t len;
	int writable;                  /* VRING_DESC_F_WRITE: the device writes it */
};

struct virtq_chain {
	uint16_t head;                 /* what goes back in the used ring */
	unsigned n;
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/*
 * Checks the three rings' guest addresses (alignment, inside RAM, without
 * overflow) for a queue of `size` entries and maps them; 0, or -1 with why.
 */
int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, int indirect,
	       uint64_t desc, uint64_t avail, uint64_t used, char *why, size_t whylen);

/* Chains the guest has made available and not yet taken; -1 (why set) if the index is impossible. */
int virtq_pending(struct virtq *q, char *why, size_t whylen);

/* Takes the next available chain: 1, 0 if there is none, -1 with why if it is malformed. */
int virtq_pop(struct virtq *q, struct virtq_chain *c, char *why, size_t whylen);

/*
 * A hint before popping the next n chains: prefetches their descriptors
 * and indirect tables, so the cache misses on lines the guest just wrote
 * overlap instead of following one another. Reads nothing it relies on:
 * virtq_pop() still copies and checks every descriptor.
 */
void virtq_prefetch(const struct virtq *q, unsigned n);

/* Returns chain `head` to the guest with `len` bytes written, and publishes it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* VRING_USED_F_NO_NOTIFY on or off: whether the guest should notify the device. */
void virtq_set_notify(struct virtq *q, int want);

#endif
