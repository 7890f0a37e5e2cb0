/*
 * The NBD server's transmission phase, seen by a client on a socketpair:
 * many requests in flight with every reply's handle and data checked,
 * replies out of order (a request held back by the test hook does not hold
 * back the ones after it), a FLUSH that waits for the writes before it but
 * not for the reads after it, structured replies (holes sent as such unless
 * DF) and base:allocation block status, flags checked per command, and
 * a client that writes much without a FLUSH has the store committed behind
 * its writes.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "blk/nbd.h"
#include "blk/nbd_proto.h"
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

#define NBLOCKS 256
#define HELD    (200ull * BS)	/* requests of held_type at this offset wait for release() */

static char dir[64];
static struct blk_store *st;
static pthread_t server;
static int sock;		/* the client's end */

/* The gate: the hook holds requests at HELD until released, and counts FLUSHes. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool released;
static uint16_t held_type;
static unsigned flushes_seen, held_seen, commits_seen;

static void hook(void *arg, uint16_t type, uint64_t off)
{
	(void)arg;
	pthread_mutex_lock(&gate_lock);
	flushes_seen += type == NBD_CMD_FLUSH;
	if (off == HELD && type == held_type) {
		held_seen++;
		pthread_cond_broadcast(&gate_cond);
		while (!released)
			pthread_cond_wait(&gate_cond, &gate_lock);
	}
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void release(void)
{
	pthread_mutex_lock(&gate_lock);
	released = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* Waits (10 s at most) until *counter reaches n. */
static void wait_seen(unsigned *counter, unsigned n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&gate_lock);
	while (*counter < n)
		cr_assert_eq(pthread_cond_timedwait(&gate_cond, &gate_lock, &until), 0, "the server never got there");
	pthread_mutex_unlock(&gate_lock);
}

static const struct blk_nbd_opts opts = { .max_clients = 1, .timeout = 10, .idle_timeout = 10,
					  .before_request = hook };
static int server_fd;

static void *serve(void *arg)
{
	(void)arg;
	blk_nbd_serve_fd(st, server_fd, &opts);
	return NULL;
}

static void xsend(const void *p, size_t n)
{
	cr_assert_eq(send(sock, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Receives n bytes, failing after 10 s without them (a request held back
 * that should not be). */
static void xrecv(void *p, size_t n)
{
	while (n) {
		ssize_t r = recv(sock, p, n, 0);
		cr_assert_gt(r, 0, "no reply from the server: %s", r ? strerror(errno) : "closed");
		p = (uint8_t *)p + r;
		n -= r;
	}
}

/* Whether anything arrives within ms. */
static bool readable(int ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static uint32_t option(uint32_t opt, const void *data, uint32_t len)
{
	struct nbd_opt_hdr h = { htobe64(NBD_IHAVEOPT), htobe32(opt), htobe32(len) };
	struct nbd_opt_reply r;

	xsend(&h, sizeof(h));
	xsend(data, len);
	for (;;) {
		uint8_t skip[256];
		xrecv(&r, sizeof(r));
		cr_assert_eq(be64toh(r.magic), NBD_REP_MAGIC);
		cr_assert_leq(be32toh(r.len), sizeof(skip));
		xrecv(skip, be32toh(r.len));
		if (be32toh(r.type) != NBD_REP_INFO && be32toh(r.type) != NBD_REP_META_CONTEXT)
			return be32toh(r.type);
	}
}

/* Negotiates volume "v", with structured replies and base:allocation if asked. */
static void connect_to(bool structured)
{
	int sv[2];
	struct { uint64_t magic, opt; uint16_t flags; } __attribute__((packed)) hello;
	struct timeval tv = { .tv_sec = 10 };

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sock = sv[0];
	server_fd = sv[1];
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(pthread_create(&server, NULL, serve, NULL), 0);
	xrecv(&hello, sizeof(hello));
	xsend(&(uint32_t){ htobe32(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) }, 4);
	if (structured) {
		uint8_t meta[] = { 0, 0, 0, 1, 'v', 0, 0, 0, 1, 0, 0, 0, 15, 'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o',
				   'c', 'a', 't', 'i', 'o', 'n' };
		cr_assert_eq(option(NBD_OPT_SET_META_CONTEXT, meta, sizeof(meta)), NBD_REP_ERR_INVALID,
			     "SET_META_CONTEXT needs structured replies first");
		cr_assert_eq(option(NBD_OPT_STRUCTURED_REPLY, NULL, 0), NBD_REP_ACK);
		cr_assert_eq(option(NBD_OPT_SET_META_CONTEXT, meta, sizeof(meta)), NBD_REP_ACK);
	}
	uint8_t go[] = { 0, 0, 0, 1, 'v', 0, 0 };
	cr_assert_eq(option(NBD_OPT_GO, go, sizeof(go)), NBD_REP_ACK);
}

static void request(uint16_t type, uint16_t flags, uint64_t handle, uint64_t off, uint32_t len, const void *data)
{
	struct nbd_request rq = { htobe32(NBD_REQUEST_MAGIC), htobe16(flags), htobe16(type), handle, htobe64(off),
				  htobe32(len) };

	xsend(&rq, sizeof(rq));
	if (type == NBD_CMD_WRITE)
		xsend(data, len);
}

/* A simple reply: its handle; *err gets its error. */
static uint64_t simple_reply(uint32_t *err)
{
	struct nbd_reply rp;

	xrecv(&rp, sizeof(rp));
	cr_assert_eq(be32toh(rp.magic), NBD_REPLY_MAGIC);
	*err = be32toh(rp.error);
	return rp.handle;
}

static void setup(void)
{
	struct blk_vol *v;
	uint8_t b[BS];

	st = test_store_make(dir, "nbd");
	cr_assert_eq(blk_vol_create(st, "v", NBLOCKS * BS), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	for (uint64_t lba = 0; lba < 128; lba++) {
		pattern(b, 1, lba);
		cr_assert_eq(blk_write(v, b, lba * BS, BS, 0), 0);
	}
	blk_vol_close(v);
	released = false;
	held_type = NBD_CMD_READ;
	flushes_seen = held_seen = commits_seen = 0;
}

static void teardown(void)
{
	release();
	if (sock) {
		request(NBD_CMD_DISC, 0, 0, 0, 0, NULL);
		close(sock);
		pthread_join(server, NULL);
		sock = 0;
	}
	test_store_remove(dir, st);
}

TestSuite(nbd, .init = setup, .fini = teardown, .timeout = 60);

struct flow {
	unsigned n;
	pthread_t t;
};

/* Request i: even ones read block i/2 (seed 1), odd ones write block
 * 128 + i/2 with seed 2; the handle is i + 1000. */
static void *send_many(void *arg)
{
	struct flow *f = arg;
	uint8_t b[BS];

	for (unsigned i = 0; i < f->n; i++) {
		uint64_t lba = i & 1 ? 128 + i / 2 % 64 : i / 2 % 128;
		pattern(b, 2, lba);
		request(i & 1 ? NBD_CMD_WRITE : NBD_CMD_READ, 0, i + 1000, lba * BS, BS, b);
	}
	return NULL;
}

Test(nbd, many_in_flight)
{
	struct flow f = { .n = 2000 };
	uint8_t *seen = calloc(f.n, 1), b[BS];
	unsigned out_of_order = 0, last = 0;

	connect_to(false);
	cr_assert_eq(pthread_create(&f.t, NULL, send_many, &f), 0);
	for (unsigned k = 0; k < f.n; k++) {
		uint32_t err;
		uint64_t i = simple_reply(&err) - 1000;
		cr_assert_lt(i, f.n, "reply with a handle never sent");
		cr_assert_not(seen[i], "two replies for handle %lu", (unsigned long)i + 1000);
		seen[i] = 1;
		cr_assert_eq(err, 0);
		if (!(i & 1)) {
			xrecv(b, BS);
			cr_assert(has_pattern(b, 1, i / 2 % 128), "read %lu: wrong data", (unsigned long)i);
		}
		out_of_order += i < last;
		last = i;
	}
	pthread_join(f.t, NULL);
	/* The writes are there. */
	request(NBD_CMD_READ, 0, 7, 128 * BS, BS, NULL);
	uint32_t err;
	cr_assert_eq(simple_reply(&err), 7);
	xrecv(b, BS);
	cr_assert(has_pattern(b, 2, 128));
	cr_log_info("%u of %u replies came before one sent earlier", out_of_order, f.n);
	free(seen);
}

/* Receives n READ replies of one block each, handles base .. base+n-1 in
 * any order, reading block handle-base (seed 1). */
static void reads_answered(uint64_t base, unsigned n)
{
	bool seen[64] = { false };
	uint8_t b[BS];
	uint32_t err;

	for (unsigned k = 0; k < n; k++) {
		uint64_t i = simple_reply(&err) - base;
		cr_assert_lt(i, n, "reply with handle %lu", (unsigned long)(i + base));
		cr_assert_not(seen[i]);
		seen[i] = true;
		cr_assert_eq(err, 0);
		xrecv(b, BS);
		cr_assert(has_pattern(b, 1, i));
	}
}

/* A READ held back by the hook: the 32 requests after it are answered
 * while it waits, then it is. */
Test(nbd, slow_request_does_not_hold_back_later_ones)
{
	uint8_t b[BS];
	uint32_t err;

	connect_to(false);
	request(NBD_CMD_READ, 0, 1, HELD, BS, NULL);
	wait_seen(&held_seen, 1);
	for (unsigned i = 0; i < 32; i++)
		request(NBD_CMD_READ, 0, 100 + i, i * BS, BS, NULL);
	reads_answered(100, 32);
	cr_assert_not(readable(0));
	release();
	cr_assert_eq(simple_reply(&err), 1);
	xrecv(b, BS);
	cr_assert_eq(err, 0);
}

/* A FLUSH waits for the write before it (held back), not for the reads
 * after it. */
Test(nbd, flush_waits_for_earlier_writes_only)
{
	uint8_t b[BS];
	uint32_t err;

	held_type = NBD_CMD_WRITE;
	connect_to(false);
	pattern(b, 3, HELD / BS);
	request(NBD_CMD_WRITE, 0, 1, HELD, BS, b);
	wait_seen(&held_seen, 1);
	request(NBD_CMD_FLUSH, 0, 2, 0, 0, NULL);
	wait_seen(&flushes_seen, 1);
	for (unsigned i = 0; i < 16; i++)
		request(NBD_CMD_READ, 0, 100 + i, i * BS, BS, NULL);
	reads_answered(100, 16);	/* while the FLUSH waits */
	/* The FLUSH started but must not answer while the write is held (a
	 * wrong server would within this time). */
	cr_assert_not(readable(300), "FLUSH answered before the write before it");
	release();
	cr_assert_eq(simple_reply(&err), 1, "the write's reply comes first");
	cr_assert_eq(simple_reply(&err), 2);
	cr_assert_eq(err, 0);
}

/* A FLUSH held back (by holding the write it waits for) does not delay
 * reads sent after it, even of the block being written. */
Test(nbd, reads_after_flush_not_delayed)
{
	uint8_t b[BS];
	uint32_t err;

	held_type = NBD_CMD_WRITE;
	connect_to(false);
	request(NBD_CMD_WRITE, 0, 1, HELD, BS, (uint8_t[BS]){ 1 });
	wait_seen(&held_seen, 1);
	request(NBD_CMD_FLUSH, 0, 2, 0, 0, NULL);
	request(NBD_CMD_READ, 0, 3, HELD, BS, NULL);
	cr_assert_eq(simple_reply(&err), 3);
	xrecv(b, BS);
	release();
	cr_assert_eq(simple_reply(&err), 1);
	cr_assert_eq(simple_reply(&err), 2);
}

/* A structured reply chunk's header: its type; checks handle and flags. */
static uint16_t chunk_flagged(uint64_t handle, uint32_t *len, uint16_t flags)
{
	struct nbd_structured_reply h;

	xrecv(&h, sizeof(h));
	cr_assert_eq(be32toh(h.magic), NBD_STRUCTURED_REPLY_MAGIC);
	cr_assert_eq(h.handle, handle);
	cr_assert_eq(be16toh(h.flags), flags);
	*len = be32toh(h.len);
	return be16toh(h.type);
}

/* The final chunk of a reply. */
static uint16_t chunk(uint64_t handle, uint32_t *len)
{
	return chunk_flagged(handle, len, NBD_REPLY_FLAG_DONE);
}

static uint32_t chunk_error(uint64_t handle)
{
	uint32_t len, e[2];

	cr_assert_eq(chunk(handle, &len), NBD_REPLY_TYPE_ERROR);
	cr_assert_eq(len, 6);
	xrecv(e, 6);
	return be32toh(e[0]);
}

Test(nbd, structured_read_and_errors)
{
	uint8_t b[BS];
	uint64_t off;
	uint32_t len, err;

	connect_to(true);
	request(NBD_CMD_READ, NBD_CMD_FLAG_DF, 1, 5 * BS, BS, NULL);
	cr_assert_eq(chunk(1, &len), NBD_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(len, 8 + BS);
	xrecv(&off, 8);
	cr_assert_eq(be64toh(off), 5 * BS);
	xrecv(b, BS);
	cr_assert(has_pattern(b, 1, 5));
	request(NBD_CMD_READ, 0, 2, NBLOCKS * BS, 1, NULL);
	cr_assert_eq(chunk_error(2), EINVAL, "read past the end");
	request(NBD_CMD_BLOCK_STATUS, 0, 3, 0, 0, NULL);
	cr_assert_eq(chunk_error(3), EINVAL, "block status of no bytes");
	request(NBD_CMD_READ, NBD_CMD_FLAG_FAST_ZERO, 4, 0, BS, NULL);
	cr_assert_eq(chunk_error(4), EINVAL, "FAST_ZERO on a READ");
	/* Other commands answer simply. */
	request(NBD_CMD_WRITE, NBD_CMD_FLAG_DF, 5, 0, BS, b);
	cr_assert_eq(simple_reply(&err), 5);
	cr_assert_eq(err, EINVAL, "DF on a WRITE");
	request(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 6, 0, 2 * BS, NULL);
	cr_assert_eq(simple_reply(&err), 6);
	cr_assert_eq(err, 0, "zeroing is always fast");
	/* Blocks 0-1 zeroed, 2-3 data: with DF one data chunk, zeros and all ... */
	uint8_t four[4 * BS];
	request(NBD_CMD_READ, NBD_CMD_FLAG_DF, 7, 0, 4 * BS, NULL);
	cr_assert_eq(chunk(7, &len), NBD_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(len, 8 + 4 * BS);
	xrecv(&off, 8);
	xrecv(four, 4 * BS);
	cr_assert_eq(four[0] | four[2 * BS - 1], 0);
	cr_assert(has_pattern(four + 2 * BS, 1, 2) && has_pattern(four + 3 * BS, 1, 3));
	/* ... without it a hole chunk, then the data, flagged DONE. */
	struct __attribute__((packed)) { uint64_t off; uint32_t len; } hole;
	request(NBD_CMD_READ, 0, 8, 0, 4 * BS, NULL);
	cr_assert_eq(chunk_flagged(8, &len, 0), NBD_REPLY_TYPE_OFFSET_HOLE);
	cr_assert_eq(len, sizeof(hole));
	xrecv(&hole, sizeof(hole));
	cr_assert_eq(be64toh(hole.off), 0);
	cr_assert_eq(be32toh(hole.len), 2 * BS);
	cr_assert_eq(chunk(8, &len), NBD_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(len, 8 + 2 * BS);
	xrecv(&off, 8);
	cr_assert_eq(be64toh(off), 2 * BS);
	xrecv(four, 2 * BS);
	cr_assert(has_pattern(four, 1, 2) && has_pattern(four + BS, 1, 3));
}

/* A sparse READ of more runs than one reply piece takes (every other block
 * a hole) comes as one data chunk, the holes as zeros. */
Test(nbd, fragmented_read_sent_as_data)
{
	uint8_t b[64 * BS];
	uint64_t off;
	uint32_t len, err;

	connect_to(true);
	for (unsigned i = 0; i < 64; i += 2)
		request(NBD_CMD_TRIM, 0, i, i * BS, BS, NULL);
	for (unsigned i = 0; i < 64; i += 2)
		simple_reply(&err);
	request(NBD_CMD_READ, 0, 1, 0, 64 * BS, NULL);
	cr_assert_eq(chunk(1, &len), NBD_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(len, 8 + 64 * BS);
	xrecv(&off, 8);
	xrecv(b, sizeof(b));
	for (unsigned i = 0; i < 64; i++)
		cr_assert(i & 1 ? has_pattern(b + i * BS, 1, i) : !b[i * BS] && !b[i * BS + BS - 1], "block %u", i);
}

Test(nbd, block_status_without_meta_context_refused)
{
	uint32_t err;

	connect_to(false);
	request(NBD_CMD_BLOCK_STATUS, 0, 1, 0, BS, NULL);
	cr_assert_eq(simple_reply(&err), 1);
	cr_assert_eq(err, EINVAL);
}

/* Block status of the volume: blocks 0-127 data, then holes; after a trim
 * of 10-19 and zeros written over 40, runs split exactly there. */
Test(nbd, block_status)
{
	uint32_t len, id, d[16], err;

	connect_to(true);
	request(NBD_CMD_TRIM, 0, 1, 10 * BS, 10 * BS, NULL);
	request(NBD_CMD_WRITE, 0, 2, 40 * BS, BS, (uint8_t[BS]){ 0 });
	cr_assert_eq(simple_reply(&err) + simple_reply(&err), 3);
	/* From the middle of block 5 to the middle of block 150. */
	request(NBD_CMD_BLOCK_STATUS, 0, 3, 5 * BS + 100, 145 * BS, NULL);
	cr_assert_eq(chunk(3, &len), NBD_REPLY_TYPE_BLOCK_STATUS);
	cr_assert_eq(len, 4 + 6 * 8);
	xrecv(&id, 4);
	xrecv(d, len - 4);
	cr_assert_eq(be32toh(id), 1);
	uint32_t want[] = { 5 * BS - 100, 0, 10 * BS, 3, 20 * BS, 0, BS, 3, 87 * BS, 0, 22 * BS + 100, 3 };
	for (unsigned i = 0; i < 12; i++)
		cr_assert_eq(be32toh(d[i]), want[i], "descriptor word %u", i);
	request(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 4, 12 * BS, 100 * BS, NULL);
	cr_assert_eq(chunk(4, &len), NBD_REPLY_TYPE_BLOCK_STATUS);
	cr_assert_eq(len, 4 + 8);
	xrecv(&id, 4);
	xrecv(d, 8);
	cr_assert_eq(be32toh(d[0]), 8 * BS);
	cr_assert_eq(be32toh(d[1]), NBD_STATE_HOLE | NBD_STATE_ZERO);
	request(NBD_CMD_BLOCK_STATUS, 0, 5, (NBLOCKS - 1) * BS, 2 * BS, NULL);
	cr_assert_eq(chunk_error(5), EINVAL, "past the end");
}

/* The store's commit hook (the flushing thread, store lock dropped). */
static void count_commit(struct blk_store *s)
{
	(void)s;
	pthread_mutex_lock(&gate_lock);
	commits_seen++;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* 64 MiB of WRITEs (the whole 1 MiB volume over and over, new bytes each
 * time) and no FLUSH: the server commits the store behind them. */
Test(nbd, write_behind_commits_without_a_flush)
{
	uint8_t *b = malloc(NBLOCKS * BS);
	uint32_t err;

	cr_assert(b);
	connect_to(false);
	st->commit_hook = count_commit;
	for (unsigned round = 0; round < 64; round++) {
		for (unsigned i = 0; i < NBLOCKS; i++)
			pattern(b + i * BS, 10 + round, i);
		request(NBD_CMD_WRITE, 0, round, 0, NBLOCKS * BS, b);
		cr_assert_eq(simple_reply(&err), round);
		cr_assert_eq(err, 0);
	}
	wait_seen(&commits_seen, 1);
	cr_assert_eq(flushes_seen, 0, "no FLUSH was sent");
	free(b);
}
