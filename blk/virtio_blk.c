/*
 * virtio-blk for guests (virtio 1.x 5.2) on the virtio-mmio transport: one
 * device per `--disk` option, backed by a store volume or a raw file
 * (blk/disk.h). Requests are served by the device's I/O threads straight
 * between the backend and guest memory, several at once (pops and used-ring
 * writes under one lock, the I/O itself outside it), in any order.
 *
 * Notifications: an I/O thread that finds the queue empty polls it for
 * `poll` µs with notifications off (VRING_USED_F_NO_NOTIFY), so a guest
 * keeping requests in flight never pays for one; then it turns them on and
 * sleeps on the eventfd the transport signals. It polls only with a CPU to
 * spare: it keeps off the CPUs the VM's vCPUs are pinned to, and does not
 * poll at all where it would share one (polling there only delays the
 * vCPU it waits for: ~149 µs a request instead of ~40). The guest polls
 * the used ring: there are no interrupts.
 *
 * A thread takes a share of the waiting chains at once (up to BATCH),
 * prefetching their descriptors, tables, headers and status bytes
 * together: the lines the guest just wrote then arrive in parallel rather
 * than one miss after another. Each request takes its tokens from the
 * disk's, the VM's and the VM's group's caps (blk/io_cap.h) before its I/O.
 *
 * A chain the queue refuses (out of RAM, loop, too long) or a request
 * without a header or status byte ends the guest; everything the spec lets
 * a device answer (bad type, sector out of range, data in the wrong
 * direction, writes to a read-only disk, backend errors) gets
 * VIRTIO_BLK_S_IOERR or S_UNSUPP.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include "blk/disk.h"
#include "blk/disk_spec.h"
#include "blk/io_cap.h"
#include "blk/io_stats.h"
#include "blk/store.h"
#include "blk/virtio_blk.h"
#include "hv/error.h"
#include "hv/seccomp.h"
#include "hv/stats.h"
#include "hv/virtio/virtio_mmio.h"
#include "hv/vm.h"

#define SECTOR 512u
#define SIZE_MAX_SEG (4u << 20)
#define MAX_DISCARD_SEG 16u
#define MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per range */

/* Chains an I/O thread takes from the queue at once (prefetched together, served in order). */
#define BATCH 16

struct vblk;

/* One I/O thread: its own counters (no cache line shared per request) and its batch of chains. */
struct vblk_thread {
	struct vblk *b;
	pthread_t id;
	uint64_t poll_ns;              /* idle polling before sleeping: 0 without a spare CPU */
	struct io_stats stats;
	struct virtq_chain batch[BATCH];
};

struct vblk {
	struct virtio_dev dev;
	struct disk_spec spec;
	struct disk *disk;
	struct virtio_blk_config cfg;
	char id[VIRTIO_BLK_ID_BYTES];
	uint64_t capacity;             /* sectors */

	int stop_fd;                   /* eventfd: wakes sleeping I/O threads to park */
	struct vblk_thread *threads[DISK_MAX_THREADS];
	unsigned n_threads;
	pthread_mutex_t qlock;         /* the queue: pops, pushes, the fields below */
	pthread_cond_t state_changed;  /* running, exiting or parked changed */
	unsigned awake, in_service, parked;
	int running;                   /* DRIVER_OK: the threads serve the queue */
	int stopping;                  /* the threads park (reset) ... */
	int exiting;                   /* ... or end (teardown) */

	struct io_cap cap;             /* the disk's own (iops=, bps=) */
	struct io_cap *caps[IO_CAP_LEVELS]; /* what a request takes from: disk, VM, group */
	uint64_t wakeups;              /* sleeps ended by a notification */
	uint64_t batches;              /* times a thread took chains from the queue */
};

struct vblk_vm {
	unsigned n;
	struct vblk *disks[BEYOND_VIRTIO_SLOTS];
	struct io_cap cap;             /* over all its disks (--io-iops, --io-bps) */
	const char *group;             /* the VM's group, if its section set I/O caps */
};

static const struct module virtio_blk_module;

/* --- a request ------------------------------------------------------------- */

/* Where a chain's bytes lie: the device-readable part, then the device-writable part. */
struct stream {
	const struct virtq_seg *seg;
	unsigned n;
	uint64_t len;
};

/* Splits c into its readable and writable streams (virtq_pop() ordered them). */
static void split(const struct virtq_chain *c, struct stream *r, struct stream *w)
{
	unsigned i = 0;
	*r = (struct stream){ c->seg, 0, 0 };
	while (i < c->n && !c->seg[i].writable)
		r->len += c->seg[i++].len;
	r->n = i;
	*w = (struct stream){ c->seg + i, c->n - i, 0 };
	for (; i < c->n; i++)
		w->len += c->seg[i].len;
}

/* The pieces of [skip, skip + len) of stream s, in order, as iovecs (at most s->n); returns how many. */
static int to_iov(const struct stream *s, uint64_t skip, uint64_t len, struct iovec *iov)
{
	int k = 0;
	for (unsigned i = 0; i < s->n && len > 0; i++) {
		uint64_t sl = s->seg[i].len;
		if (skip >= sl) {
			skip -= sl;
			continue;
		}
		uint64_t n = sl - skip < len ? sl - skip : len;
		iov[k++] = (struct iovec){ s->seg[i].p + skip, n };
		len -= n, skip = 0;
	}
	return k;
}

/* Copies [skip, skip + len) of s to dst (the header, discard ranges): the guest cannot change the copy. */
static void gather(const struct stream *s, uint64_t skip, void *dst, uint64_t len)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint8_t *cursor = dst;
	for (int i = 0, n = to_iov(s, skip, len, iov); i < n; cursor += iov[i++].iov_len)
		memcpy(cursor, iov[i].iov_base, iov[i].iov_len);
}

/* Whether [sector, sector + count) lies on the disk, without overflow. */
static int in_range(const struct vblk *b, uint64_t sector, uint64_t count)
{
	return sector <= b->capacity && count <= b->capacity - sector;
}

/* DISCARD / WRITE_ZEROES: up to MAX_DISCARD_SEG ranges after the header. */
static uint8_t zero_ranges(struct vblk *b, const struct stream *r, int discard, uint64_t *bytes)
{
	struct virtio_blk_discard_write_zeroes seg[MAX_DISCARD_SEG];
	uint64_t len = r->len - sizeof(struct virtio_blk_outhdr);
	if (len == 0 || len % sizeof(seg[0]) || len / sizeof(seg[0]) > MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	unsigned n = len / sizeof(seg[0]);
	gather(r, sizeof(struct virtio_blk_outhdr), seg, len);
	for (unsigned i = 0; i < n; i++) {
		/* Discard has no flags; WRITE_ZEROES may ask to unmap, which is what it does anyway. */
		if (seg[i].flags & ~(discard ? 0u : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return VIRTIO_BLK_S_UNSUPP;
		if (seg[i].num_sectors > MAX_DISCARD_SECTORS || !in_range(b, seg[i].sector, seg[i].num_sectors))
			return VIRTIO_BLK_S_IOERR;
	}
	if (b->spec.ro)
		return VIRTIO_BLK_S_IOERR;
	for (unsigned i = 0; i < n; i++) {
		if (disk_zero(b->disk, seg[i].sector * SECTOR, (uint64_t)seg[i].num_sectors * SECTOR) < 0)
			return VIRTIO_BLK_S_IOERR;
		*bytes += (uint64_t)seg[i].num_sectors * SECTOR;
	}
	return VIRTIO_BLK_S_OK;
}

static enum io_kind kind_of(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN: return IOK_READ;
	case VIRTIO_BLK_T_OUT: return IOK_WRITE;
	case VIRTIO_BLK_T_FLUSH: return IOK_FLUSH;
	case VIRTIO_BLK_T_DISCARD: return IOK_DISCARD;
	case VIRTIO_BLK_T_WRITE_ZEROES: return IOK_ZEROES;
	default: return IOK_OTHER;
	}
}

/*
 * Serves one request; returns the bytes written into the chain (for the used
 * ring), or -1 after ending the guest for a request it cannot answer. *clock
 * is when it starts (io_now_ns()) and becomes when it ended: one clock read
 * a request.
 */
static int64_t serve(struct vblk *b, struct io_stats *stats, const struct virtq_chain *c, uint64_t depth,
		     uint64_t *clock)
{
	struct stream r, w;
	struct virtio_blk_outhdr h;
	split(c, &r, &w);
	if (r.len < sizeof(h) || w.len < 1) {
		vm_end(b->dev.vm, VM_STATUS_ABNORMAL, "virtio-blk %s: request %u without %s", disk_name(b->disk),
		       c->head, r.len < sizeof(h) ? "a 16-byte header" : "a status byte");
		return -1;
	}
	gather(&r, 0, &h, sizeof(h));
	uint64_t bytes = 0;
	io_stats_start(stats, depth);
	uint64_t in = r.len - sizeof(h), out = w.len - 1; /* data the guest gave, room it gave */
	uint8_t st = VIRTIO_BLK_S_IOERR;
	uint32_t written = 1;
	struct iovec iov[VIRTQ_MAX_SIZE];
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (in == 0 && out % SECTOR == 0 && in_range(b, h.sector, out / SECTOR)) {
			io_cap_take(b->caps, IO_CAP_LEVELS, out, b->stop_fd);
			if (disk_readv(b->disk, iov, to_iov(&w, 0, out, iov), h.sector * SECTOR) == 0)
				st = VIRTIO_BLK_S_OK, bytes = out, written += out;
		}
		break;
	case VIRTIO_BLK_T_OUT:
		if (out == 0 && in % SECTOR == 0 && in_range(b, h.sector, in / SECTOR) && !b->spec.ro) {
			io_cap_take(b->caps, IO_CAP_LEVELS, in, b->stop_fd);
			if (disk_writev(b->disk, iov, to_iov(&r, sizeof(h), in, iov), h.sector * SECTOR) == 0)
				st = VIRTIO_BLK_S_OK, bytes = in;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		io_cap_take(b->caps, IO_CAP_LEVELS, 0, b->stop_fd);
		if (disk_flush(b->disk) == 0)
			st = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (in == 0 && out > 0) {
			uint64_t n = out < sizeof(b->id) ? out : sizeof(b->id);
			const uint8_t *src = (const uint8_t *)b->id;
			for (unsigned i = 0; i < w.n && n > 0; i++) { /* scatter the ID over the room given */
				uint64_t k = w.seg[i].len < n ? w.seg[i].len : n;
				memcpy(w.seg[i].p, src, k);
				src += k, n -= k, written += k;
			}
			st = VIRTIO_BLK_S_OK;
		}
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (out == 0) {
			io_cap_take(b->caps, IO_CAP_LEVELS, 0, b->stop_fd);
			st = zero_ranges(b, &r, h.type == VIRTIO_BLK_T_DISCARD, &bytes);
		}
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
	}
	const struct virtq_seg *last = &w.seg[w.n - 1];
	last->p[last->len - 1] = st;
	*clock = io_stats_done(stats, kind_of(h.type), bytes, st == VIRTIO_BLK_S_OK, *clock);
	return written;
}

/* --- the I/O threads ----------------------------------------------------------- */

/* Ends the guest for a chain the queue refused, and stops serving it. Called with qlock held. */
static void refuse(struct vblk *b, const char *why)
{
	b->stopping = 1;
	vm_end(b->dev.vm, VM_STATUS_ABNORMAL, "virtio-blk %s: %s", disk_name(b->disk), why);
}

/* Sleeps until a notification or the stop; qlock is dropped meanwhile. */
static void sleep_on_queue(struct vblk *b)
{
	struct pollfd p[2] = { { b->dev.notify_fd, POLLIN, 0 }, { b->stop_fd, POLLIN, 0 } };
	uint64_t n;
	pthread_mutex_unlock(&b->qlock);
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (read(b->dev.notify_fd, &n, sizeof(n)) == sizeof(n))
		__atomic_fetch_add(&b->wakeups, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&b->qlock);
}

/*
 * Takes a share of the waiting chains (the rest is left to the other threads
 * awake), at most a batch, and serves them outside qlock; under qlock.
 * Returns the chains taken, or -1 once the device stops serving.
 */
static int serve_batch(struct vblk_thread *t, unsigned pending)
{
	struct vblk *b = t->b;
	struct virtq *q = &b->dev.vq[0];
	char why[256];
	unsigned n = (pending + b->awake - 1) / b->awake, got = 0;
	n = n < BATCH ? n : BATCH;
	virtq_prefetch(q, n);
	for (int r; got < n; got++)
		if ((r = virtq_pop(q, &t->batch[got], why, sizeof(why))) <= 0) {
			if (r < 0) {
				refuse(b, why);
				return -1;
			}
			break;
		}
	b->in_service += got;
	b->batches++;
	uint64_t depth = b->in_service + (pending - got), one = 1;
	/* More waiting and a thread asleep: wake it to take them (a hint; losing it costs time only). */
	ssize_t hinted = pending > got && b->awake < b->n_threads ? write(b->dev.notify_fd, &one, sizeof(one)) : 0;
	(void)hinted;
	pthread_mutex_unlock(&b->qlock);
	/* The headers and status bytes the guest wrote last, fetched together. */
	for (unsigned i = 0; i < got; i++) {
		const struct virtq_chain *c = &t->batch[i];
		__builtin_prefetch(c->seg[0].p);
		__builtin_prefetch(c->seg[c->n - 1].p + c->seg[c->n - 1].len - 1, 1);
	}
	uint64_t clock = io_now_ns();
	for (unsigned i = 0; i < got; i++) {
		int64_t len = serve(b, &t->stats, &t->batch[i], depth, &clock);
		pthread_mutex_lock(&b->qlock);
		b->in_service--;
		if (len < 0) {
			b->in_service -= got - 1 - i; /* the rest is dropped with the guest */
			b->stopping = 1;
			return -1;
		}
		virtq_push(q, t->batch[i].head, (uint32_t)len);
		if (i + 1 < got)
			pthread_mutex_unlock(&b->qlock);
	}
	return (int)got;
}

/* Serves the queue until the device stops; under qlock. */
static void serve_queue(struct vblk_thread *t)
{
	struct vblk *b = t->b;
	struct virtq *q = &b->dev.vq[0];
	char why[256];
	uint64_t idle_since = 0;
	while (!b->stopping) {
		int pending = virtq_pending(q, why, sizeof(why));
		if (pending < 0) {
			refuse(b, why);
			break;
		}
		if (pending > 0) {
			if (serve_batch(t, (unsigned)pending) < 0)
				break;
			idle_since = 0;
			continue;
		}
		uint64_t now = io_now_ns();
		if (!idle_since)
			idle_since = now;
		if (now - idle_since < t->poll_ns) {
			pthread_mutex_unlock(&b->qlock);
			for (int i = 0; i < 64; i++)
				__builtin_ia32_pause();
			pthread_mutex_lock(&b->qlock);
			continue;
		}
		/* Turn notifications on when the last thread goes to sleep, then look once more. */
		if (--b->awake == 0)
			virtq_set_notify(q, 1);
		if (virtq_pending(q, why, sizeof(why)) == 0)
			sleep_on_queue(b);
		if (b->awake++ == 0)
			virtq_set_notify(q, 0);
		idle_since = 0;
	}
}

/*
 * Keeps an I/O thread off the CPUs the VM's vCPUs are pinned to (a polling
 * thread on a vCPU's CPU only takes its time). Returns whether a CPU is to
 * spare for it: if not, it must not poll.
 */
static int place_thread(const struct vm *vm)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	unsigned all = (unsigned)CPU_COUNT(&set);
	if (!vm->cfg.pin)
		return all > vm->cfg.vcpus;
	for (unsigned i = 0; i < vm->cfg.vcpus; i++)
		CPU_CLR(vm->cfg.pin_cpu + i, &set);
	return CPU_COUNT(&set) > 0 && sched_setaffinity(0, sizeof(set), &set) == 0;
}

/*
 * An I/O thread lives as long as the device: started at set-up (so that it
 * is made before any thread arms its system call filter, and arms its own),
 * parked until the driver sets DRIVER_OK and again after a reset.
 */
static void *io_thread(void *arg)
{
	struct vblk_thread *t = arg;
	struct vblk *b = t->b;
	if (!place_thread(b->dev.vm))
		t->poll_ns = 0;
	if (b->dev.vm->cfg.seccomp && seccomp_enter(SECCOMP_IO))
		vm_end(b->dev.vm, VM_STATUS_ABNORMAL, "virtio-blk: cannot arm seccomp: %s", strerror(errno));
	pthread_mutex_lock(&b->qlock);
	while (!b->exiting) {
		b->parked++;
		pthread_cond_broadcast(&b->state_changed);
		while (!b->running && !b->exiting)
			pthread_cond_wait(&b->state_changed, &b->qlock);
		b->parked--;
		if (!b->exiting)
			serve_queue(t);
		/* Parked threads wait out the reset; the queue is not theirs to touch. */
		while (b->running && !b->exiting)
			pthread_cond_wait(&b->state_changed, &b->qlock);
	}
	pthread_mutex_unlock(&b->qlock);
	return NULL;
}

/* Makes every I/O thread leave the queue: park them (reset) or end them (exit); under qlock. */
static void halt_threads(struct vblk *b, int exit)
{
	uint64_t one = 1;
	b->stopping = 1;
	b->running = 0;
	b->exiting |= exit;
	pthread_cond_broadcast(&b->state_changed);
	if (write(b->stop_fd, &one, sizeof(one)) < 0)
		blk_err("virtio-blk: cannot stop the I/O threads: %s", strerror(errno));
}

/* DRIVER_OK: the parked I/O threads start, notifications off while they poll. */
static int vblk_start(struct virtio_dev *d, char *why, size_t whylen)
{
	struct vblk *b = d->opaque;
	uint64_t n;
	if (read(b->stop_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return error_set(why, whylen, "stop eventfd: %s", strerror(errno));
	pthread_mutex_lock(&b->qlock);
	b->stopping = 0;
	b->running = 1;
	b->awake = b->n_threads;
	virtq_set_notify(&d->vq[0], 0);
	pthread_cond_broadcast(&b->state_changed);
	pthread_mutex_unlock(&b->qlock);
	return 0;
}

/* A reset: returns once every I/O thread has left the queue. */
static void vblk_stop(struct virtio_dev *d)
{
	struct vblk *b = d->opaque;
	pthread_mutex_lock(&b->qlock);
	halt_threads(b, 0);
	while (b->parked < b->n_threads && !b->exiting) /* at teardown they have ended already */
		pthread_cond_wait(&b->state_changed, &b->qlock);
	pthread_mutex_unlock(&b->qlock);
}

static const struct virtio_dev_ops vblk_ops = {
	.device_id = VIRTIO_ID_BLOCK, .start = vblk_start, .stop = vblk_stop,
};

/* --- the module ----------------------------------------------------------------- */

static void vblk_free(struct vblk *b)
{
	if (b->n_threads) {
		pthread_mutex_lock(&b->qlock);
		halt_threads(b, 1);
		pthread_mutex_unlock(&b->qlock);
		for (unsigned i = 0; i < b->n_threads; i++)
			pthread_join(b->threads[i]->id, NULL);
	}
	for (unsigned i = 0; i < DISK_MAX_THREADS; i++)
		free(b->threads[i]);
	if (b->dev.vm)
		virtio_mmio_remove(&b->dev);
	if (b->disk && disk_close(b->disk) < 0)
		blk_err("virtio-blk: closing %s lost data", b->spec.vol ? b->spec.vol : b->spec.file);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	io_cap_destroy(&b->cap);
	pthread_cond_destroy(&b->state_changed);
	pthread_mutex_destroy(&b->qlock);
	free(b);
}

static void fill_config(struct vblk *b)
{
	uint64_t size = disk_size(b->disk);
	b->capacity = size / SECTOR;
	b->cfg = (struct virtio_blk_config){
		.capacity = b->capacity,
		.size_max = SIZE_MAX_SEG,
		.seg_max = VIRTQ_MAX_SIZE - 2,
		.blk_size = disk_block_size(b->disk),
		.max_discard_sectors = MAX_DISCARD_SECTORS,
		.max_discard_seg = MAX_DISCARD_SEG,
		.discard_sector_alignment = disk_block_size(b->disk) / SECTOR,
		.max_write_zeroes_sectors = MAX_DISCARD_SECTORS,
		.max_write_zeroes_seg = MAX_DISCARD_SEG,
		.write_zeroes_may_unmap = 1,
	};
	/* GET_ID: up to 20 bytes, NUL-padded when shorter. */
	const char *id = b->spec.id ? b->spec.id : disk_name(b->disk);
	memcpy(b->id, id, strnlen(id, sizeof(b->id)));
	b->dev.features = 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_BLK_SIZE |
			  1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_SIZE_MAX |
			  1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES |
			  1ull << VIRTIO_RING_F_INDIRECT_DESC | (b->spec.ro ? 1ull << VIRTIO_BLK_F_RO : 0);
	b->dev.config = &b->cfg;
	b->dev.config_len = sizeof(b->cfg);
}

static int add_disk(struct vm *vm, struct vblk_vm *vv, const char *value, char *err, size_t errlen)
{
	char why[512];
	struct vblk *b = calloc(1, sizeof(*b));
	if (!b)
		return error_set(err, errlen, "virtio-blk: out of memory");
	b->stop_fd = -1;
	pthread_mutex_init(&b->qlock, NULL);
	pthread_cond_init(&b->state_changed, NULL);
	io_cap_init(&b->cap, 0, 0);
	vv->disks[vv->n++] = b;
	if (disk_spec_parse(value, &b->spec, why, sizeof(why)) || disk_spec_open(&b->spec, &b->disk, why, sizeof(why)))
		return error_set(err, errlen, "--disk %s: %s", value, why);
	b->spec.ro |= disk_readonly(b->disk);
	if (disk_size(b->disk) % SECTOR)
		return error_set(err, errlen, "--disk %s: size %llu is not a multiple of %u", value,
				 (unsigned long long)disk_size(b->disk), SECTOR);
	io_cap_init(&b->cap, (double)b->spec.iops, (double)b->spec.bps);
	b->caps[0] = &b->cap;
	b->caps[1] = &vv->cap;
	b->caps[2] = io_cap_group(vv->group);
	b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->stop_fd < 0)
		return error_set(err, errlen, "virtio-blk: eventfd: %s", strerror(errno));
	fill_config(b);
	b->dev.ops = &vblk_ops;
	b->dev.opaque = b;
	b->dev.no_ioeventfd = b->spec.no_ioeventfd;
	if (virtio_mmio_add(vm, &b->dev, err, errlen))
		return -1;
	for (; b->n_threads < b->spec.threads; b->n_threads++) {
		struct vblk_thread *t = calloc(1, sizeof(*t));
		if (!t)
			return error_set(err, errlen, "virtio-blk: out of memory");
		b->threads[b->n_threads] = t;
		t->b = b;
		t->poll_ns = b->spec.poll_us * 1000ull;
		if (pthread_create(&t->id, NULL, io_thread, t) != 0)
			return error_set(err, errlen, "virtio-blk: cannot start an I/O thread");
	}
	return 0;
}

static int vblk_setup(struct vm *vm, char *err, size_t errlen)
{
	if (!vm_option(vm, "disk", 0))
		return 0;
	struct vblk_vm *vv = calloc(1, sizeof(*vv));
	if (!vv)
		return error_set(err, errlen, "virtio-blk: out of memory");
	*vm_module_data(vm, &virtio_blk_module) = vv;
	const char *value;
	double iops = 0, bps = 0;
	for (unsigned i = 0; (value = vm_option(vm, "io-iops", i)); i++)
		if (io_cap_parse("io-iops", value, &iops, err, errlen))
			return -1;
	for (unsigned i = 0; (value = vm_option(vm, "io-bps", i)); i++)
		if (io_cap_parse("io-bps", value, &bps, err, errlen))
			return -1;
	io_cap_init(&vv->cap, iops, bps);
	if ((value = vm_last_option(vm, "group", NULL)) && io_cap_group(value))
		vv->group = value;
	for (unsigned i = 0; (value = vm_option(vm, "disk", i)); i++) {
		if (vv->n == BEYOND_VIRTIO_SLOTS)
			return error_set(err, errlen, "more than %u disks", BEYOND_VIRTIO_SLOTS);
		if (add_disk(vm, vv, value, err, errlen))
			return -1;
	}
	return 0;
}

static void vblk_teardown(struct vm *vm)
{
	struct vblk_vm **vv = (struct vblk_vm **)vm_module_data(vm, &virtio_blk_module);
	if (!*vv)
		return;
	for (unsigned i = 0; i < (*vv)->n; i++)
		vblk_free((*vv)->disks[i]);
	io_cap_destroy(&(*vv)->cap);
	free(*vv);
	*vv = NULL;
}

int virtio_blk_ioeventfd(struct vm *vm)
{
	struct vblk_vm *vv = *vm_module_data(vm, &virtio_blk_module);
	return vv && vv->n ? vv->disks[0]->dev.ioeventfd : -1;
}

static void cap_stats(struct stats_out *o, const char *name, struct io_cap *c)
{
	if (c->iops <= 0 && c->bps <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	stats_group(o, name);
	stats_num(o, "iops", c->iops);
	stats_num(o, "bps", c->bps);
	stats_u64(o, "waits", c->waits);
	stats_num(o, "wait_s", c->waited_ns * 1e-9);
	stats_end(o);
	pthread_mutex_unlock(&c->lock);
}

static void vblk_stats(struct vm *vm, struct stats_out *o)
{
	struct vblk_vm *vv = *vm_module_data(vm, &virtio_blk_module);
	struct io_stats total = { 0 };
	for (unsigned i = 0; vv && i < vv->n; i++) {
		struct vblk *b = vv->disks[i];
		char name[96];
		snprintf(name, sizeof(name), "disk%u %s", i, disk_name(b->disk));
		struct io_stats disk = { 0 };
		for (unsigned k = 0; k < b->n_threads; k++)
			io_stats_add(&disk, &b->threads[k]->stats);
		stats_group(o, name);
		io_stats_report(&disk, o);
		stats_u64(o, "ioeventfd", (uint64_t)b->dev.ioeventfd);
		stats_u64(o, "wakeups", b->wakeups);
		stats_u64(o, "batches", b->batches);
		stats_u64(o, "poll_us", b->n_threads ? b->threads[0]->poll_ns / 1000 : 0);
		stats_u64(o, "cap_waits", b->cap.waits);
		stats_num(o, "cap_wait_s", b->cap.waited_ns * 1e-9);
		stats_end(o);
		io_stats_add(&total, &disk);
	}
	stats_group(o, "total");
	io_stats_report(&total, o);
	stats_end(o);
	if (vv)
		cap_stats(o, "vm cap", &vv->cap);
	if (vv && vv->group) {
		char name[96];
		snprintf(name, sizeof(name), "group %s cap", vv->group);
		cap_stats(o, name, io_cap_group(vv->group));
	}
}

static int vblk_check(const char *name, const char *value, char *err, size_t errlen)
{
	double v;
	if (strcmp(name, "disk") != 0)
		return io_cap_parse(name, value, &v, err, errlen);
	struct disk_spec *s = malloc(sizeof(*s));
	int r = s ? disk_spec_parse(value, s, err, errlen) : error_set(err, errlen, "out of memory");
	free(s);
	return r;
}

static const struct module_option vblk_options[] = {
	{ "disk", "SPEC", "a virtio-blk disk: store=DIR,vol=NAME or file=PATH [,ro,iops=N,bps=N,id=S,threads=N,poll=US]" },
	{ "io-iops", "N", "I/O requests per second over all the VM's disks (K/M/G)" },
	{ "io-bps", "N", "I/O bytes per second over all the VM's disks (K/M/G)" },
	{ NULL, NULL, NULL },
};

static const struct module virtio_blk_module = {
	.name = "virtio-blk", .options = vblk_options, .check_option = vblk_check,
	.setup = vblk_setup, .teardown = vblk_teardown, .stats = vblk_stats,
};
MODULE_REGISTER(virtio_blk_module);
