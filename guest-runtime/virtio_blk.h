/*
 * A virtio-blk driver for guests: virtio-mmio version 2, one split queue
 * with an indirect table per request (so a request takes one ring entry
 * and up to VBLK_DEPTH requests stay in flight), completions polled from
 * the used ring. No interrupts, no allocation: the caller hands over
 * VBLK_MEM_SIZE bytes of memory for the rings and request slots.
 *
 * Asynchronous use: vblk_submit() some requests, vblk_kick() once (it
 * writes QueueNotify only if the device asked for notifications), then
 * vblk_complete() until they are back. The synchronous helpers do one
 * request each. Sectors are 512 bytes; lengths multiples of 512.
 */
#ifndef BEYOND_GUEST_VIRTIO_BLK_H
#define BEYOND_GUEST_VIRTIO_BLK_H

#include <stdint.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#define VBLK_DEPTH     256
#define VBLK_MAX_SEGS  8                 /* data descriptors per request */
#define VBLK_MEM_SIZE  (96u << 10)

/* Request status: VIRTIO_BLK_S_OK (0), S_IOERR (1), S_UNSUPP (2). */

/*
 * A request slot. What changes every request (header, status, tag) shares
 * one cache line, so a request moves that line between the vCPU and the
 * I/O thread once each way; the indirect table is rewritten only where it
 * changes, so for a slot reused with the same buffer it stays cached on
 * both sides.
 */
struct vblk_slot {
	struct virtio_blk_outhdr hdr;
	uint64_t tag;
	volatile uint8_t status;
	struct virtio_blk_discard_write_zeroes range __attribute__((aligned(64)));
	struct vring_desc table[VBLK_MAX_SEGS + 2];
} __attribute__((aligned(64)));

struct vblk {
	uint64_t regs;                   /* the device's registers */
	uint64_t sectors;
	uint32_t blk_size, size_max;     /* size_max: bytes per data segment (at most dev_size_max) */
	uint32_t dev_size_max;           /* the device's largest segment */
	int ro;
	uint16_t qsize;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vblk_slot *slots;
	uint16_t free[VBLK_DEPTH];       /* stack of free slots */
	unsigned n_free;
	uint16_t avail_idx, last_used, kicked_idx;
	uint64_t notifies;               /* QueueNotify writes */
};

/* Block devices present (virtio-mmio slots with device ID 2, in --disk order). */
unsigned vblk_count(void);
/* Sets up the index-th block device; 0, or -1 after printing why. */
int vblk_open(struct vblk *d, unsigned index, void *mem);

/* Queues a request (type VIRTIO_BLK_T_*); 0, or -1 if no slot is free or len is too large. */
int vblk_submit(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t len, uint64_t tag);
/* Tells the device about queued requests if it is not polling. */
void vblk_kick(struct vblk *d);
/* A finished request: returns its status and sets *tag, or -1 if none has finished. */
int vblk_complete(struct vblk *d, uint64_t *tag);
/* Requests submitted and not yet completed. */
unsigned vblk_in_flight(const struct vblk *d);

/* One request (any type), waited for: its status. */
int vblk_request(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t len);
int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t len);
int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t len);
int vblk_flush(struct vblk *d);
int vblk_discard(struct vblk *d, uint64_t sector, uint32_t sectors);
int vblk_write_zeroes(struct vblk *d, uint64_t sector, uint32_t sectors);
/* The device's ID string into id[VIRTIO_BLK_ID_BYTES + 1], NUL-terminated. */
int vblk_get_id(struct vblk *d, char *id);

#endif
