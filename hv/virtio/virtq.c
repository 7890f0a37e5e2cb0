#include <stdio.h>
#include <string.h>
#include <linux/virtio_ring.h>
#include "hv/virtio/virtq.h"

#define FAIL(...) (snprintf(why, whylen, __VA_ARGS__), -1)

/* Host pointer to a ring part of len bytes at gpa, aligned to align, or NULL. */
static void *ring_part(const struct guest_mem *mem, uint64_t gpa, uint64_t len, uint64_t align)
{
	return gpa % align ? NULL : guest_mem_ptr(mem, gpa, len);
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, int indirect,
	       uint64_t desc, uint64_t avail, uint64_t used, char *why, size_t whylen)
{
	memset(q, 0, sizeof(*q));
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return FAIL("queue size %u is not a power of two up to %u", size, VIRTQ_MAX_SIZE);
	q->mem = mem;
	q->size = size;
	q->indirect = indirect;
	q->desc_gpa = desc;
	/* Sizes as in the spec (2.7): the rings with their event fields. */
	q->desc = ring_part(mem, desc, 16ull * size, VRING_DESC_ALIGN_SIZE);
	q->avail = ring_part(mem, avail, 6 + 2ull * size, VRING_AVAIL_ALIGN_SIZE);
	q->used = ring_part(mem, used, 6 + 8ull * size, VRING_USED_ALIGN_SIZE);
	if (!q->desc || !q->avail || !q->used)
		return FAIL("queue rings (descriptors %#lx, driver %#lx, device %#lx, %u entries) are misaligned "
			    "or outside guest RAM", (unsigned long)desc, (unsigned long)avail,
			    (unsigned long)used, size);
	q->used->idx = 0; /* both indexes start at 0 when the queue becomes ready */
	return 0;
}

int virtq_pending(struct virtq *q, char *why, size_t whylen)
{
	uint16_t n = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) - q->last_avail;
	if (n > q->size)
		return FAIL("driver ring index ran %u entries ahead of the device on a queue of %u", n, q->size);
	return n;
}

/* Copies descriptor i of table (the guest may rewrite it meanwhile: only the copy is used). */
static struct vring_desc read_desc(const struct vring_desc *table, unsigned i)
{
	struct vring_desc d;
	memcpy(&d, (const void *)&table[i], sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* one read, never re-read */
	return d;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, char *why, size_t whylen)
{
	int pending = virtq_pending(q, why, whylen);
	if (pending <= 0)
		return pending;
	uint16_t head = __atomic_load_n(&q->avail->ring[q->last_avail % q->size], __ATOMIC_RELAXED);
	q->last_avail++;
	if (head >= q->size)
		return FAIL("chain head %u outside a queue of %u", head, q->size);
	c->head = head;
	c->n = 0;

	const struct vring_desc *table = q->desc;
	unsigned table_len = q->size, i = head, walked = 0;
	int indirect = 0, writable_seen = 0;
	for (;;) {
		/* Every descriptor of a chain counts against the queue size: loops end here. */
		if (walked++ == q->size)
			return FAIL("chain from head %u is longer than the queue (%u): a loop?", head, q->size);
		struct vring_desc d = read_desc(table, i);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!q->indirect)
				return FAIL("indirect descriptor, not negotiated");
			if (indirect)
				return FAIL("indirect descriptor inside an indirect table");
			if (d.flags & VRING_DESC_F_NEXT)
				return FAIL("indirect descriptor with NEXT set");
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > q->size)
				return FAIL("indirect table of %u bytes (a multiple of 16, at most %u entries)", d.len,
					    q->size);
			table = guest_mem_ptr(q->mem, d.addr, d.len);
			if (!table)
				return FAIL("indirect table [%#lx, +%#x) outside guest RAM", (unsigned long)d.addr,
					    d.len);
			table_len = d.len / sizeof(struct vring_desc);
			indirect = 1;
			walked--; /* the table's entries count, not the pointer to it */
			i = 0;
			continue;
		}
		if (d.len == 0)
			return FAIL("zero-length buffer in chain %u", head);
		uint8_t *p = guest_mem_ptr(q->mem, d.addr, d.len);
		if (!p)
			return FAIL("buffer [%#lx, +%#x) of chain %u outside guest RAM", (unsigned long)d.addr, d.len,
				    head);
		int writable = !!(d.flags & VRING_DESC_F_WRITE);
		if (writable_seen && !writable)
			return FAIL("device-readable buffer after a device-writable one in chain %u", head);
		writable_seen |= writable;
		c->seg[c->n++] = (struct virtq_seg){ p, d.len, writable };
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= table_len)
			return FAIL("descriptor %u of chain %u points at %u, outside its table of %u", i, head, d.next,
				    table_len);
		i = d.next;
	}
}

void virtq_prefetch(const struct virtq *q, unsigned n)
{
	uint16_t heads[VIRTQ_MAX_SIZE];
	n = n < q->size ? n : q->size;
	for (unsigned i = 0; i < n; i++) {
		heads[i] = __atomic_load_n(&q->avail->ring[(uint16_t)(q->last_avail + i) % q->size], __ATOMIC_RELAXED);
		if (heads[i] < q->size)
			__builtin_prefetch(&q->desc[heads[i]]);
	}
	for (unsigned i = 0; i < n; i++) {
		if (heads[i] >= q->size)
			continue;
		struct vring_desc d = read_desc(q->desc, heads[i]);
		const uint8_t *t = d.flags & VRING_DESC_F_INDIRECT ? guest_mem_ptr(q->mem, d.addr, d.len) : NULL;
		for (uint32_t k = 0; t && k < d.len && k < 256; k += 64)
			__builtin_prefetch(t + k);
	}
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	vring_used_elem_t *e = &q->used->ring[q->used_idx % q->size];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	q->used_idx++;
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

void virtq_set_notify(struct virtq *q, int want)
{
	__atomic_store_n(&q->used->flags, want ? 0 : VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	/* Ordered before the device's next look at the driver ring, as the guest orders its index
	 * before reading these flags: one of the two sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
