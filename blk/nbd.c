/*
 * NBD server: handshake (NBD_OPT_GO / INFO / LIST / ABORT / EXPORT_NAME),
 * then READ, WRITE, FLUSH, TRIM, WRITE_ZEROES and DISC, with FUA. Every
 * client has a thread; the store does the locking. Options we do not
 * implement (structured replies, TLS, meta contexts) are refused with
 * NBD_REP_ERR_UNSUP, which clients handle by falling back.
 */
#include <endian.h>
#include <errno.h>
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

#define MAX_PAYLOAD (32u << 20)

struct server {
	struct blk_store *s;
	pthread_mutex_t lock;
	int clients[64];	/* open client sockets, to shut down on stop */
	int nclients;
	pthread_cond_t gone;
};

struct conn {
	struct server *srv;
	int fd;
	bool no_zeroes;
	struct blk_vol *vol;
};

static int recv_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, MSG_WAITALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= r;
	}
	return 0;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };

	while (m.msg_iovlen) {
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
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

static int send_all(int fd, const void *p, size_t n)
{
	struct iovec iov = { (void *)p, n };

	return send_iov(fd, &iov, 1);
}

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	struct nbd_opt_reply h = { htobe64(NBD_REP_MAGIC), htobe32(opt), htobe32(type), htobe32(len) };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };

	return send_iov(c->fd, iov, len ? 2 : 1);
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
	if (n > BLK_NAME_MAX)
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	memcpy(name, d + 4, n);
	name[n] = 0;
	struct blk_vol *v;
	if (blk_vol_open(c->srv->s, name, &v))
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
			{ htobe16(NBD_INFO_BLOCK_SIZE), htobe32(1), htobe32(blk_store_block_size(c->srv->s)),
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

static int negotiate(struct conn *c)
{
	struct __attribute__((packed)) { uint64_t magic, opt; uint16_t flags; } hello =
		{ htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT), htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) };
	uint32_t cflags;

	if (send_all(c->fd, &hello, sizeof(hello)) || recv_all(c->fd, &cflags, 4))
		return -1;
	cflags = be32toh(cflags);
	if (cflags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))
		return -1;
	c->no_zeroes = cflags & NBD_FLAG_NO_ZEROES;

	for (;;) {
		struct nbd_opt_hdr h;
		if (recv_all(c->fd, &h, sizeof(h)) || be64toh(h.magic) != NBD_IHAVEOPT)
			return -1;
		uint32_t opt = be32toh(h.opt), len = be32toh(h.len);
		if (len > 65536)
			return -1;
		uint8_t *d = malloc(len + 1);
		if (!d || recv_all(c->fd, d, len)) {
			free(d);
			return -1;
		}
		d[len] = 0;
		int r = 0;
		switch (opt) {
		case NBD_OPT_EXPORT_NAME:
			/* No way to refuse here but to hang up. */
			if (len > BLK_NAME_MAX || strlen((char *)d) != len || blk_vol_open(c->srv->s, (char *)d, &c->vol)) {
				r = -1;
				break;
			}
			struct __attribute__((packed)) { uint64_t size; uint16_t flags; uint8_t zero[124]; } ex =
				{ htobe64(blk_vol_size(c->vol)), htobe16(export_flags(c->vol)), { 0 } };
			r = send_all(c->fd, &ex, c->no_zeroes ? 10 : sizeof(ex)) ? -1 : 1;
			break;
		case NBD_OPT_ABORT:
			opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			r = -1;
			break;
		case NBD_OPT_LIST:
			if (len)
				r = opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
			else if (!(r = blk_list(c->srv->s, list_one, c)))
				r = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			r = opt_info(c, opt, d, len);
			break;
		default:
			r = opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
		}
		free(d);
		if (r)
			return r > 0 ? 0 : -1;
	}
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

static void transmit(struct conn *c)
{
	uint8_t *buf = NULL;
	struct blk_vol *v = c->vol;

	for (;;) {
		struct nbd_request rq;
		if (recv_all(c->fd, &rq, sizeof(rq)) || be32toh(rq.magic) != NBD_REQUEST_MAGIC)
			break;
		uint16_t type = be16toh(rq.type), flags = be16toh(rq.flags);
		uint64_t off = be64toh(rq.off);
		uint32_t len = be32toh(rq.len);
		unsigned fua = flags & NBD_CMD_FLAG_FUA ? BLK_FUA : 0;
		int err = 0;
		bool payload = type == NBD_CMD_READ || type == NBD_CMD_WRITE;

		if (type == NBD_CMD_DISC)
			break;
		if (payload && len > MAX_PAYLOAD)
			break;	/* cannot skip that much safely */
		if (payload && !buf && !(buf = malloc(MAX_PAYLOAD)))
			break;
		if (type == NBD_CMD_WRITE && recv_all(c->fd, buf, len))
			break;
		if ((type == NBD_CMD_READ || type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES) &&
		    (off > blk_vol_size(v) || len > blk_vol_size(v) - off))
			err = type == NBD_CMD_WRITE ? -ENOSPC : -EINVAL;
		else if (type == NBD_CMD_READ)
			err = blk_read(v, buf, off, len);
		else if (type == NBD_CMD_WRITE)
			err = blk_write(v, buf, off, len, fua);
		else if (type == NBD_CMD_FLUSH)
			err = blk_flush(c->srv->s);
		else if (type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES)
			err = blk_trim(v, off, len, fua);
		else
			err = -EINVAL;

		struct nbd_reply rp =
			{ htobe32(NBD_REPLY_MAGIC), htobe32(nbd_errno(err)), rq.handle };
		struct iovec iov[2] = { { &rp, sizeof(rp) }, { buf, len } };
		if (send_iov(c->fd, iov, type == NBD_CMD_READ && !err ? 2 : 1))
			break;
	}
	free(buf);
}

static void *client_main(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;

	if (!negotiate(c))
		transmit(c);
	if (c->vol)
		blk_vol_close(c->vol);
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; i < srv->nclients; i++)
		if (srv->clients[i] == c->fd)
			srv->clients[i] = srv->clients[--srv->nclients];
	pthread_cond_signal(&srv->gone);
	pthread_mutex_unlock(&srv->lock);
	close(c->fd);
	free(c);
	return NULL;
}

static int listen_on(const char *addr)
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
	if (bind(fd, &sa.sa, salen) || listen(fd, 16)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int blk_nbd_serve(struct blk_store *s, const char *addr, volatile sig_atomic_t *stop)
{
	struct server srv = { .s = s, .lock = PTHREAD_MUTEX_INITIALIZER, .gone = PTHREAD_COND_INITIALIZER };
	int lfd = listen_on(addr);

	if (lfd < 0) {
		blk_err("cannot listen on %s: %s (use unix:PATH or tcp:127.0.0.1:PORT)", addr, strerror(-lfd));
		return lfd;
	}
	while (!*stop) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		struct conn *c = calloc(1, sizeof(*c));
		pthread_t t;
		pthread_mutex_lock(&srv.lock);
		bool room = srv.nclients < (int)(sizeof(srv.clients) / sizeof(srv.clients[0]));
		if (c && room) {
			c->srv = &srv;
			c->fd = fd;
			srv.clients[srv.nclients++] = fd;
			if (pthread_create(&t, NULL, client_main, c)) {
				srv.nclients--;
				room = false;
			} else {
				pthread_detach(t);
			}
		}
		pthread_mutex_unlock(&srv.lock);
		if (!c || !room) {
			free(c);
			close(fd);
		}
	}
	close(lfd);
	if (!strncmp(addr, "unix:", 5))
		unlink(addr + 5);
	/* Wake the clients up and wait until each has let go of its volume. */
	pthread_mutex_lock(&srv.lock);
	for (int i = 0; i < srv.nclients; i++)
		shutdown(srv.clients[i], SHUT_RDWR);
	while (srv.nclients)
		pthread_cond_wait(&srv.gone, &srv.lock);
	pthread_mutex_unlock(&srv.lock);
	return 0;
}
