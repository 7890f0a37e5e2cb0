#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include "guest-runtime/beyond.h"
#include "guest-runtime/virtio_blk.h"

#define MAGIC 0x74726976u

static uint64_t slot_regs(unsigned slot)
{
	return boot_info.device_base + BEYOND_VIRTIO_OFFSET + (uint64_t)slot * BEYOND_VIRTIO_STRIDE;
}

/* The slot of the index-th block device, or -1. */
static int find(unsigned index)
{
	for (unsigned s = 0; s < BEYOND_VIRTIO_SLOTS; s++) {
		uint64_t r = slot_regs(s);
		if (mmio_read32(r + VIRTIO_MMIO_MAGIC_VALUE) != MAGIC || mmio_read32(r + VIRTIO_MMIO_VERSION) != 2)
			return -1;
		uint32_t id = mmio_read32(r + VIRTIO_MMIO_DEVICE_ID);
		if (id == 0)
			return -1; /* placeholder: the end of the list */
		if (id == VIRTIO_ID_BLOCK && index-- == 0)
			return (int)s;
	}
	return -1;
}

unsigned vblk_count(void)
{
	unsigned n = 0;
	while (find(n) >= 0)
		n++;
	return n;
}

static uint32_t config32(struct vblk *d, unsigned off)
{
	return mmio_read32(d->regs + VIRTIO_MMIO_CONFIG + off);
}

static void set64(uint64_t reg_low, uint64_t v)
{
	mmio_write32(reg_low, (uint32_t)v);
	mmio_write32(reg_low + 4, (uint32_t)(v >> 32));
}

#define WANT (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_INDIRECT_DESC | 1ull << VIRTIO_BLK_F_FLUSH | \
	      1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |     \
	      1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES)
#define NEED (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_INDIRECT_DESC)

int vblk_open(struct vblk *d, unsigned index, void *mem)
{
	int slot = find(index);
	if (slot < 0) {
		printf("vblk: no block device %u\n", index);
		return -1;
	}
	memset(d, 0, sizeof(*d));
	d->regs = slot_regs((unsigned)slot);
	uint64_t r = d->regs;
	mmio_write32(r + VIRTIO_MMIO_STATUS, 0);
	mmio_write32(r + VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	uint64_t f = 0;
	for (unsigned i = 0; i < 2; i++) {
		mmio_write32(r + VIRTIO_MMIO_DEVICE_FEATURES_SEL, i);
		f |= (uint64_t)mmio_read32(r + VIRTIO_MMIO_DEVICE_FEATURES) << (32 * i);
	}
	if ((f & NEED) != NEED) {
		printf("vblk: device %u lacks VERSION_1 or INDIRECT_DESC (features %#lx)\n", index, (unsigned long)f);
		return -1;
	}
	f &= WANT;
	for (unsigned i = 0; i < 2; i++) {
		mmio_write32(r + VIRTIO_MMIO_DRIVER_FEATURES_SEL, i);
		mmio_write32(r + VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> (32 * i)));
	}
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
	mmio_write32(r + VIRTIO_MMIO_STATUS, st);
	if (!(mmio_read32(r + VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		printf("vblk: device %u refused features %#lx\n", index, (unsigned long)f);
		return -1;
	}
	d->sectors = config32(d, 0) | (uint64_t)config32(d, 4) << 32;
	d->size_max = d->dev_size_max = f & (1ull << VIRTIO_BLK_F_SIZE_MAX) ? config32(d, 8) : (1u << 20);
	d->blk_size = f & (1ull << VIRTIO_BLK_F_BLK_SIZE) ? config32(d, 20) : 512;
	d->ro = !!(f & (1ull << VIRTIO_BLK_F_RO));

	uint32_t max = mmio_read32(r + VIRTIO_MMIO_QUEUE_NUM_MAX);
	d->qsize = max < VBLK_DEPTH ? (uint16_t)max : VBLK_DEPTH;
	if (d->qsize == 0 || (d->qsize & (d->qsize - 1))) {
		printf("vblk: device %u offers a queue of %u\n", index, max);
		return -1;
	}
	/* Layout in mem: descriptors, driver ring, device ring (4-aligned), slots. */
	_Static_assert(16 * VBLK_DEPTH + 1024 + 4096 + VBLK_DEPTH * sizeof(struct vblk_slot) <= VBLK_MEM_SIZE,
		       "VBLK_MEM_SIZE too small");
	_Static_assert((16 * VBLK_DEPTH + 1024 + 4096) % 64 == 0, "slots must start on a cache line");
	uint8_t *m = mem;
	memset(m, 0, VBLK_MEM_SIZE);
	d->desc = (struct vring_desc *)m;
	d->avail = (struct vring_avail *)(m + 16 * VBLK_DEPTH);
	d->used = (struct vring_used *)(m + 16 * VBLK_DEPTH + 1024);
	d->slots = (struct vblk_slot *)(m + 16 * VBLK_DEPTH + 1024 + 4096);
	for (unsigned i = 0; i < d->qsize; i++)
		d->free[d->n_free++] = (uint16_t)(d->qsize - 1 - i);
	mmio_write32(r + VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_write32(r + VIRTIO_MMIO_QUEUE_NUM, d->qsize);
	set64(r + VIRTIO_MMIO_QUEUE_DESC_LOW, (uintptr_t)d->desc);
	set64(r + VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uintptr_t)d->avail);
	set64(r + VIRTIO_MMIO_QUEUE_USED_LOW, (uintptr_t)d->used);
	mmio_write32(r + VIRTIO_MMIO_QUEUE_READY, 1);
	mmio_write32(r + VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
	return 0;
}

unsigned vblk_in_flight(const struct vblk *d) { return d->qsize - d->n_free; }

/* Writes a descriptor only if it differs: one the device only reads stays cached on both sides. */
static void put_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	if (d->addr != addr || d->len != len || d->flags != flags || d->next != next)
		*d = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

int vblk_submit(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t len, uint64_t tag)
{
	if (d->n_free == 0 || (uint64_t)len > (uint64_t)d->size_max * VBLK_MAX_SEGS)
		return -1;
	uint16_t s = d->free[--d->n_free];
	struct vblk_slot *q = &d->slots[s];
	struct vring_desc *t = q->table;
	unsigned n = 0;
	q->hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	q->tag = tag;
	put_desc(&t[n], (uintptr_t)&q->hdr, sizeof(q->hdr), VRING_DESC_F_NEXT, (uint16_t)(n + 1)), n++;
	uint16_t dir = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ? VRING_DESC_F_WRITE : 0;
	if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		q->range = (struct virtio_blk_discard_write_zeroes){ .sector = sector, .num_sectors = len };
		put_desc(&t[n], (uintptr_t)&q->range, sizeof(q->range), VRING_DESC_F_NEXT, (uint16_t)(n + 1)), n++;
	} else {
		for (uint32_t done = 0; done < len;) {
			uint32_t k = len - done < d->size_max ? len - done : d->size_max;
			put_desc(&t[n], (uintptr_t)buf + done, k, dir | VRING_DESC_F_NEXT, (uint16_t)(n + 1)), n++;
			done += k;
		}
	}
	/* The status byte needs no reset: the device writes it before it returns the chain. */
	put_desc(&t[n], (uintptr_t)&q->status, 1, VRING_DESC_F_WRITE, 0), n++;
	put_desc(&d->desc[s], (uintptr_t)t, n * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	uint16_t *slot = &d->avail->ring[d->avail_idx % d->qsize];
	if (*slot != s)
		*slot = s;
	__atomic_store_n(&d->avail->idx, ++d->avail_idx, __ATOMIC_RELEASE);
	return 0;
}

void vblk_kick(struct vblk *d)
{
	if (d->kicked_idx == d->avail_idx)
		return;
	d->kicked_idx = d->avail_idx;
	/* The index store before the flags load: the device orders the other way round (virtq_set_notify). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&d->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY)) {
		mmio_write32(d->regs + VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		d->notifies++;
	}
}

int vblk_complete(struct vblk *d, uint64_t *tag)
{
	if (d->last_used == __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE))
		return -1;
	uint32_t s = d->used->ring[d->last_used++ % d->qsize].id;
	if (s >= d->qsize) {
		printf("vblk: device returned chain %u of %u\n", s, d->qsize);
		exit(125);
	}
	*tag = d->slots[s].tag;
	d->free[d->n_free++] = (uint16_t)s;
	return d->slots[s].status;
}

int vblk_request(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	uint64_t tag;
	int st;
	while (vblk_submit(d, type, sector, buf, len, ~0ull) < 0) /* full: wait for one to finish */
		while (vblk_complete(d, &tag) < 0)
			cpu_relax();
	vblk_kick(d);
	do {
		while ((st = vblk_complete(d, &tag)) < 0)
			cpu_relax();
	} while (tag != ~0ull);
	return st;
}

int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t len)
{
	return vblk_request(d, VIRTIO_BLK_T_IN, sector, buf, len);
}

int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t len)
{
	return vblk_request(d, VIRTIO_BLK_T_OUT, sector, (void *)buf, len);
}

int vblk_flush(struct vblk *d) { return vblk_request(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0); }
int vblk_discard(struct vblk *d, uint64_t sector, uint32_t n) { return vblk_request(d, VIRTIO_BLK_T_DISCARD, sector, 0, n); }
int vblk_write_zeroes(struct vblk *d, uint64_t sector, uint32_t n) { return vblk_request(d, VIRTIO_BLK_T_WRITE_ZEROES, sector, 0, n); }

int vblk_get_id(struct vblk *d, char *id)
{
	memset(id, 0, VIRTIO_BLK_ID_BYTES + 1);
	return vblk_request(d, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES);
}
