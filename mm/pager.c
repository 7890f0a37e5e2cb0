#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "guest-runtime/abi.h"
#include "mm/pagestate.h"
#include "mm/pager.h"
#include "mm/pagetable.h"
#include "mm/range.h"
#include "mm/swap_area.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PAGE 4096ull
#define UNIT_RESIDENT  0x01
#define UNIT_PINNED    0x02
#define UNIT_SWAPPED   0x04 /* its contents are in slot[u] */
#define UNIT_BALLOONED 0x08
#define LAT_SAMPLES 65536   /* latency samples kept per direction (a ring) */
#define PREFETCH_QUEUE 64

struct latencies {
	float us[LAT_SAMPLES];
	uint64_t n;
};

/*
 * The resident budget pagers draw on: a pager's own, or a memory group's
 * (pager_config.group) that several VMs of the process share. Its lock
 * guards every member's state, so that one member's handler may evict
 * another member's units; a group's handlers therefore take turns.
 */
struct pager_pool {
	char name[64];               /* "" for a pager alone */
	pthread_mutex_t lock;
	uint64_t limit;              /* bytes: the sum of the members' limits */
	uint64_t resident, resident_peak; /* bytes, over the members */
	int fifo;                    /* the members choose victims one way */
	uint64_t seq;                /* install order across the members (fifo) */
	struct pager *members, *hand; /* the clock runs through the members in turn */
	unsigned refs;
	struct pager_pool *next;     /* the registry of named pools */
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pager_pool *pools;

struct fifo_entry {
	uint64_t unit, seq;
};

struct pager {
	struct guest_mem *mem;
	struct pager_config cfg;
	struct pager_pool *pool;     /* its lock guards everything below */
	struct pager *next;          /* the pool's next member */
	int uffd, event_fd;
	pthread_t thread;
	int thread_started, stopping;

	uint64_t n_units, resident, pinned, ballooned;
	uint64_t balloon_target;     /* bytes, for the table's header */
	uint8_t *flags;              /* UNIT_* per unit */
	uint32_t *slot;
	uint64_t hand;               /* the clock hand */
	struct fifo_entry *fifo;     /* resident units in install order (a ring of n_units) */
	uint64_t fifo_head, fifo_len;
	uint8_t *states;             /* the guest's page-state entries, or NULL */
	struct beyond_pagestate_header *header;
	struct swap_area swap;
	uint8_t *buf;                /* one unit, read from swap or zero */
	int failed;

	struct { uint64_t first, end; } queue[PREFETCH_QUEUE];
	unsigned queued;

	struct pager_stats st;
	struct latencies lat_in, lat_out;
};

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void lat_add(struct latencies *l, double us)
{
	l->us[l->n++ % LAT_SAMPLES] = (float)us;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static void lat_summary(const struct latencies *l, double *median, double *p99)
{
	uint64_t n = l->n < LAT_SAMPLES ? l->n : LAT_SAMPLES;
	*median = *p99 = 0;
	float *v = n ? malloc(n * sizeof(float)) : NULL;
	if (!v)
		return;
	memcpy(v, l->us, n * sizeof(float));
	qsort(v, n, sizeof(float), cmp_float);
	*median = v[n / 2];
	*p99 = v[n * 99 / 100];
	free(v);
}

static uint8_t *unit_host(struct pager *p, uint64_t u) { return p->mem->base + u * p->cfg.unit; }
static unsigned unit_pages(struct pager *p) { return (unsigned)(p->cfg.unit / PAGE); }
static uint8_t *unit_states(struct pager *p, uint64_t u)
{
	return p->states ? p->states + u * unit_pages(p) : NULL;
}

/* Ends paging for this VM: the guest is ended by the callback; faults from now on get zeros. */
static void fail(struct pager *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct pager *p, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (p->cfg.fail)
		p->cfg.fail(p->cfg.opaque, reason);
}

static int write_protect(struct pager *p, uint64_t u, uint64_t n, int on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)unit_host(p, u), .len = n * p->cfg.unit },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0, /* lifting it wakes writers that waited */
	};
	return ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp);
}

static void wake(struct pager *p, uint64_t u)
{
	struct uffdio_range r = { .start = (uintptr_t)unit_host(p, u), .len = p->cfg.unit };
	ioctl(p->uffd, UFFDIO_WAKE, &r);
}

/*
 * Accessed bits of the guest leaf entries covering unit u: tested and cleared.
 * *span is set to the units the entries cover (more than one when the guest
 * page is larger than the unit).
 */
static int test_and_clear_accessed(struct pager *p, uint64_t u, uint64_t *first, uint64_t *span)
{
	uint64_t leaf, gpa = u * p->cfg.unit;
	uint64_t *e = pt_leaf(p->mem->base, p->mem->size, p->cfg.cr3, gpa, &leaf);
	*first = u;
	*span = 1;
	if (!e)
		return 0;
	if (leaf > p->cfg.unit) {
		*first = (gpa & ~(leaf - 1)) / p->cfg.unit;
		*span = leaf / p->cfg.unit;
	}
	/* Guest 4K pages under a 2M unit: 512 entries, consecutive in one table page. */
	uint64_t n = leaf < p->cfg.unit ? p->cfg.unit / leaf : 1;
	uint64_t seen = 0;
	for (uint64_t i = 0; i < n; i++)
		seen |= __atomic_fetch_and(&e[i], ~PTE_A, __ATOMIC_ACQ_REL);
	return (seen & PTE_A) != 0;
}

/* A failed member's units stay where they are: its VM has ended. */
static int evictable(struct pager *p, uint64_t u)
{
	return !p->failed && (p->flags[u] & (UNIT_RESIDENT | UNIT_PINNED)) == UNIT_RESIDENT;
}

struct victim {
	struct pager *p;
	uint64_t u;
};

/* By install order: the oldest head of the members' queues. 0 if nothing can be evicted. */
static int fifo_victim(struct pager_pool *pool, struct victim *v)
{
	for (;;) {
		struct pager *best = NULL;
		for (struct pager *q = pool->members; q; q = q->next)
			if (q->fifo_len && (!best || q->fifo[q->fifo_head].seq < best->fifo[best->fifo_head].seq))
				best = q;
		if (!best)
			return 0;
		uint64_t u = best->fifo[best->fifo_head].unit;
		best->fifo_head = (best->fifo_head + 1) % best->n_units;
		best->fifo_len--;
		if (evictable(best, u)) {
			*v = (struct victim){ best, u };
			return 1;
		}
	}
}

/* The clock, over the members' units one after the other. 0 if nothing can be evicted. */
static int clock_victim(struct pager_pool *pool, struct victim *v)
{
	uint64_t units = 0;
	for (struct pager *q = pool->members; q; q = q->next)
		units += q->n_units;
	/* Two full turns: the first may only clear bits. */
	for (uint64_t n = 0; n < 2 * units; n++) {
		struct pager *q = pool->hand;
		uint64_t u = q->hand;
		if (++q->hand == q->n_units) {
			q->hand = 0;
			pool->hand = q->next ? q->next : pool->members;
		}
		if (!evictable(q, u))
			continue;
		uint64_t first, span;
		q->st.clock_scanned++;
		if (!test_and_clear_accessed(q, u, &first, &span)) {
			*v = (struct victim){ q, u };
			return 1;
		}
		q->st.clock_referenced++;
		/* Drop KVM's mappings of the whole guest page, so that its next access walks the
		 * guest table and sets the bit again. */
		write_protect(q, first, span, 1);
		write_protect(q, first, span, 0);
	}
	return 0;
}

static void fifo_push(struct pager *p, uint64_t u)
{
	if (p->fifo_len < p->n_units)
		p->fifo[(p->fifo_head + p->fifo_len++) % p->n_units] = (struct fifo_entry){ u, p->pool->seq++ };
}

/* Resident units of p change by delta (1 or -1), in p's and the pool's counts. */
static void resident_add(struct pager *p, int delta)
{
	p->resident += (uint64_t)(int64_t)delta;
	p->pool->resident += (uint64_t)(int64_t)delta * p->cfg.unit;
	if (p->resident * p->cfg.unit > p->st.resident_peak)
		p->st.resident_peak = p->resident * p->cfg.unit;
	if (p->pool->resident > p->pool->resident_peak)
		p->pool->resident_peak = p->pool->resident;
}

static void set_present(struct pager *p, uint64_t u, int present)
{
	if (p->states)
		pagestate_set_present(unit_states(p, u), unit_pages(p), present);
}

/* Writes unit u out (or drops it) and releases its memory. 0, or -1 after fail(). */
static int evict(struct pager *p, uint64_t u)
{
	double t0 = now_us();
	uint8_t *data = unit_host(p, u);
	if (write_protect(p, u, 1, 1) != 0) {
		fail(p, "pager: cannot write-protect guest RAM: %s", strerror(errno));
		return -1;
	}
	struct pagestate_drop d = { 0 };
	int dropped = p->cfg.hints && pagestate_try_drop(unit_states(p, u), data, unit_pages(p), 1, &d);
	if (dropped) {
		p->st.unused_dropped += d.unused * PAGE;
		p->st.volatile_discarded += d.discarded * PAGE;
		p->st.zero_dropped += d.zero * PAGE;
	} else {
		uint32_t s = swap_slot_alloc(&p->swap);
		if (s == SWAP_NO_SLOT) {
			write_protect(p, u, 1, 0);
			fail(p, "swap area full (%lu MiB): raise --swap-size or --mem-limit",
			     (unsigned long)((uint64_t)p->swap.slots * p->cfg.unit >> 20));
			return -1;
		}
		if (swap_write(&p->swap, s, data) != 0) {
			int e = errno;
			swap_slot_free(&p->swap, s);
			write_protect(p, u, 1, 0);
			fail(p, "cannot write to the swap file: %s", strerror(e));
			return -1;
		}
		p->slot[u] = s;
		p->flags[u] |= UNIT_SWAPPED;
		p->st.swap_outs++;
		p->st.swap_out_bytes += p->cfg.unit;
	}
	set_present(p, u, 0);
	madvise(data, p->cfg.unit, MADV_DONTNEED);
	write_protect(p, u, 1, 0);
	p->flags[u] &= ~UNIT_RESIDENT;
	resident_add(p, -1);
	if (!dropped)
		lat_add(&p->lat_out, now_us() - t0);
	return 0;
}

/*
 * Evicts, from any member of p's pool, until `room` more bytes fit under the
 * pool's limit. A member whose eviction fails has ended (its reason is its
 * own); p goes on with the others. 0, or -1 after fail(p).
 */
static int make_room(struct pager *p, uint64_t room)
{
	struct pager_pool *pool = p->pool;
	while (pool->resident + room > pool->limit) {
		struct victim v;
		if (!(pool->fifo ? fifo_victim(pool, &v) : clock_victim(pool, &v))) {
			fail(p, "%s %lu MiB is too small: every resident unit is pinned",
			     *pool->name ? "the memory group's limit" : "--mem-limit", (unsigned long)(pool->limit >> 20));
			return -1;
		}
		if (v.p != p)
			v.p->st.evicted_for_group++;
		if (evict(v.p, v.u) && v.p == p)
			return -1;
	}
	return 0;
}

/* Brings unit u in (from swap, or zeros) with one UFFDIO_COPY, which wakes its faulting threads. */
static int install(struct pager *p, uint64_t u)
{
	int from_swap = !p->failed && (p->flags[u] & UNIT_SWAPPED);
	if (!p->failed && make_room(p, p->cfg.unit))
		from_swap = 0;
	double t0 = now_us();
	if (from_swap) {
		if (swap_read(&p->swap, p->slot[u], p->buf) != 0) {
			fail(p, "cannot read the swap file: %s", strerror(errno));
			from_swap = 0;
		}
	}
	if (!from_swap)
		memset(p->buf, 0, p->cfg.unit);
	/* A 2 MiB unit on THP is filled as 4K pages and collapsed before the faulting thread runs
	 * on: a guest access during the collapse holds a page reference that makes it fail. */
	int collapse = p->cfg.unit > PAGE && p->mem->host_pages == HOST_THP;
	struct uffdio_copy c = { .dst = (uintptr_t)unit_host(p, u), .src = (uintptr_t)p->buf, .len = p->cfg.unit,
				 .mode = collapse ? UFFDIO_COPY_MODE_DONTWAKE : 0 };
	if (ioctl(p->uffd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
		fail(p, "pager: UFFDIO_COPY failed: %s", strerror(errno));
		wake(p, u);
		return -1;
	}
	if (p->flags[u] & UNIT_SWAPPED) {
		swap_slot_free(&p->swap, p->slot[u]);
		p->flags[u] &= ~UNIT_SWAPPED;
	}
	if (from_swap) {
		p->st.swap_ins++;
		p->st.swap_in_bytes += p->cfg.unit;
	} else {
		p->st.zero_fills++;
	}
	if (p->flags[u] & UNIT_BALLOONED) {
		p->flags[u] &= ~UNIT_BALLOONED; /* touched while given away: it is back, as zeros */
		p->ballooned--;
	}
	if (collapse) {
		if (madvise(unit_host(p, u), p->cfg.unit, MADV_COLLAPSE) == 0)
			p->st.collapsed++;
		else
			p->st.collapse_failed++;
		wake(p, u);
	}
	p->flags[u] |= UNIT_RESIDENT;
	resident_add(p, 1);
	fifo_push(p, u);
	set_present(p, u, 1);
	if (from_swap)
		lat_add(&p->lat_in, now_us() - t0);
	return 0;
}

static void handle_fault(struct pager *p, const struct uffd_msg *m)
{
	uint64_t addr = m->arg.pagefault.address;
	uint64_t base = (uintptr_t)p->mem->base;
	if (m->event != UFFD_EVENT_PAGEFAULT || addr < base || addr - base >= p->mem->size)
		return;
	uint64_t u = (addr - base) / p->cfg.unit;
	/* A write that waited on an eviction's write protection. */
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		wake(p, u);
		return;
	}
	/* A hole in a unit that was only partly resident when paging began: a zero page. */
	if (p->flags[u] & UNIT_RESIDENT) {
		static const uint8_t zero[PAGE] __attribute__((aligned(PAGE)));
		struct uffdio_copy c = { .dst = addr & ~(PAGE - 1), .src = (uintptr_t)zero, .len = PAGE };
		if (ioctl(p->uffd, UFFDIO_COPY, &c) != 0)
			wake(p, u); /* EEXIST: another thread's fault filled it already */
		return;
	}
	p->st.faults++;
	install(p, u);
}

/* One queued prefetch unit that is not resident; 0 when the queue is empty. */
static int prefetch_one(struct pager *p)
{
	while (p->queued) {
		uint64_t u = p->queue[0].first++;
		if (p->queue[0].first >= p->queue[0].end)
			memmove(p->queue, p->queue + 1, --p->queued * sizeof(p->queue[0]));
		if (!(p->flags[u] & (UNIT_RESIDENT | UNIT_BALLOONED)) && !p->failed) {
			if ((p->flags[u] & UNIT_SWAPPED) && install(p, u) == 0)
				p->st.prefetched++;
			return 1;
		}
	}
	return 0;
}

static void *handler(void *arg)
{
	struct pager *p = arg;
	struct uffd_msg msgs[16];
	if (p->cfg.thread_start)
		p->cfg.thread_start(p->cfg.opaque);
	for (;;) {
		pthread_mutex_lock(&p->pool->lock);
		int busy = p->queued > 0, stop = p->stopping;
		pthread_mutex_unlock(&p->pool->lock);
		if (stop)
			break;
		struct pollfd fds[2] = { { .fd = p->uffd, .events = POLLIN }, { .fd = p->event_fd, .events = POLLIN } };
		if (poll(fds, 2, busy ? 0 : -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & POLLIN) {
			uint64_t v;
			if (read(p->event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
		ssize_t n = (fds[0].revents & POLLIN) ? read(p->uffd, msgs, sizeof(msgs)) : 0;
		pthread_mutex_lock(&p->pool->lock);
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			handle_fault(p, &msgs[i]);
		/* Faults first: prefetch only while no guest access waits. */
		if (n <= 0)
			prefetch_one(p);
		pthread_mutex_unlock(&p->pool->lock);
	}
	return NULL;
}

static void kick(struct pager *p)
{
	uint64_t one = 1;
	if (write(p->event_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the handler is awake anyway */
	}
}

/* Units that are resident now (the image, the tables the monitor wrote), by mincore(); under the pool's lock. */
static int find_resident(struct pager *p)
{
	uint64_t pages = p->mem->size / PAGE;
	unsigned char *vec = malloc(pages);
	if (!vec || mincore(p->mem->base, p->mem->size, vec) != 0) {
		free(vec);
		return -1;
	}
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t u = i * PAGE / p->cfg.unit;
		if ((vec[i] & 1) && !(p->flags[u] & UNIT_RESIDENT)) {
			p->flags[u] |= UNIT_RESIDENT;
			resident_add(p, 1);
			fifo_push(p, u);
		}
	}
	free(vec);
	return 0;
}

static int open_uffd(struct pager *p, char *err, size_t errlen)
{
	p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p->uffd < 0)
		return snprintf(err, errlen, "userfaultfd: %s (the pager needs root or vm.unprivileged_userfaultfd=1)",
				strerror(errno)), -1;
	struct uffdio_api api = { .api = UFFD_API };
	if (p->mem->host_pages == HOST_HUGETLB2M)
		api.features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	if (ioctl(p->uffd, UFFDIO_API, &api) != 0)
		return snprintf(err, errlen, "UFFDIO_API: %s", strerror(errno)), -1;
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)p->mem->base, .len = p->mem->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(p->uffd, UFFDIO_REGISTER, &r) != 0)
		return snprintf(err, errlen, "cannot register guest RAM with userfaultfd: %s", strerror(errno)), -1;
	return 0;
}

/* p joins its pool (a new one, or its group's) with its limit and what is resident now. */
static int pool_join(struct pager *p, char *err, size_t errlen)
{
	const char *name = p->cfg.group ? p->cfg.group : "";
	struct pager_pool *pool = NULL;
	if (strlen(name) >= sizeof(pool->name))
		return snprintf(err, errlen, "memory group name '%s' is too long", name), -1;
	pthread_mutex_lock(&pools_lock);
	for (pool = *name ? pools : NULL; pool && strcmp(pool->name, name); pool = pool->next)
		;
	if (pool && pool->fifo != p->cfg.fifo) {
		pthread_mutex_unlock(&pools_lock);
		return snprintf(err, errlen, "the members of memory group %s must all use one --pager-victim", name), -1;
	}
	if (!pool && (pool = calloc(1, sizeof(*pool)))) {
		snprintf(pool->name, sizeof(pool->name), "%s", name);
		pthread_mutex_init(&pool->lock, NULL);
		pool->fifo = p->cfg.fifo;
		if (*name) {
			pool->next = pools;
			pools = pool;
		}
	}
	if (pool)
		pool->refs++;
	pthread_mutex_unlock(&pools_lock);
	if (!pool)
		return snprintf(err, errlen, "out of memory"), -1;
	pthread_mutex_lock(&pool->lock);
	p->pool = pool;
	p->next = pool->members;
	pool->members = p;
	if (!pool->hand)
		pool->hand = p;
	pool->limit += p->cfg.limit;
	int r = find_resident(p);
	pthread_mutex_unlock(&pool->lock);
	return r ? snprintf(err, errlen, "mincore on guest RAM: %s", strerror(errno)), -1 : 0;
}

/* p leaves its pool, taking its limit and its resident units along; the last member frees it. */
static void pool_leave(struct pager *p)
{
	struct pager_pool *pool = p->pool;
	pthread_mutex_lock(&pool->lock);
	for (struct pager **q = &pool->members; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	if (pool->hand == p)
		pool->hand = p->next ? p->next : pool->members;
	pool->limit -= p->cfg.limit;
	pool->resident -= p->resident * p->cfg.unit;
	pthread_mutex_unlock(&pool->lock);
	pthread_mutex_lock(&pools_lock);
	if (--pool->refs == 0) {
		for (struct pager_pool **q = &pools; *q; q = &(*q)->next)
			if (*q == pool) {
				*q = pool->next;
				break;
			}
		pthread_mutex_destroy(&pool->lock);
		free(pool);
	}
	pthread_mutex_unlock(&pools_lock);
}

int pager_start(struct pager **pp, struct guest_mem *m, const struct pager_config *c, char *err,
		size_t errlen)
{
	*pp = NULL;
	if (c->unit != PAGE && c->unit != PT_2M)
		return snprintf(err, errlen, "the swap unit must be 4k or 2m"), -1;
	if (m->host_pages == HOST_HUGETLB1G || (m->host_pages == HOST_HUGETLB2M && c->unit != PT_2M))
		return snprintf(err, errlen, "--mem-limit with %s host pages needs 2m units (hugetlb1g: not supported)",
				host_pages_name(m->host_pages)), -1;
	if (m->size % c->unit)
		return snprintf(err, errlen, "guest RAM must be a multiple of the swap unit"), -1;
	struct pager *p = calloc(1, sizeof(*p));
	if (!p)
		return snprintf(err, errlen, "out of memory"), -1;
	*pp = p;
	p->mem = m;
	p->cfg = *c;
	p->uffd = p->event_fd = -1;
	p->swap.fd = -1;
	p->n_units = m->size / c->unit;
	p->balloon_target = c->balloon_target;
	p->flags = calloc(p->n_units, 1);
	p->slot = calloc(p->n_units, sizeof(uint32_t));
	p->fifo = calloc(p->n_units, sizeof(*p->fifo));
	p->buf = mmap(NULL, c->unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p->flags || !p->slot || !p->fifo || p->buf == MAP_FAILED) {
		p->buf = NULL;
		return snprintf(err, errlen, "out of memory for the pager"), -1;
	}
	if (c->limit / c->unit < 2)
		return snprintf(err, errlen, "--mem-limit must hold at least two %lu KiB units",
				(unsigned long)(c->unit >> 10)), -1;
	uint64_t swap_size = c->swap_size ? c->swap_size : m->size;
	if (swap_area_open(&p->swap, c->swap_path, swap_size, c->unit, c->swap_keep, err, errlen))
		return -1;
	p->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->event_fd < 0)
		return snprintf(err, errlen, "eventfd: %s", strerror(errno)), -1;
	if (open_uffd(p, err, errlen))
		return -1;
	return pool_join(p, err, errlen);
}

/* The handler starts with the first pin, once the monitor's own memory is safe from eviction. */
static int start_handler(struct pager *p)
{
	if (p->thread_started)
		return 0;
	if (pthread_create(&p->thread, NULL, handler, p) != 0)
		return -1;
	p->thread_started = 1;
	return 0;
}

static int pin_locked(struct pager *p, uint64_t gpa, uint64_t len)
{
	if (!range_inside(gpa, len, p->mem->size) || len == 0)
		return -1;
	for (uint64_t u = gpa / p->cfg.unit; u <= (gpa + len - 1) / p->cfg.unit; u++) {
		if (p->flags[u] & UNIT_PINNED)
			continue;
		if (!(p->flags[u] & UNIT_RESIDENT) && install(p, u))
			return -1;
		p->flags[u] |= UNIT_PINNED;
		p->pinned++;
	}
	return 0;
}

int pager_pin(struct pager *p, uint64_t gpa, uint64_t len)
{
	pthread_mutex_lock(&p->pool->lock);
	int r = pin_locked(p, gpa, len);
	/* Down to the limit before the guest runs (a prefaulted VM starts with all of RAM). */
	if (r == 0)
		r = make_room(p, 0);
	if (r == 0 && start_handler(p))
		r = -1;
	pthread_mutex_unlock(&p->pool->lock);
	return r;
}

void pager_stop(struct pager *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->pool->lock);
		p->stopping = 1;
		pthread_mutex_unlock(&p->pool->lock);
		kick(p);
		pthread_join(p->thread, NULL);
	}
	if (p->pool)
		pool_leave(p);
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->event_fd >= 0)
		close(p->event_fd);
	swap_area_close(&p->swap);
	if (p->buf)
		munmap(p->buf, p->cfg.unit);
	free(p->flags);
	free(p->slot);
	free(p->fifo);
	free(p);
}

int pager_register_table(struct pager *p, uint64_t gpa, char *err, size_t errlen)
{
	uint64_t pages = p->mem->size / PAGE;
	uint64_t len = sizeof(struct beyond_pagestate_header) + pages;
	int r = -1;
	pthread_mutex_lock(&p->pool->lock);
	if (p->states)
		snprintf(err, errlen, "a page-state table is registered already");
	else if (gpa % PAGE || !range_inside(gpa, len, p->mem->size))
		snprintf(err, errlen, "page-state table [%#lx, +%#lx) is not page aligned inside RAM",
			 (unsigned long)gpa, (unsigned long)len);
	else if (pin_locked(p, gpa, len))
		snprintf(err, errlen, "cannot bring the page-state table in");
	else
		r = 0;
	if (r == 0) {
		struct beyond_pagestate_header *h = (void *)(p->mem->base + gpa);
		if (h->magic != BEYOND_PAGESTATE_MAGIC || h->pages != pages) {
			snprintf(err, errlen, "page-state table header: magic %#lx, %lu pages (want %lu)",
				 (unsigned long)h->magic, (unsigned long)h->pages, (unsigned long)pages);
			r = -1;
		} else {
			p->header = h;
			p->states = h->state;
			__atomic_store_n(&h->balloon_target, p->balloon_target, __ATOMIC_RELEASE);
			for (uint64_t u = 0; u < p->n_units; u++)
				set_present(p, u, (p->flags[u] & UNIT_RESIDENT) != 0);
		}
	}
	pthread_mutex_unlock(&p->pool->lock);
	return r;
}

void pager_prefetch(struct pager *p, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa >= p->mem->size)
		return;
	if (len > p->mem->size - gpa)
		len = p->mem->size - gpa;
	pthread_mutex_lock(&p->pool->lock);
	if (p->queued < PREFETCH_QUEUE) {
		p->queue[p->queued].first = gpa / p->cfg.unit;
		p->queue[p->queued].end = (gpa + len - 1) / p->cfg.unit + 1;
		p->queued++;
	}
	pthread_mutex_unlock(&p->pool->lock);
	kick(p);
}

int pager_balloon(struct pager *p, unsigned op, uint64_t gpa, uint64_t len, char *err, size_t errlen)
{
	if (gpa % BEYOND_BALLOON_BLOCK || len % BEYOND_BALLOON_BLOCK || len == 0 ||
	    !range_inside(gpa, len, p->mem->size))
		return snprintf(err, errlen, "balloon range [%#lx, +%#lx) is not whole 2 MiB blocks inside RAM",
				(unsigned long)gpa, (unsigned long)len), -1;
	if (op != BEYOND_BALLOON_INFLATE && op != BEYOND_BALLOON_DEFLATE)
		return snprintf(err, errlen, "balloon operation %u", op), -1;
	uint64_t first = gpa / p->cfg.unit, end = (gpa + len) / p->cfg.unit;
	pthread_mutex_lock(&p->pool->lock);
	for (uint64_t u = first; u < end; u++)
		if (p->flags[u] & UNIT_PINNED) {
			pthread_mutex_unlock(&p->pool->lock);
			return snprintf(err, errlen, "balloon range covers monitor-owned memory at %#lx",
					(unsigned long)(u * p->cfg.unit)), -1;
		}
	if (op == BEYOND_BALLOON_INFLATE) {
		/* Whole 2 MiB ranges at once: a huge page is freed whole, never split. */
		madvise(p->mem->base + gpa, len, MADV_DONTNEED);
		for (uint64_t u = first; u < end; u++) {
			if (p->flags[u] & UNIT_RESIDENT)
				resident_add(p, -1);
			if (p->flags[u] & UNIT_SWAPPED)
				swap_slot_free(&p->swap, p->slot[u]);
			if (!(p->flags[u] & UNIT_BALLOONED))
				p->ballooned++;
			p->flags[u] = UNIT_BALLOONED;
			set_present(p, u, 0);
		}
	} else {
		for (uint64_t u = first; u < end; u++)
			if (p->flags[u] & UNIT_BALLOONED) {
				p->flags[u] &= ~UNIT_BALLOONED;
				p->ballooned--;
			}
	}
	if (p->header)
		__atomic_store_n(&p->header->balloon_size, p->ballooned * p->cfg.unit, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->pool->lock);
	return 0;
}

void pager_set_balloon_target(struct pager *p, uint64_t bytes)
{
	pthread_mutex_lock(&p->pool->lock);
	p->balloon_target = bytes;
	if (p->header)
		__atomic_store_n(&p->header->balloon_target, bytes, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->pool->lock);
}

void pager_get_stats(struct pager *p, struct pager_stats *s)
{
	pthread_mutex_lock(&p->pool->lock);
	*s = p->st;
	if (*p->pool->name) {
		s->group_limit = p->pool->limit;
		s->group_resident = p->pool->resident;
		s->group_resident_peak = p->pool->resident_peak;
	}
	s->balloon_target = p->balloon_target;
	s->limit = p->cfg.limit;
	s->unit = p->cfg.unit;
	s->resident = p->resident * p->cfg.unit;
	s->pinned = p->pinned * p->cfg.unit;
	s->ballooned = p->ballooned * p->cfg.unit;
	s->swapped = (uint64_t)p->swap.used * p->cfg.unit;
	s->swap_size = (uint64_t)p->swap.slots * p->cfg.unit;
	lat_summary(&p->lat_in, &s->in_median_us, &s->in_p99_us);
	lat_summary(&p->lat_out, &s->out_median_us, &s->out_p99_us);
	pthread_mutex_unlock(&p->pool->lock);
}
