/* guest: virtio-blk disks: info, fill/verify patterns, ops, ro, flushes, bench */
#include "guest-runtime/beyond.h"
#include "guest-runtime/virtio_blk.h"
#include "guest-runtime/workloads/io.h"

#define CHUNK (1u << 20)

static uint8_t *heap;

/* Memory from the heap, 4 KiB aligned; there is no free. */
static void *alloc(uint64_t n)
{
	if (!heap)
		heap = (uint8_t *)(uintptr_t)((boot_info.heap_start + 4095) & ~4095ull);
	uint8_t *p = heap;
	heap += (n + 4095) & ~4095ull;
	if ((uintptr_t)heap > boot_info.heap_end) {
		printf("disk: out of memory\n");
		exit(3);
	}
	return p;
}

/*
 * "/SEG" after a disk's index: each request's data goes in segments of SEG
 * bytes (a multiple of 512, below the device's size_max); without it, in
 * as few as the device allows.
 */
static void set_segments(struct vblk *d, const char *e)
{
	uint64_t seg = *e == '/' ? strtou64(e + 1, 0) : 0;
	d->size_max = seg && seg % 512 == 0 && seg < d->dev_size_max ? (uint32_t)seg : d->dev_size_max;
}

/* DISK[/SEG] */
static struct vblk *open_disk(const char *arg)
{
	struct vblk *d = alloc(sizeof(*d));
	const char *e;
	if (vblk_open(d, (unsigned)strtou64(arg, &e), alloc(VBLK_MEM_SIZE)))
		exit(3);
	set_segments(d, e);
	return d;
}

/* The pattern: the 8-byte word at byte offset o of the disk is seed * golden ^ o. */
static void pattern(uint64_t *w, uint64_t seed, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = seed * 0x9e3779b97f4a7c15ull ^ (off + 8 * i);
}

static uint64_t span_arg(struct vblk *d, int argc, char **argv, int i)
{
	uint64_t size = d->sectors * 512, n = argc > i ? strtou64(argv[i], 0) : size;
	return (n > size ? size : n) & ~511ull;
}

/* fill DISK SEED [BYTES]: the pattern in 1 MiB writes, 8 in flight, then a flush. */
static int fill(int argc, char **argv)
{
	struct vblk *d = open_disk(argv[2]);
	uint64_t seed = strtou64(argv[3], 0), span = span_arg(d, argc, argv, 4), tag;
	uint8_t *bufs = alloc(8ull * CHUNK);
	int bad = 0;
	for (uint64_t off = 0; off < span || vblk_in_flight(d);) {
		while (off < span && vblk_in_flight(d) < 8) {
			uint32_t n = span - off < CHUNK ? (uint32_t)(span - off) : CHUNK;
			uint8_t *b = bufs + (off / CHUNK % 8) * CHUNK;
			pattern((uint64_t *)b, seed, off, n);
			vblk_submit(d, VIRTIO_BLK_T_OUT, off / 512, b, n, off);
			off += n;
		}
		vblk_kick(d);
		int st;
		while ((st = vblk_complete(d, &tag)) < 0)
			cpu_relax();
		bad += st != VIRTIO_BLK_S_OK;
	}
	int fl = vblk_flush(d);
	printf("filled %lu bytes: %d errors, flush status %d\n", (unsigned long)span, bad, fl);
	return bad || fl ? 1 : 0;
}

/* verify DISK SEED [BYTES]: reads back and compares. */
static int verify(int argc, char **argv)
{
	struct vblk *d = open_disk(argv[2]);
	uint64_t seed = strtou64(argv[3], 0), span = span_arg(d, argc, argv, 4);
	uint64_t *got = alloc(CHUNK), *want = alloc(CHUNK);
	for (uint64_t off = 0; off < span; off += CHUNK) {
		uint32_t n = span - off < CHUNK ? (uint32_t)(span - off) : CHUNK;
		int st = vblk_read(d, off / 512, got, n);
		pattern(want, seed, off, n);
		if (st != VIRTIO_BLK_S_OK || memcmp(got, want, n) != 0) {
			printf("verify: mismatch in [%lu, +%u) (status %d)\n", (unsigned long)off, n, st);
			return 1;
		}
	}
	printf("verified %lu bytes\n", (unsigned long)span);
	return 0;
}

static int expect(const char *what, int got, int want)
{
	if (got == want)
		return 0;
	printf("%s: status %d, expected %d\n", what, got, want);
	return 1;
}

/* ops DISK: discard, write zeroes, get id, flush, and the errors the device must give. */
static int ops(int argc, char **argv)
{
	(void)argc;
	struct vblk *d = open_disk(argv[2]);
	uint8_t *b = alloc(65536);
	char id[VIRTIO_BLK_ID_BYTES + 1];
	int bad = 0;
	memset(b, 0xab, 65536);
	bad += expect("write", vblk_write(d, 8, b, 65536), 0);
	bad += expect("write zeroes", vblk_write_zeroes(d, 8, 64), 0);
	bad += expect("discard", vblk_discard(d, 72, 64), 0);
	bad += expect("read", vblk_read(d, 8, b, 65536), 0);
	for (int i = 0; i < 65536; i++)
		if (b[i]) {
			printf("byte %d not zero after write zeroes / discard\n", i);
			bad++;
			break;
		}
	bad += expect("flush", vblk_flush(d), 0);
	bad += expect("get id", vblk_get_id(d, id), 0);
	printf("id '%s'\n", id);
	bad += expect("read past the end", vblk_read(d, d->sectors - 1, b, 1024), VIRTIO_BLK_S_IOERR);
	bad += expect("unknown request", vblk_request(d, 77, 0, b, 512), VIRTIO_BLK_S_UNSUPP);
	bad += expect("odd length", vblk_read(d, 0, b, 100), VIRTIO_BLK_S_IOERR);
	return bad ? 1 : 0;
}

/* ro DISK: reads work, every change fails with IOERR. */
static int ro(int argc, char **argv)
{
	(void)argc;
	struct vblk *d = open_disk(argv[2]);
	uint8_t *b = alloc(4096);
	int bad = !d->ro;
	if (bad)
		printf("the device does not say it is read-only\n");
	bad += expect("read", vblk_read(d, 0, b, 4096), 0);
	bad += expect("write", vblk_write(d, 0, b, 4096), VIRTIO_BLK_S_IOERR);
	bad += expect("write zeroes", vblk_write_zeroes(d, 0, 8), VIRTIO_BLK_S_IOERR);
	bad += expect("discard", vblk_discard(d, 0, 8), VIRTIO_BLK_S_IOERR);
	bad += expect("flush", vblk_flush(d), 0);
	printf("read-only: %s\n", bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}

/* flushes DISK: generation g fills the first 64 KiB with g, flushes, says so; forever. */
static int flushes(int argc, char **argv)
{
	(void)argc;
	struct vblk *d = open_disk(argv[2]);
	uint64_t *b = alloc(65536);
	for (uint64_t g = 1;; g++) {
		for (int i = 0; i < 8192; i++)
			b[i] = g;
		if (vblk_write(d, 0, b, 65536) || vblk_flush(d))
			return 1;
		printf("flushed %lu\n", (unsigned long)g);
	}
}

/* notify DISK N: N queue notifications, the cycles each cost (also a result record: ops N, cycles). */
static int notify(int argc, char **argv)
{
	(void)argc;
	struct vblk *d = open_disk(argv[2]);
	uint64_t n = strtou64(argv[3], 0), t = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		mmio_write32(d->regs + 0x50, 0);
	t = rdtsc() - t;
	struct beyond_io_result r = { .ops = n, .cycles = t, .notifies = n };
	struct beyond_hc_result a = { .type = BEYOND_RESULT_IO, .len = sizeof(r), .buf = (uintptr_t)&r };
	hypercall(BEYOND_HC_RESULT, &a);
	printf("%lu notifications: %lu ns each\n", (unsigned long)n,
	       (unsigned long)(n && boot_info.tsc_hz ? t * 1000000000ull / boot_info.tsc_hz / n : 0));
	return 0;
}

static int bk_submit(void *ctx, int write, uint64_t off, void *buf, uint32_t len, uint64_t tag)
{
	return vblk_submit(ctx, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, off / 512, buf, len, tag);
}
static void bk_kick(void *ctx) { vblk_kick(ctx); }
static int bk_complete(void *ctx, uint64_t *tag) { return vblk_complete(ctx, tag); }

/*
 * bench SPAN MS SEED RUN...: each RUN is DISK[/SEG]:seq|rand:r|w:BLOCK:DEPTH, run
 * for MS milliseconds over the first SPAN bytes; one result record each.
 */
static int bench(int argc, char **argv)
{
	struct vblk *disks[BEYOND_VIRTIO_SLOTS] = { 0 };
	uint64_t span = strtou64(argv[2], 0), ms = strtou64(argv[3], 0), seed = strtou64(argv[4], 0);
	uint8_t *bufs = NULL;
	uint64_t buf_size = 0;
	for (int i = 5; i < argc; i++) {
		const char *s = argv[i], *e;
		struct io_plan p = { .span = span, .cycles = boot_info.tsc_hz / 1000 * ms, .seed = seed };
		p.disk = (uint32_t)strtou64(s, &e);
		const char *seg = e;
		while (*e == '/' || (*e >= '0' && *e <= '9'))
			e++;
		if (*e++ != ':' || p.disk >= BEYOND_VIRTIO_SLOTS)
			goto bad;
		p.pattern = e[0] == 'r' ? IO_RAND : IO_SEQ;
		e += p.pattern == IO_RAND ? 4 : 3;
		if (*e++ != ':' || (*e != 'r' && *e != 'w') || e[1] != ':')
			goto bad;
		p.write = *e == 'w';
		p.block = (uint32_t)strtou64(e + 2, &e);
		if (*e++ != ':')
			goto bad;
		p.depth = (uint32_t)strtou64(e, &e);
		if (*e || p.block == 0 || p.block % 512 || p.block > 8 * CHUNK || span < p.block || p.depth == 0 ||
		    p.depth > IO_MAX_DEPTH)
			goto bad;
		if ((uint64_t)p.block * p.depth > buf_size) {
			buf_size = (uint64_t)p.block * p.depth;
			bufs = alloc(buf_size);
			for (uint64_t k = 0; k < buf_size; k += 8) /* incompressible, distinct data */
				*(uint64_t *)(bufs + k) = (k + 1) * 0x9e3779b97f4a7c15ull;
		}
		p.bufs = bufs;
		if (!disks[p.disk])
			disks[p.disk] = open_disk(s);
		set_segments(disks[p.disk], seg);
		struct io_backend b = { bk_submit, bk_kick, bk_complete, disks[p.disk] };
		struct beyond_io_result r;
		uint64_t before = disks[p.disk]->notifies;
		io_run(&p, &b, &r);
		r.notifies = disks[p.disk]->notifies - before;
		struct beyond_hc_result a = { .type = BEYOND_RESULT_IO, .len = sizeof(r), .buf = (uintptr_t)&r };
		hypercall(BEYOND_HC_RESULT, &a);
	}
	return 0;
bad:
	printf("disk bench: bad run '%s' (DISK[/SEG]:seq|rand:r|w:BLOCK:DEPTH, depth 1..%u)\n", argv[argc - 1], IO_MAX_DEPTH);
	return 2;
}

static int info(void)
{
	unsigned n = vblk_count();
	for (unsigned i = 0; i < n; i++) {
		struct vblk *d = alloc(sizeof(*d));
		char id[VIRTIO_BLK_ID_BYTES + 1];
		if (vblk_open(d, i, alloc(VBLK_MEM_SIZE)) || vblk_get_id(d, id))
			return 1;
		printf("disk %u: %lu sectors, block %u, %s, id '%s'\n", i, (unsigned long)d->sectors, d->blk_size,
		       d->ro ? "read-only" : "read-write", id);
	}
	printf("%u disks\n", n);
	return 0;
}

static const struct {
	const char *name;
	int args;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "fill", 4, fill }, { "verify", 4, verify }, { "ops", 3, ops }, { "ro", 3, ro },
	{ "flushes", 3, flushes }, { "notify", 4, notify }, { "bench", 6, bench },
};

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "info") == 0)
		return info();
	for (unsigned i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0 && argc >= commands[i].args)
			return commands[i].fn(argc, argv);
	printf("usage: disk info | fill DISK[/SEG] SEED [BYTES] | verify DISK[/SEG] SEED [BYTES] | ops DISK | ro DISK\n"
	       "       | flushes DISK | notify DISK N | bench SPAN MS SEED DISK[/SEG]:seq|rand:r|w:BLOCK:DEPTH...\n");
	return 2;
}
