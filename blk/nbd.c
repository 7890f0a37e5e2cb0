/*
 * NBD server: handshake (NBD_OPT_GO / INFO / LIST / ABORT / EXPORT_NAME,
 * STRUCTURED_REPLY, LIST/SET_META_CONTEXT with base:allocation), then READ,
 * WRITE, FLUSH, TRIM, WRITE_ZEROES, BLOCK_STATUS and DISC, with FUA.
 *
 * Every client has up to WORKERS threads of its own, which take turns
 * reading its requests; each serves what it read and answers in any order
 * (the protocol allows it) under a send lock, and a slow request does not
 * hold back the ones after it (see "Serving" below). WRITEs larger than
 * CHUNK are served as they arrive, so a client costs bounded memory. A
 * FLUSH waits for the writes the connection received before it, then makes
 * the whole store durable (blk_flush()), which covers writes completed on
 * every connection: hence multi-conn. A connection that wrote BEHIND bytes
 * since its last flush flushes behind its writes (see write_behind()).
 * With structured replies a READ sends the zeros the volume's map knows of
 * as hole chunks. Each thread keeps its request buffer for reuse. Options
 * we do not implement (TLS) are refused with NBD_REP_ERR_UNSUP, which
 * clients handle by falling back.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "blk/nbd.h"
#include "blk/nbd_proto.h"
#include "blk/store.h"

/* The largest request we take (advertised as the maximum block size). A
 * READ or WRITE up to CHUNK is queued whole; a larger one moves through
 * the store in CHUNK pieces. */
#define MAX_PAYLOAD (32u << 20)
#define CHUNK       (1u << 20)
#define OPT_MAX     65536u
#define WORKERS     4		/* threads serving one connection: its requests in the server at once */
#define WATCH_MS    1		/* a leader serving one request this long (to twice that) loses the socket */
#define EAGER       (256u << 10)	/* it gives the socket away at once before moving this much data */
#define NONE        (-1)
#define BS_MAX      1024	/* descriptors in one block status reply */
#define MIN_BUF     4096u	/* buffers are MIN_BUF << k long, up to CHUNK */
#define META_ID     1		/* base:allocation's context id */
#define BEHIND      (64u << 20)	/* bytes a connection writes between flushes before it flushes itself */

struct conn;

struct server {
	struct blk_store *s;
	const struct blk_nbd_opts *o;
	pthread_mutex_t lock;
	pthread_cond_t gone;
	struct conn **clients;	/* o->max_clients slots, the first nclients in use */
	unsigned nclients;
	uint64_t accepted;	/* connections so far: orders them by age */
};

/* A request, in the hands of the thread that read it and serves it. */
struct req {
	uint16_t type, flags;
	uint64_t handle;	/* as on the wire */
	uint64_t off;
	uint32_t len;
	int err;		/* found before serving it (range, flags) */
	uint8_t *buf;		/* the worker's: a WRITE's payload, a READ's data */
	unsigned worker;	/* the one serving it */
	uint64_t wseq;		/* a write: its number; FLUSH: the number of writes before it */
	bool busy;		/* being served */
};

/* A thread serving a connection: its request and its buffer (the READ's
 * data, the WRITE's payload), kept for the next request. */
struct worker {
	struct conn *c;
	unsigned id;		/* its index in conn.workers */
	pthread_t t;		/* (not for id 0, the connection's own thread) */
	struct req r;
	uint8_t *buf;
	size_t cap;		/* bytes of buf */
};

struct conn {
	struct server *srv;	/* NULL when served alone (blk_nbd_serve_fd) */
	struct blk_store *s;
	const struct blk_nbd_opts *o;
	int fd;
	bool no_zeroes;
	bool negotiating;	/* under srv->lock: may be evicted */
	bool structured;	/* NBD_OPT_STRUCTURED_REPLY */
	bool base_alloc;	/* base:allocation chosen ... */
	char meta_name[BLK_NAME_MAX + 1];	/* ... for this export */
	uint64_t serial;
	int64_t deadline;	/* the leader's, ms on CLOCK_MONOTONIC; 0: none */
	struct blk_vol *vol;

	/* Transmission, under lock: which thread holds the socket (the
	 * leader), which one watches it. */
	pthread_mutex_t lock;
	pthread_cond_t turn;	/* idle threads: the socket is free, a watcher is wanted, or closing */
	pthread_cond_t watch;	/* the watcher's: the socket is free, the leader serves again, or closing */
	pthread_cond_t done;	/* a request finished (FLUSH waits for writes) */
	struct worker workers[WORKERS];
	unsigned nworkers, idle;	/* threads started; of them waiting for the socket */
	int leader, watcher;	/* the worker holding the socket, and the one watching it; or NONE */
	bool serving;		/* the leader serves the request it read ... */
	bool long_one;		/* ... likely to be long, with no thread to take the socket then */
	uint64_t served;	/* ... the served-th of the connection */
	bool watcher_asleep;	/* without a timeout: the connection was quiet */
	bool closing;		/* the client left: every thread leaves once done */
	uint64_t writes;	/* writes received */
	uint64_t unflushed;	/* bytes written since the last flush, the client's or a write-behind one */
	bool flushing;		/* a thread flushes behind the writes */
	pthread_mutex_t send_lock;	/* one reply at a time on the socket */
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t deadline_in(unsigned seconds)
{
	return seconds ? now_ms() + seconds * 1000ll : 0;
}

/* Waits until fd is ready for events, or fails at the deadline. */
static int wait_ready(int fd, int64_t deadline, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do {
		int64_t left = deadline ? deadline - now_ms() : -1;
		if (deadline && left <= 0)
			return -1;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* The reading thread's receive of up to n bytes, at least one arriving
 * within c->deadline: what recv() returns. It polls only once nothing is
 * there (a pipelining client has the next request waiting). */
static ssize_t recv_some(struct conn *c, void *p, size_t n)
{
	for (;;) {
		ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && !wait_ready(c->fd, c->deadline, POLLIN))
			continue;
		return r;
	}
}

/* The reading thread's receive, within c->deadline. */
static int recv_all(struct conn *c, void *p, size_t n)
{
	while (n) {
		ssize_t r = recv_some(c, p, n);
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= r;
	}
	return 0;
}

static int send_iov(int fd, int64_t deadline, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };

	while (m.msg_iovlen) {
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && !wait_ready(fd, deadline, POLLOUT))
			continue;
		if (r < 0)
			return -1;
		while (m.msg_iovlen && (size_t)r >= m.msg_iov->iov_len) {
			r -= m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + r;
			m.msg_iov->iov_len -= r;
		}
	}
	return 0;
}

/* The handshake's sends, within c->deadline. */
static int send_all(struct conn *c, const void *p, size_t n)
{
	struct iovec iov = { (void *)p, n };

	return send_iov(c->fd, c->deadline, &iov, 1);
}

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	struct nbd_opt_reply h = { htobe64(NBD_REP_MAGIC), htobe32(opt), htobe32(type), htobe32(len) };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };

	return send_iov(c->fd, c->deadline, iov, len ? 2 : 1);
}

/* WRITE_ZEROES is a change of the map only, so it is always fast: FAST_ZERO
 * is advertised and never fails. */
static uint16_t export_flags(const struct conn *c, struct blk_vol *v)
{
	return NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
	       NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_FAST_ZERO |
	       (c->structured ? NBD_FLAG_SEND_DF : 0) | (blk_vol_readonly(v) ? NBD_FLAG_READ_ONLY : 0);
}

static void list_one(const struct blk_vol_info *vi, void *arg)
{
	struct conn *c = arg;
	uint32_t n = strlen(vi->name);
	uint8_t buf[4 + BLK_NAME_MAX];

	memcpy(buf, &(uint32_t){ htobe32(n) }, 4);
	memcpy(buf + 4, vi->name, n);
	opt_reply(c, NBD_OPT_LIST, NBD_REP_SERVER, buf, 4 + n);
}

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

/* An export name of n bytes at d, as a string: 0, or the option's error. */
static uint32_t export_name(const uint8_t *d, uint32_t n, char name[BLK_NAME_MAX + 1])
{
	/* A NUL would end the name early: "disk\0evil" is not "disk". */
	if (memchr(d, 0, n))
		return NBD_REP_ERR_INVALID;
	if (n > BLK_NAME_MAX)
		return NBD_REP_ERR_UNKNOWN;
	memcpy(name, d, n);
	name[n] = 0;
	return 0;
}

/* Opening an export ends the meta context choice made for another one. */
static void opened(struct conn *c, struct blk_vol *v, const char *name)
{
	c->vol = v;
	if (strcmp(name, c->meta_name))
		c->base_alloc = false;
}

/* A client leaves the negotiating ones, which make_room() may hang up on,
 * before it is told that transmission starts (else it could be told and
 * then hung up on); false if it was hung up on already. */
static bool stop_negotiating(struct conn *c)
{
	bool was = true;

	if (c->srv) {
		pthread_mutex_lock(&c->srv->lock);
		was = c->negotiating;
		c->negotiating = false;
		pthread_mutex_unlock(&c->srv->lock);
	}
	return was;
}

/* NBD_OPT_INFO and NBD_OPT_GO: returns 1 to start transmission, 0 to go
 * on negotiating, -1 to drop the client. */
static int opt_info(struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
	uint32_t n = len >= 6 ? get_be32(d) : 0, bad;
	uint16_t nreq = 0;
	char name[BLK_NAME_MAX + 1];

	/* u32 name length, name, u16 number of info requests, u16 each */
	if (len >= 6 && n <= len - 6) {
		memcpy(&nreq, d + 4 + n, 2);
		nreq = be16toh(nreq);
	}
	if (len < 6 || n > len - 6 || len != 6 + n + 2u * nreq)
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	if ((bad = export_name(d + 4, n, name)))
		return opt_reply(c, opt, bad, NULL, 0);
	struct blk_vol *v;
	if (blk_vol_open(c->s, name, &v))
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);

	struct __attribute__((packed)) { uint16_t type; uint64_t size; uint16_t flags; } ex =
		{ htobe16(NBD_INFO_EXPORT), htobe64(blk_vol_size(v)), htobe16(export_flags(c, v)) };
	int err = opt_reply(c, opt, NBD_REP_INFO, &ex, sizeof(ex));
	for (uint16_t i = 0; i < nreq && !err; i++) {
		uint16_t want;
		memcpy(&want, d + 6 + n + 2 * i, 2);
		if (be16toh(want) != NBD_INFO_BLOCK_SIZE)
			continue;
		struct __attribute__((packed)) { uint16_t type; uint32_t min, pref, max; } bs =
			{ htobe16(NBD_INFO_BLOCK_SIZE), htobe32(1), htobe32(blk_store_block_size(c->s)),
			  htobe32(MAX_PAYLOAD) };
		err = opt_reply(c, opt, NBD_REP_INFO, &bs, sizeof(bs));
	}
	if (!err && opt == NBD_OPT_GO && !stop_negotiating(c))
		err = -1;
	if (!err)
		err = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	if (err || opt == NBD_OPT_INFO) {
		blk_vol_close(v);
		return err;
	}
	opened(c, v, name);
	return 1;
}

static int meta_reply(struct conn *c, uint32_t opt)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;
	uint8_t buf[4 + sizeof(ctx) - 1];

	memcpy(buf, &(uint32_t){ htobe32(META_ID) }, 4);
	memcpy(buf + 4, ctx, sizeof(ctx) - 1);
	return opt_reply(c, opt, NBD_REP_META_CONTEXT, buf, sizeof(buf));
}

/* NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: u32 name length,
 * export name, u32 number of queries, each a u32 length and a string. We
 * know one context: base:allocation. */
static int opt_meta(struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
	bool set = opt == NBD_OPT_SET_META_CONTEXT;
	char name[BLK_NAME_MAX + 1];
	uint32_t n = len >= 8 ? get_be32(d) : 0, nq, bad, at;
	struct blk_vol *v;

	if (len < 8 || n > len - 8 || (set && !c->structured))
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	nq = get_be32(d + 4 + n);
	/* Every query must fit exactly before we answer any. */
	at = 8 + n;
	for (uint32_t i = 0; i < nq; i++) {
		if (len - at < 4 || get_be32(d + at) > len - at - 4)
			return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
		at += 4 + get_be32(d + at);
	}
	if (at != len)
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	if ((bad = export_name(d + 4, n, name)))
		return opt_reply(c, opt, bad, NULL, 0);
	if (blk_vol_open(c->s, name, &v))
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	blk_vol_close(v);

	bool match = !set && !nq;	/* LIST without queries: all contexts */
	at = 8 + n;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t ql = get_be32(d + at);
		const char *q = (const char *)d + at + 4;
		at += 4 + ql;
		if ((ql == 15 && !memcmp(q, NBD_META_BASE_ALLOCATION, 15)) || (!set && ql == 5 && !memcmp(q, "base:", 5)))
			match = true;
	}
	if (set) {
		c->base_alloc = match;
		strcpy(c->meta_name, name);
	}
	int err = match ? meta_reply(c, opt) : 0;
	return err ? err : opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

/* One option with its data (NUL-terminated for EXPORT_NAME): 1 to start
 * transmission, 0 to go on, -1 to drop the client. */
static int option(struct conn *c, uint32_t opt, uint8_t *d, uint32_t len)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME: {
		/* No way to refuse here but to hang up. */
		struct blk_vol *v;
		if (len > BLK_NAME_MAX || strlen((char *)d) != len || blk_vol_open(c->s, (char *)d, &v))
			return -1;
		opened(c, v, (char *)d);
		if (!stop_negotiating(c))
			return -1;
		struct __attribute__((packed)) { uint64_t size; uint16_t flags; uint8_t zero[124]; } ex =
			{ htobe64(blk_vol_size(v)), htobe16(export_flags(c, v)), { 0 } };
		return send_all(c, &ex, c->no_zeroes ? 10 : sizeof(ex)) ? -1 : 1;
	}
	case NBD_OPT_ABORT:
		opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
		return -1;
	case NBD_OPT_LIST: {
		int r;
		if (len)
			return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
		if ((r = blk_list(c->s, list_one, c)))
			return r;
		return opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	}
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info(c, opt, d, len);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
		c->structured = true;
		return opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return opt_meta(c, opt, d, len);
	default:
		return opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
	}
}

/* The handshake, within o->timeout in all: 0 once a volume is open. */
static int negotiate(struct conn *c)
{
	struct __attribute__((packed)) { uint64_t magic, opt; uint16_t flags; } hello =
		{ htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT), htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) };
	uint32_t cflags;

	c->deadline = deadline_in(c->o->timeout);
	if (send_all(c, &hello, sizeof(hello)) || recv_all(c, &cflags, 4))
		return -1;
	cflags = be32toh(cflags);
	if (cflags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))
		return -1;
	c->no_zeroes = cflags & NBD_FLAG_NO_ZEROES;

	for (int r = 0; !r;) {
		struct nbd_opt_hdr h;
		if (recv_all(c, &h, sizeof(h)) || be64toh(h.magic) != NBD_IHAVEOPT)
			return -1;
		uint32_t len = be32toh(h.len);
		if (len > OPT_MAX)
			return -1;
		uint8_t *d = malloc(len + 1);
		if (!d || recv_all(c, d, len)) {
			free(d);
			return -1;
		}
		d[len] = 0;
		r = option(c, be32toh(h.opt), d, len);
		free(d);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* --- replies (any thread, under send_lock) ----------------------------------- */

static uint32_t nbd_errno(int err)
{
	switch (-err) {
	case 0: return 0;
	case EPERM: case EROFS: return 1;	/* NBD_EPERM */
	case ENOMEM: return 12;
	case EINVAL: return 22;
	case ENOSPC: return 28;
	case ENOTSUP: return 95;
	default: return 5;			/* NBD_EIO */
	}
}

/* Ends the connection: the leader's read fails, and so do the other
 * threads' replies. */
static void hang_up(struct conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
}

static int send_reply(struct conn *c, struct iovec *iov, int n)
{
	if (send_iov(c->fd, deadline_in(c->o->timeout), iov, n)) {
		hang_up(c);
		return -1;
	}
	return 0;
}

static int reply_simple(struct conn *c, const struct req *r, int err)
{
	struct nbd_reply rp = { htobe32(NBD_REPLY_MAGIC), htobe32(nbd_errno(err)), r->handle };
	struct iovec iov = { &rp, sizeof(rp) };

	pthread_mutex_lock(&c->send_lock);
	int e = send_reply(c, &iov, 1);
	pthread_mutex_unlock(&c->send_lock);
	return e;
}

static struct nbd_structured_reply chunk_header(const struct req *r, uint16_t type, uint32_t len, bool done)
{
	return (struct nbd_structured_reply){ htobe32(NBD_STRUCTURED_REPLY_MAGIC), htobe16(done ? NBD_REPLY_FLAG_DONE : 0),
					      htobe16(type), r->handle, htobe32(len) };
}

/* The final chunk with payload p of n bytes, or a simple reply when
 * structured replies are off (err only). */
static int reply_chunk(struct conn *c, const struct req *r, uint16_t type, const void *p, uint32_t n)
{
	struct nbd_structured_reply h = chunk_header(r, type, n, true);
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, n } };

	pthread_mutex_lock(&c->send_lock);
	int e = send_reply(c, iov, n ? 2 : 1);
	pthread_mutex_unlock(&c->send_lock);
	return e;
}

/* Replies to READ and BLOCK_STATUS are structured once negotiated, errors too. */
static int reply_error(struct conn *c, const struct req *r, int err)
{
	struct __attribute__((packed)) { uint32_t error; uint16_t msglen; } e = { htobe32(nbd_errno(err)), 0 };
	bool chunked = c->structured && (r->type == NBD_CMD_READ || r->type == NBD_CMD_BLOCK_STATUS);

	return chunked ? reply_chunk(c, r, NBD_REPLY_TYPE_ERROR, &e, sizeof(e)) : reply_simple(c, r, err);
}

/* One piece of a READ (CHUNK at most) as it goes out: runs of data and, in
 * a sparse reply, of zeros sent as holes (a chunk header instead of the
 * bytes). A piece of more runs than RUNS goes as data. */
#define RUNS 16
struct run {
	uint32_t len;
	bool hole;
};
struct piece {
	uint64_t off;
	uint32_t len;
	unsigned n;
	struct run run[RUNS];
};

static int piece_run(uint64_t len, enum blk_extent kind, void *arg)
{
	struct piece *p = arg;

	if (p->n == RUNS) {
		p->n = 0;
		return 1;
	}
	p->run[p->n++] = (struct run){ len, kind == BLK_EXTENT_ZERO };	/* len: within the piece */
	return 0;
}

static void going_long(struct conn *c, const struct req *r);

/* Reads piece p of r into r->buf: its runs, then the data of each. The
 * first piece's data being EAGER bytes or more, the request will take long. */
static int read_piece(struct conn *c, struct req *r, struct piece *p, bool sparse)
{
	int err = sparse ? blk_extents(c->vol, p->off, p->len, piece_run, p) : 0;
	uint32_t at = 0, data = 0;

	if (!p->n)
		p->run[p->n++] = (struct run){ p->len, false };	/* not sparse, or too many runs */
	for (unsigned i = 0; i < p->n; i++)
		data += p->run[i].hole ? 0 : p->run[i].len;
	if (p->off == r->off && data >= EAGER)
		going_long(c, r);
	for (unsigned i = 0; i < p->n && !err; at += p->run[i++].len)
		if (!p->run[i].hole)
			err = blk_read(c->vol, r->buf + at, p->off + at, p->run[i].len);
	return err;
}

/* Sends piece p in one sendmsg, under send_lock. A sparse reply is a chunk
 * per run, the very last one flagged DONE; otherwise the reply's header
 * (simple, or the one data chunk: DF holds) goes with the first piece. */
static int send_piece(struct conn *c, const struct req *r, const struct piece *p, bool sparse)
{
	struct __attribute__((packed)) { struct nbd_structured_reply h; uint64_t off; uint32_t hole; } hdr[RUNS];
	struct nbd_reply simple = { htobe32(NBD_REPLY_MAGIC), 0, r->handle };
	struct iovec iov[2 * RUNS];
	bool first = p->off == r->off, last = p->off + p->len == r->off + r->len;
	uint32_t at = 0;
	int n = 0;

	for (unsigned i = 0; i < p->n; at += p->run[i++].len) {
		uint32_t len = p->run[i].len;
		bool hole = p->run[i].hole;
		if (sparse) {
			hdr[i].h = chunk_header(r, hole ? NBD_REPLY_TYPE_OFFSET_HOLE : NBD_REPLY_TYPE_OFFSET_DATA,
						hole ? 12 : 8 + len, last && i == p->n - 1);
			hdr[i].off = htobe64(p->off + at);
			hdr[i].hole = htobe32(len);
			iov[n++] = (struct iovec){ &hdr[i], hole ? sizeof(hdr[i]) : sizeof(hdr[i]) - 4 };
		} else if (first && c->structured) {
			hdr[i].h = chunk_header(r, NBD_REPLY_TYPE_OFFSET_DATA, 8 + r->len, true);
			hdr[i].off = htobe64(r->off);
			iov[n++] = (struct iovec){ &hdr[i], sizeof(hdr[i]) - 4 };
		} else if (first) {
			iov[n++] = (struct iovec){ &simple, sizeof(simple) };
		}
		if (!hole)
			iov[n++] = (struct iovec){ r->buf + at, len };
	}
	return send_reply(c, iov, n);
}

/* READ: piece by piece, the first read before taking the send lock, the
 * rest under it. A reply cannot report an error once data flows: a later
 * piece that fails drops the connection, so the client never takes wrong
 * data for right. Sparse unless the client forbids fragments (DF). */
static int do_read(struct conn *c, struct req *r)
{
	bool sparse = c->structured && !(r->flags & NBD_CMD_FLAG_DF);
	uint32_t done = 0;
	int err;

	if (c->structured && !r->len)
		return reply_chunk(c, r, NBD_REPLY_TYPE_NONE, NULL, 0);
	do {
		struct piece p = { .off = r->off + done, .len = r->len - done < CHUNK ? r->len - done : CHUNK };
		err = read_piece(c, r, &p, sparse);
		if (err && !done)
			return reply_error(c, r, err);
		if (!done)
			pthread_mutex_lock(&c->send_lock);
		if (err)
			hang_up(c);
		else
			err = send_piece(c, r, &p, sparse);
		done += p.len;
	} while (!err && done < r->len);
	pthread_mutex_unlock(&c->send_lock);
	return err;
}

struct status {
	uint32_t d[2 * BS_MAX];	/* length, flags */
	unsigned n, max;
};

static int status_run(uint64_t len, enum blk_extent kind, void *arg)
{
	struct status *st = arg;

	st->d[2 * st->n] = htobe32(len);	/* within the request's u32 length */
	st->d[2 * st->n + 1] = htobe32(kind == BLK_EXTENT_ZERO ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0);
	return ++st->n == st->max;
}

/* BLOCK_STATUS for base:allocation: runs from the request's offset, at
 * most BS_MAX of them (one with REQ_ONE); the client asks again for more. */
static int do_block_status(struct conn *c, struct req *r)
{
	struct { uint32_t id; struct status st; } p = { htobe32(META_ID),
		{ .max = r->flags & NBD_CMD_FLAG_REQ_ONE ? 1 : BS_MAX } };
	int err = blk_extents(c->vol, r->off, r->len, status_run, &p.st);

	if (err)
		return reply_error(c, r, err);
	return reply_chunk(c, r, NBD_REPLY_TYPE_BLOCK_STATUS, &p, 4 + 8 * p.st.n);
}

/*
 * Serving: the threads of a connection take turns holding the socket. The
 * leader reads a request and serves it itself, then reads the next: a
 * request costs no hand-off between threads (one per request was two
 * context switches, most of the cost of a small request). So that a slow
 * request does not hold back the ones after it, an idle thread watches the
 * leader and takes the socket from one that has served the same request
 * for WATCH_MS (to twice that). A leader gives the socket away at once
 * before a request likely to be long: a FLUSH, a large WRITE (the next
 * payload arrives while this one is stored), a READ of much data once its
 * extents are known (not one of holes: a hand-off per READ of a 1 MiB
 * hole doubled the context switches). A leader starts a thread when none
 * is idle, up to WORKERS. The watcher wakes every WATCH_MS while the
 * connection is busy and sleeps while it is quiet, until the leader serves
 * again. On an empty disk (hole
 * replies: the cost of a request alone) `qemu-img bench` 64K qd8 made 1.9
 * context switches per request with a reading thread handing requests to
 * workers, 0.14 this way (qemu-nbd: 0.14).
 */

/* w's buffer, of at least n bytes (n <= CHUNK): kept for its next requests,
 * MIN_BUF << k long. NULL when out of memory. */
static uint8_t *worker_buf(struct worker *w, size_t n)
{
	if (!w->buf || w->cap < n) {
		size_t cap = MIN_BUF;
		while (cap < n)
			cap <<= 1;
		free(w->buf);
		w->cap = (w->buf = malloc(cap)) ? cap : 0;
	}
	return w->buf;
}

static bool is_write(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

/* A FLUSH covers the writes this connection received before it: waits
 * until none of them is still being served. */
static void wait_writes(struct conn *c, uint64_t before)
{
	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool pending = false;
		for (unsigned i = 0; i < c->nworkers && !pending; i++) {
			const struct req *r = &c->workers[i].r;
			pending = r->busy && is_write(r->type) && r->wseq <= before;
		}
		if (!pending)
			break;
		pthread_cond_wait(&c->done, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
}

static int serve(struct conn *c, struct req *r)
{
	unsigned fua = r->flags & NBD_CMD_FLAG_FUA ? BLK_FUA : 0;

	if (c->o->before_request)
		c->o->before_request(c->o->hook_arg, r->type, r->off);
	if (r->err)
		return reply_error(c, r, r->err);
	switch (r->type) {
	case NBD_CMD_READ:
		return do_read(c, r);
	case NBD_CMD_BLOCK_STATUS:
		return do_block_status(c, r);
	case NBD_CMD_WRITE:
		return reply_simple(c, r, blk_write(c->vol, r->buf, r->off, r->len, fua));
	case NBD_CMD_FLUSH:
		wait_writes(c, r->wseq);
		return reply_simple(c, r, blk_flush(c->s));
	default:	/* TRIM, WRITE_ZEROES */
		return reply_simple(c, r, blk_trim(c->vol, r->off, r->len, fua));
	}
}

/* What a request may carry and what it asks for, before anything is read
 * into the store: 0 or the error to answer. */
static int check(const struct conn *c, const struct req *r)
{
	uint64_t size = blk_vol_size(c->vol);
	uint16_t allowed = NBD_CMD_FLAG_FUA;

	switch (r->type) {
	case NBD_CMD_READ:
		allowed |= c->structured ? NBD_CMD_FLAG_DF : 0;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!c->base_alloc || !r->len)
			return -EINVAL;
		allowed |= NBD_CMD_FLAG_REQ_ONE;
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		break;
	case NBD_CMD_FLUSH:
		return r->off || r->len || (r->flags & ~allowed) ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
	if (r->flags & ~allowed)
		return -EINVAL;
	if (r->off > size || r->len > size - r->off)
		return r->type == NBD_CMD_WRITE ? -ENOSPC : -EINVAL;
	return 0;
}

/* A WRITE larger than CHUNK, served as it arrives: writes while all goes
 * well, then replies with the first error. */
static int big_write(struct conn *c, struct worker *w, struct req *r)
{
	int err = r->err;

	if (!worker_buf(w, CHUNK))
		return -1;
	for (uint32_t done = 0; done < r->len;) {
		uint32_t n = r->len - done < CHUNK ? r->len - done : CHUNK;
		if (recv_all(c, w->buf, n))
			return -1;
		if (!err)
			err = blk_write(c->vol, w->buf, r->off + done, n, r->flags & NBD_CMD_FLAG_FUA ? BLK_FUA : 0);
		done += n;
	}
	return reply_simple(c, r, err);
}

/* The leader's read of the next request into w, without the lock: 1 when
 * it is there to serve, 0 when it needed no more (a WRITE larger than
 * CHUNK, served as it arrived), -1 when the client left, broke the
 * protocol or timed out. */
static int read_request(struct conn *c, struct worker *w)
{
	struct req *r = &w->r;
	struct nbd_request rq;

	/* Between requests a client may idle for idle_timeout; a request,
	 * once begun, gets timeout to arrive whole, and each reply too. */
	c->deadline = deadline_in(c->o->idle_timeout);
	ssize_t got = recv_some(c, &rq, sizeof(rq));
	if (got <= 0)
		return -1;
	c->deadline = deadline_in(c->o->timeout);
	if (recv_all(c, (uint8_t *)&rq + got, sizeof(rq) - got) || be32toh(rq.magic) != NBD_REQUEST_MAGIC)
		return -1;
	/* Field by field: busy and wseq belong to c->lock (wait_writes() reads them). */
	r->type = be16toh(rq.type);
	r->flags = be16toh(rq.flags);
	r->handle = rq.handle;
	r->off = be64toh(rq.off);
	r->len = be32toh(rq.len);
	r->err = 0;
	r->buf = NULL;
	r->worker = w->id;
	bool payload = r->type == NBD_CMD_WRITE;

	if (r->type == NBD_CMD_DISC || ((payload || r->type == NBD_CMD_READ) && r->len > MAX_PAYLOAD))
		return -1;	/* more than that cannot be skipped safely */
	r->err = check(c, r);
	if (payload && r->len > CHUNK)
		return big_write(c, w, r) ? -1 : 0;
	if (payload || (r->type == NBD_CMD_READ && !r->err)) {
		r->buf = worker_buf(w, r->len < CHUNK ? r->len : CHUNK);
		if (payload && (!r->buf || recv_all(c, r->buf, r->len)))
			return -1;
		if (!r->buf)
			r->err = -ENOMEM;
	}
	return 1;
}

static void *work(void *arg);

/* One more thread, idle from the start; under c->lock. */
static void start_worker(struct conn *c)
{
	struct worker *w = &c->workers[c->nworkers];

	*w = (struct worker){ .c = c, .id = c->nworkers };
	if (!pthread_create(&w->t, NULL, work, w)) {
		c->nworkers++;
		c->idle++;
	}
}

/* The leader gives the socket to an idle thread, one not watching if there
 * is one (the watcher stays); false if none idles, and then the first
 * thread to finish its request takes it. Under c->lock. */
static bool give_away(struct conn *c)
{
	if (!c->idle) {
		c->long_one = true;
		return false;
	}
	c->leader = NONE;
	pthread_cond_signal(c->idle > (c->watcher != NONE) ? &c->turn : &c->watch);
	return true;
}

/* The thread serving r expects it to take long: if it leads, it gives the
 * socket away. */
static void going_long(struct conn *c, const struct req *r)
{
	pthread_mutex_lock(&c->lock);
	if (c->leader == (int)r->worker)
		give_away(c);
	pthread_mutex_unlock(&c->lock);
}

/* The leader is about to serve its request r: it starts a thread if none
 * is idle, gives the socket away if r is likely to be long, and wakes the
 * watcher if it slept. Under c->lock. */
static void begin_serving(struct conn *c, const struct req *r)
{
	bool eager = r->type == NBD_CMD_FLUSH || (r->type == NBD_CMD_WRITE && r->len >= EAGER);

	c->serving = true;
	c->served++;
	if (!c->idle && c->nworkers < WORKERS)
		start_worker(c);
	if (!(eager && give_away(c)) && c->watcher_asleep) {
		c->watcher_asleep = false;
		pthread_cond_signal(&c->watch);
	}
}

/* Waits, as an idle thread, until w may take the socket, and takes it: when
 * it is free, or as the watcher from a leader that served one request
 * through a whole WATCH_MS. False once the connection closes. Under c->lock. */
static bool wait_turn(struct conn *c, struct worker *w)
{
	uint64_t seen = UINT64_MAX;	/* served at the watcher's last look */

	while (!c->closing && c->leader != NONE && !(c->serving && c->long_one)) {
		if (c->watcher != NONE && c->watcher != (int)w->id) {
			pthread_cond_wait(&c->turn, &c->lock);
			continue;
		}
		c->watcher = w->id;
		if (c->serving && c->served == seen)
			break;
		bool quiet = !c->serving && c->served == seen;
		seen = c->served;
		if (quiet) {
			c->watcher_asleep = true;
			pthread_cond_wait(&c->watch, &c->lock);
		} else {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += WATCH_MS * 1000000l;
			if (until.tv_nsec >= 1000000000l) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000l;
			}
			pthread_cond_timedwait(&c->watch, &c->lock, &until);
		}
	}
	c->idle--;
	if (c->watcher == (int)w->id) {
		c->watcher = NONE;
		c->watcher_asleep = false;
		if (c->idle)
			pthread_cond_signal(&c->turn);	/* another one watches */
	}
	if (c->closing)
		return false;
	c->leader = w->id;
	return true;
}

/* Write-behind: a connection that has written BEHIND bytes since its last
 * flush has one of its threads, the one that served the write that crossed
 * the line, flush the store while the others go on. Overwrites are
 * copy-on-write once committed, and only a commit turns the blocks they
 * free into spares that later writes reuse (allocated and maybe cached)
 * instead of growing the file: fio's 512 MiB seq overwrite 1M grew the
 * data file by 512 MiB to punch 384 MiB at its final FLUSH, which took
 * 390 ms (fdatasync of new blocks 257, punch 90, checkpoint 16; qemu-nbd's
 * 127) and made the run 0.9x qemu-nbd. The writes need not wait for it
 * (blk_flush() holds the store lock only between its syncs), its error is
 * the store's, which the client's next FLUSH reports. Under c->lock,
 * dropped while it flushes. */
static void write_behind(struct conn *c, struct worker *w)
{
	c->flushing = true;
	c->unflushed = 0;
	if (c->leader == (int)w->id)
		give_away(c);
	pthread_mutex_unlock(&c->lock);
	blk_flush(c->s);
	pthread_mutex_lock(&c->lock);
	c->flushing = false;
}

/* A thread of the connection: leads while it holds the socket, waits for
 * its turn when another does, leaves once the client left. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct conn *c = w->c;

	pthread_mutex_lock(&c->lock);
	while (c->leader == (int)w->id || wait_turn(c, w)) {
		c->serving = c->long_one = false;
		pthread_mutex_unlock(&c->lock);
		int got = read_request(c, w);
		pthread_mutex_lock(&c->lock);
		if (got < 0) {
			c->closing = true;
			c->leader = NONE;
			pthread_cond_broadcast(&c->turn);
			pthread_cond_broadcast(&c->watch);
			break;
		}
		if (w->r.type == NBD_CMD_WRITE && !w->r.err)
			c->unflushed += w->r.len;
		else if (w->r.type == NBD_CMD_FLUSH)
			c->unflushed = 0;
		if (!got)
			continue;
		w->r.busy = true;
		w->r.wseq = is_write(w->r.type) ? ++c->writes : c->writes;
		begin_serving(c, &w->r);
		pthread_mutex_unlock(&c->lock);
		serve(c, &w->r);
		pthread_mutex_lock(&c->lock);
		w->r.busy = false;
		pthread_cond_broadcast(&c->done);
		if (c->unflushed >= BEHIND && !c->flushing)
			write_behind(c, w);
		c->idle += c->leader != (int)w->id;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Serves requests until the client leaves, breaks the protocol or times
 * out: the calling thread leads first; returns once every thread is gone. */
static void transmit(struct conn *c)
{
	pthread_condattr_t mono;

	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_cond_init(&c->turn, NULL);
	pthread_cond_init(&c->watch, &mono);
	pthread_cond_init(&c->done, NULL);
	pthread_condattr_destroy(&mono);
	c->workers[0] = (struct worker){ .c = c };
	c->nworkers = 1;
	c->watcher = NONE;

	work(&c->workers[0]);	/* returns once closing: no thread starts another after that */

	for (unsigned i = 0; i < c->nworkers; i++) {
		if (i)
			pthread_join(c->workers[i].t, NULL);
		free(c->workers[i].buf);
	}
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->watch);
	pthread_cond_destroy(&c->turn);
	pthread_mutex_destroy(&c->send_lock);
	pthread_mutex_destroy(&c->lock);
}

/* Negotiates and serves one client; leaves c->fd open. */
static void serve_conn(struct conn *c)
{
	int ok = !negotiate(c);

	stop_negotiating(c);	/* a failed one too: it is leaving */
	if (ok)
		transmit(c);
	if (c->vol)
		blk_vol_close(c->vol);
}

void blk_nbd_serve_fd(struct blk_store *s, int fd, const struct blk_nbd_opts *o)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c) {
		*c = (struct conn){ .s = s, .o = o, .fd = fd };
		serve_conn(c);
	}
	free(c);
	close(fd);
}

static void *client_main(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;

	serve_conn(c);
	pthread_mutex_lock(&srv->lock);
	for (unsigned i = 0; i < srv->nclients; i++)
		if (srv->clients[i] == c)
			srv->clients[i] = srv->clients[--srv->nclients];
	pthread_cond_broadcast(&srv->gone);
	pthread_mutex_unlock(&srv->lock);
	close(c->fd);
	free(c);
	return NULL;
}

int blk_nbd_listen(const char *addr)
{
	union { struct sockaddr sa; struct sockaddr_un un; struct sockaddr_in in; } sa = { 0 };
	socklen_t salen;
	int fd;

	if (!strncmp(addr, "unix:", 5)) {
		if (strlen(addr + 5) >= sizeof(sa.un.sun_path) || !addr[5])
			return -ENAMETOOLONG;
		sa.un.sun_family = AF_UNIX;
		strcpy(sa.un.sun_path, addr + 5);
		salen = sizeof(sa.un);
		unlink(addr + 5);
	} else if (!strncmp(addr, "tcp:", 4)) {
		char host[64];
		const char *colon = strrchr(addr + 4, ':');
		if (!colon || colon - (addr + 4) >= (int)sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 4, colon - (addr + 4));
		host[colon - (addr + 4)] = 0;
		sa.in.sin_family = AF_INET;
		sa.in.sin_port = htons(atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sa.in.sin_addr) != 1 || !sa.in.sin_port)
			return -EINVAL;
		salen = sizeof(sa.in);
	} else {
		return -EINVAL;
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(fd, &sa.sa, salen) || listen(fd, 64)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* With every slot taken: hangs up on the oldest client still negotiating
 * and waits (briefly) for its thread to give the slot back. Under srv->lock;
 * false if no slot came free. */
static bool make_room(struct server *srv)
{
	struct conn *oldest = NULL;

	for (unsigned i = 0; i < srv->nclients; i++) {
		struct conn *c = srv->clients[i];
		if (c->negotiating && (!oldest || c->serial < oldest->serial))
			oldest = c;
	}
	if (!oldest)
		return false;
	oldest->negotiating = false;
	shutdown(oldest->fd, SHUT_RDWR);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	while (srv->nclients >= srv->o->max_clients)
		if (pthread_cond_timedwait(&srv->gone, &srv->lock, &until))
			return false;
	return true;
}

static void admit(struct server *srv, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t t;
	bool ok = false;

	pthread_mutex_lock(&srv->lock);
	if (c && (srv->nclients < srv->o->max_clients || make_room(srv))) {
		*c = (struct conn){ .srv = srv, .s = srv->s, .o = srv->o, .fd = fd, .negotiating = true,
				    .serial = srv->accepted++ };
		srv->clients[srv->nclients++] = c;
		ok = !pthread_create(&t, NULL, client_main, c);
		if (ok)
			pthread_detach(t);
		else
			srv->nclients--;
	}
	pthread_mutex_unlock(&srv->lock);
	if (!ok) {
		free(c);
		close(fd);
	}
}

int blk_nbd_serve(struct blk_store *s, int lfd, const struct blk_nbd_opts *o,
		  volatile sig_atomic_t *stop)
{
	struct server srv = { .s = s, .o = o, .lock = PTHREAD_MUTEX_INITIALIZER,
			      .gone = PTHREAD_COND_INITIALIZER };

	if (!o->max_clients || o->max_clients > BLK_NBD_MAX_CLIENTS ||
	    !(srv.clients = calloc(o->max_clients, sizeof(*srv.clients)))) {
		close(lfd);
		return -EINVAL;
	}
	while (!*stop) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
			usleep(100000);	/* the connection stays queued: not a busy loop until a descriptor frees */
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		admit(&srv, fd);
	}
	close(lfd);
	/* Wake the clients up and wait until each has let go of its volume. */
	pthread_mutex_lock(&srv.lock);
	for (unsigned i = 0; i < srv.nclients; i++)
		shutdown(srv.clients[i]->fd, SHUT_RDWR);
	while (srv.nclients)
		pthread_cond_wait(&srv.gone, &srv.lock);
	pthread_mutex_unlock(&srv.lock);
	free(srv.clients);
	return 0;
}
