#include "guest-runtime/beyond.h"
#include "guest-runtime/workloads/io.h"

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return *s = x;
}

static uint64_t next_offset(const struct io_plan *p, uint64_t i, uint64_t *rng)
{
	uint64_t blocks = p->span / p->block;
	return (p->pattern == IO_SEQ ? i % blocks : xorshift(rng) % blocks) * p->block;
}

void io_run(const struct io_plan *p, const struct io_backend *b, struct beyond_io_result *r)
{
	/* Offsets depend on the seed and the pattern only: the same run gives the same offsets anywhere. */
	uint64_t rng = (p->seed ^ p->block ^ (uint64_t)p->depth << 32 ^ (uint64_t)p->write << 40 ^
			(uint64_t)p->pattern << 48) | 1;
	uint64_t issued = 0, tag;
	uint16_t free_slots[IO_MAX_DEPTH];
	unsigned n_free = 0, depth = p->depth < IO_MAX_DEPTH ? p->depth : IO_MAX_DEPTH;
	*r = (struct beyond_io_result){ .disk = p->disk, .pattern = p->pattern, .write = p->write,
					.block = p->block, .depth = depth };
	for (unsigned i = 0; i < depth; i++)
		free_slots[n_free++] = (uint16_t)i;
	uint64_t start = rdtsc(), end = start + p->cycles;
	for (int running = 1;;) {
		running = running && rdtsc() < end;
		if (!running && n_free == depth)
			break;
		int queued = 0;
		while (running && n_free > 0) {
			unsigned s = free_slots[n_free - 1];
			uint8_t *buf = p->bufs + (uint64_t)s * p->block;
			if (p->write) /* every block written is new: no dedup shortcut */
				for (uint32_t o = 0; o < p->block; o += 4096)
					*(uint64_t *)(buf + o) = p->seed ^ (issued << 20) ^ o;
			if (b->submit(b->ctx, p->write, next_offset(p, issued, &rng), buf, p->block, s) < 0)
				break;
			n_free--, issued++, queued = 1;
		}
		if (queued)
			b->kick(b->ctx);
		int st;
		while ((st = b->complete(b->ctx, &tag)) < 0)
			cpu_relax();
		do {
			free_slots[n_free++] = (uint16_t)tag;
			r->ops++;
			if (st == 0)
				r->bytes += p->block;
			else
				r->errors++;
		} while (n_free < depth && (st = b->complete(b->ctx, &tag)) >= 0);
	}
	r->cycles = rdtsc() - start;
}
