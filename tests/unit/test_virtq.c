/* The virtqueue chain parser against a fake guest memory: good chains, and every malformed one refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ring.h>
#include "hv/virtio/virtq.h"

#define RAM (1u << 20)
#define QSIZE 16
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUFS 0x10000

static struct guest_mem mem;
static struct virtq q;
static struct virtq_chain chain;
static char why[256];

static struct vring_desc *desc(void) { return (struct vring_desc *)(mem.base + DESC); }
static struct vring_avail *avail(void) { return (struct vring_avail *)(mem.base + AVAIL); }

static void setup(void)
{
	mem = (struct guest_mem){ .base = calloc(1, RAM), .size = RAM };
	cr_assert_eq(virtq_init(&q, &mem, QSIZE, 1, DESC, AVAIL, USED, why, sizeof(why)), 0, "%s", why);
}

static void teardown(void) { free(mem.base); }

TestSuite(virtq, .init = setup, .fini = teardown);

/* Makes chain `head` available. */
static void offer(uint16_t head)
{
	avail()->ring[avail()->idx % QSIZE] = head;
	avail()->idx++;
}

static void set(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc()[i] = (struct vring_desc){ addr, len, flags, next };
}

static void refused(const char *what)
{
	cr_expect_eq(virtq_pop(&q, &chain, why, sizeof(why)), -1, "accepted");
	cr_expect(strstr(why, what), "reason '%s' lacks '%s'", why, what);
}

Test(virtq, empty_queue_gives_nothing)
{
	cr_expect_eq(virtq_pop(&q, &chain, why, sizeof(why)), 0);
}

Test(virtq, chain_of_three_and_the_used_ring)
{
	set(3, BUFS, 16, VRING_DESC_F_NEXT, 5);
	set(5, BUFS + 16, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 7);
	set(7, BUFS + 8192, 1, VRING_DESC_F_WRITE, 0);
	offer(3);
	cr_assert_eq(virtq_pop(&q, &chain, why, sizeof(why)), 1, "%s", why);
	cr_expect_eq(chain.head, 3);
	cr_assert_eq(chain.n, 3);
	cr_expect_eq(chain.seg[0].p, mem.base + BUFS);
	cr_expect(!chain.seg[0].writable && chain.seg[1].writable && chain.seg[2].writable);
	cr_expect_eq(chain.seg[1].len, 4096);
	cr_expect_eq(virtq_pop(&q, &chain, why, sizeof(why)), 0);
	virtq_push(&q, 3, 4097);
	struct vring_used *u = (struct vring_used *)(mem.base + USED);
	cr_expect_eq(u->idx, 1);
	cr_expect_eq(u->ring[0].id, 3);
	cr_expect_eq(u->ring[0].len, 4097);
}

Test(virtq, buffer_outside_ram)
{
	set(0, RAM - 8, 16, 0, 0);
	offer(0);
	refused("outside guest RAM");
}

Test(virtq, buffer_whose_end_wraps)
{
	set(0, UINT64_MAX - 8, 64, 0, 0);
	offer(0);
	refused("outside guest RAM");
}

Test(virtq, loop)
{
	set(0, BUFS, 16, VRING_DESC_F_NEXT, 1);
	set(1, BUFS, 16, VRING_DESC_F_NEXT, 0);
	offer(0);
	refused("longer than the queue");
}

Test(virtq, zero_length)
{
	set(0, BUFS, 0, 0, 0);
	offer(0);
	refused("zero-length");
}

Test(virtq, readable_after_writable)
{
	set(0, BUFS, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set(1, BUFS, 16, 0, 0);
	offer(0);
	refused("device-readable buffer after");
}

Test(virtq, next_outside_the_table)
{
	set(0, BUFS, 16, VRING_DESC_F_NEXT, QSIZE);
	offer(0);
	refused("outside its table");
}

Test(virtq, head_outside_the_queue)
{
	offer(QSIZE);
	refused("outside a queue");
}

Test(virtq, driver_index_too_far_ahead)
{
	avail()->idx = QSIZE + 1;
	refused("ahead of the device");
}

Test(virtq, indirect_table)
{
	struct vring_desc *t = (struct vring_desc *)(mem.base + BUFS);
	t[0] = (struct vring_desc){ BUFS + 0x1000, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUFS + 0x2000, 1, VRING_DESC_F_WRITE, 0 };
	set(2, BUFS, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(2);
	cr_assert_eq(virtq_pop(&q, &chain, why, sizeof(why)), 1, "%s", why);
	cr_expect_eq(chain.head, 2);
	cr_expect_eq(chain.n, 2);
	cr_expect_eq(chain.seg[1].p, mem.base + BUFS + 0x2000);
}

Test(virtq, indirect_refusals)
{
	struct vring_desc *t = (struct vring_desc *)(mem.base + BUFS);
	t[0] = (struct vring_desc){ BUFS, 32, VRING_DESC_F_INDIRECT, 0 };
	set(0, BUFS, 16, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	refused("inside an indirect table");
	set(0, BUFS, 65536 * 16, VRING_DESC_F_INDIRECT, 0); /* 65536 descriptors */
	offer(0);
	refused("at most 16 entries");
	set(0, BUFS, 24, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	refused("a multiple of 16");
	set(0, RAM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	refused("outside guest RAM");
	set(0, BUFS, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	offer(0);
	refused("with NEXT");
	q.indirect = 0;
	set(0, BUFS, 16, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	refused("not negotiated");
}

Test(virtq, loop_inside_an_indirect_table)
{
	struct vring_desc *t = (struct vring_desc *)(mem.base + BUFS);
	t[0] = (struct vring_desc){ BUFS, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUFS, 16, VRING_DESC_F_NEXT, 0 };
	set(0, BUFS, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	refused("longer than the queue");
}

Test(virtq, rings_checked_at_set_up)
{
	cr_expect_eq(virtq_init(&q, &mem, 12, 0, DESC, AVAIL, USED, why, sizeof(why)), -1, "size not a power of two");
	cr_expect_eq(virtq_init(&q, &mem, 512, 0, DESC, AVAIL, USED, why, sizeof(why)), -1, "size over the maximum");
	cr_expect_eq(virtq_init(&q, &mem, QSIZE, 0, DESC + 8, AVAIL, USED, why, sizeof(why)), -1, "misaligned");
	cr_expect_eq(virtq_init(&q, &mem, QSIZE, 0, DESC, AVAIL, RAM - 16, why, sizeof(why)), -1, "outside RAM");
	cr_expect_eq(virtq_init(&q, &mem, QSIZE, 0, UINT64_MAX - 15, AVAIL, USED, why, sizeof(why)), -1, "wraps");
}

/* The prefetch hint reads hostile rings without harm: the pops after it still refuse them. */
Test(virtq, prefetch_of_hostile_chains_is_harmless)
{
	set(2, RAM - 16, 64, VRING_DESC_F_INDIRECT, 0); /* table past the end of RAM */
	offer(2);
	offer(QSIZE + 3);                                 /* head outside the queue */
	virtq_prefetch(&q, 64);
	refused("outside guest RAM");
	refused("outside a queue");
}
