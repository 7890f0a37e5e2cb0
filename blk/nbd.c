/*
 * NBD server: handshake (NBD_OPT_GO / INFO / LIST / ABORT / EXPORT_NAME),
 * then READ, WRITE, FLUSH, TRIM, WRITE_ZEROES and DISC, with FUA. Every
 * client has a thread; the store does the locking. Options we do not
 * implement (structured replies, TLS, meta contexts) are refused with
 * NBD_REP_ERR_UNSUP, which clients handle by falling back.
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

#define TF_HAS_FLAGS     (1u << 0)
#define TF_READ_ONLY     (1u << 1)
#define TF_SEND_FLUSH    (1u << 2)
#define TF_SEND_FUA      (1u << 3)
#define TF_SEND_TRIM     (1u << 5)
#define TF_WRITE_ZEROES  (1u << 6)
#define TF_MULTI_CONN    (1u << 8)

/* The largest request we take (advertised as the maximum block size); it
 * moves through the store in CHUNK pieces, so a client costs CHUNK of
 * memory however large its requests are. */
#define MAX_PAYLOAD (32u << 20)
#define CHUNK       (1u << 20)
#define OPT_MAX     65536u

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

struct conn {
	struct server *srv;	/* NULL when served alone (blk_nbd_serve_fd) */
	struct blk_store *s;
	const struct blk_nbd_opts *o;
	int fd;
	bool no_zeroes;
	bool negotiating;	/* under srv->lock: may be evicted */
	uint64_t serial;
	int64_t deadline;	/* ms on CLOCK_MONOTONIC for the current wait; 0: none */
	struct blk_vol *vol;
	uint8_t *buf;		/* CHUNK bytes, allocated at the first READ or WRITE */
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void set_deadline(struct conn *c, unsigned seconds)
{
	c->deadline = seconds ? now_ms() + seconds * 1000ll : 0;
}

/* Waits until the socket is ready for events, or fails at the deadline. */
static int wait_ready(struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int r;

	do {
		int64_t left = c->deadline ? c->deadline - now_ms() : -1;
		if (c->deadline && left <= 0)
			return -1;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

static int recv_all(struct conn *c, void *p, size_t n)
{
	while (n) {
		ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && !wait_ready(c, POLLIN))
			continue;
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= r;
	}
	return 0;
}

static int send_iov(struct conn *c, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };

	while (m.msg_iovlen) {
		ssize_t r = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && !wait_ready(c, POLLOUT))
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

static int send_all(struct conn *c, const void *p, size_t n)
{
	struct iovec iov = { (void *)p, n };

	return send_iov(c, &iov, 1);
}

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	struct nbd_opt_reply h = { htobe64(NBD_REP_MAGIC), htobe32(opt), htobe32(type), htobe32(len) };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };

	return send_iov(c, iov, len ? 2 : 1);
}

static uint16_t export_flags(struct blk_vol *v)
{
	return TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_TRIM | TF_WRITE_ZEROES |
	       TF_MULTI_CONN | (blk_vol_readonly(v) ? TF_READ_ONLY : 0);
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

/* NBD_OPT_INFO and NBD_OPT_GO: returns 1 to start transmission, 0 to go
 * on negotiating, -1 to drop the client. */
static int opt_info(struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
	uint32_t n = 0;
	uint16_t nreq = 0;
	char name[BLK_NAME_MAX + 1];

	/* u32 name length, name, u16 number of info requests, u16 each */
	if (len >= 6) {
		memcpy(&n, d, 4);
		n = be32toh(n);
	}
	if (len >= 6 && n <= len - 6) {
		memcpy(&nreq, d + 4 + n, 2);
		nreq = be16toh(nreq);
	}
	if (len < 6 || n > len - 6 || len != 6 + n + 2u * nreq)
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	/* A NUL would end the name early: "disk\0evil" is not "disk". */
	if (memchr(d + 4, 0, n))
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	if (n > BLK_NAME_MAX)
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	memcpy(name, d + 4, n);
	name[n] = 0;
	struct blk_vol *v;
	if (blk_vol_open(c->s, name, &v))
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);

	struct __attribute__((packed)) { uint16_t type; uint64_t size; uint16_t flags; } ex =
		{ htobe16(NBD_INFO_EXPORT), htobe64(blk_vol_size(v)), htobe16(export_flags(v)) };
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
	if (!err)
		err = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	if (err || opt == NBD_OPT_INFO) {
		blk_vol_close(v);
		return err;
	}
	c->vol = v;
	return 1;
}

/* One option with its data (NUL-terminated for EXPORT_NAME): 1 to start
 * transmission, 0 to go on, -1 to drop the client. */
static int option(struct conn *c, uint32_t opt, uint8_t *d, uint32_t len)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME: {
		/* No way to refuse here but to hang up. */
		if (len > BLK_NAME_MAX || strlen((char *)d) != len || blk_vol_open(c->s, (char *)d, &c->vol))
			return -1;
		struct __attribute__((packed)) { uint64_t size; uint16_t flags; uint8_t zero[124]; } ex =
			{ htobe64(blk_vol_size(c->vol)), htobe16(export_flags(c->vol)), { 0 } };
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

	set_deadline(c, c->o->timeout);
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

static uint32_t nbd_errno(int err)
{
	switch (-err) {
	case 0: return 0;
	case EPERM: case EROFS: return 1;	/* NBD_EPERM */
	case ENOMEM: return 12;
	case EINVAL: return 22;
	case ENOSPC: return 28;
	default: return 5;			/* NBD_EIO */
	}
}

static struct nbd_reply reply_header(const struct nbd_request *rq, int err)
{
	return (struct nbd_reply){ htobe32(NBD_REPLY_MAGIC), htobe32(nbd_errno(err)), rq->handle };
}

static int reply(struct conn *c, const struct nbd_request *rq, int err)
{
	struct nbd_reply rp = reply_header(rq, err);

	return send_all(c, &rp, sizeof(rp));
}

/* READ: the reply (with the first chunk's error) and then the data. Simple
 * replies cannot report an error once data flows: a later chunk that fails
 * drops the connection, so the client never takes wrong data for right. */
static int do_read(struct conn *c, const struct nbd_request *rq, uint64_t off, uint32_t len)
{
	uint32_t n = len < CHUNK ? len : CHUNK;
	int err = blk_read(c->vol, c->buf, off, n);
	struct nbd_reply rp = reply_header(rq, err);
	struct iovec iov[2] = { { &rp, sizeof(rp) }, { c->buf, n } };

	if (send_iov(c, iov, err ? 1 : 2))
		return -1;
	for (uint32_t done = n; !err && done < len; done += n) {
		n = len - done < CHUNK ? len - done : CHUNK;
		if (blk_read(c->vol, c->buf, off + done, n) || send_all(c, c->buf, n))
			return -1;
	}
	return 0;
}

/* WRITE: takes the whole payload chunk by chunk, writing while all goes
 * well, then replies with the first error. */
static int do_write(struct conn *c, const struct nbd_request *rq, uint64_t off, uint32_t len,
		    unsigned fua, int err)
{
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < CHUNK ? len - done : CHUNK;
		if (recv_all(c, c->buf, n))
			return -1;
		if (!err)
			err = blk_write(c->vol, c->buf, off + done, n, fua);
		done += n;
	}
	return reply(c, rq, err);
}

static void transmit(struct conn *c)
{
	struct blk_vol *v = c->vol;

	for (;;) {
		struct nbd_request rq;
		/* Between requests a client may idle for idle_timeout; a request,
		 * once begun, and its reply get timeout. */
		set_deadline(c, c->o->idle_timeout);
		if (wait_ready(c, POLLIN))
			break;
		set_deadline(c, c->o->timeout);
		if (recv_all(c, &rq, sizeof(rq)) || be32toh(rq.magic) != NBD_REQUEST_MAGIC)
			break;
		uint16_t type = be16toh(rq.type), flags = be16toh(rq.flags);
		uint64_t off = be64toh(rq.off);
		uint32_t len = be32toh(rq.len);
		unsigned fua = flags & NBD_CMD_FLAG_FUA ? BLK_FUA : 0;
		bool payload = type == NBD_CMD_READ || type == NBD_CMD_WRITE;
		bool ranged = payload || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
		int err = 0, r;

		if (type == NBD_CMD_DISC)
			break;
		if (payload && len > MAX_PAYLOAD)
			break;	/* cannot skip that much safely */
		if (payload && !c->buf && !(c->buf = malloc(CHUNK)))
			break;
		if (ranged && (off > blk_vol_size(v) || len > blk_vol_size(v) - off))
			err = type == NBD_CMD_WRITE ? -ENOSPC : -EINVAL;
		else if (type == NBD_CMD_FLUSH)
			err = blk_flush(c->s);
		else if (type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES)
			err = blk_trim(v, off, len, fua);
		else if (!ranged)
			err = -EINVAL;
		/* r: the connection failed */
		if (type == NBD_CMD_WRITE)
			r = do_write(c, &rq, off, len, fua, err);
		else if (type == NBD_CMD_READ && !err)
			r = do_read(c, &rq, off, len);
		else
			r = reply(c, &rq, err);
		if (r)
			break;
	}
}

/* Negotiates and serves one client; leaves c->fd open. */
static void serve_conn(struct conn *c)
{
	int ok = !negotiate(c);

	if (c->srv) {
		pthread_mutex_lock(&c->srv->lock);
		c->negotiating = false;
		pthread_mutex_unlock(&c->srv->lock);
	}
	if (ok)
		transmit(c);
	if (c->vol)
		blk_vol_close(c->vol);
	free(c->buf);
}

void blk_nbd_serve_fd(struct blk_store *s, int fd, const struct blk_nbd_opts *o)
{
	struct conn c = { .s = s, .o = o, .fd = fd };

	serve_conn(&c);
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
