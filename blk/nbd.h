/* NBD export of a store's volumes (fixed newstyle protocol, simple and
 * structured replies, base:allocation block status). */
#ifndef BEYOND_BLK_NBD_H
#define BEYOND_BLK_NBD_H

#include <signal.h>
#include "blk/store.h"

/* What one client may hold: a slot, time, and memory (4 requests in the
 * server, 4 MiB of buffers at most). */
struct blk_nbd_opts {
	unsigned max_clients;	/* connections served at once */
	unsigned timeout;	/* seconds for the handshake, and for each request to arrive whole
				 * and its reply to be taken */
	unsigned idle_timeout;	/* seconds a client may wait between requests; 0: forever */
	/* Tests: called on the thread serving a request before it does (to
	 * hold one back and see that the others are answered). */
	void (*before_request)(void *arg, uint16_t type, uint64_t off);
	void *hook_arg;
};
#define BLK_NBD_MAX_CLIENTS 1024
#define BLK_NBD_DEFAULT_OPTS { .max_clients = 16, .timeout = 30, .idle_timeout = 300 }

/* Listens on addr ("unix:PATH", replacing a stale socket, or
 * "tcp:HOST:PORT"): the socket, or a negative errno. */
int blk_nbd_listen(const char *addr);

/*
 * Serves each client of the listening socket lfd on its own threads until
 * *stop becomes non-zero, then closes lfd; the export name is the volume
 * name. When every slot is taken, a new client takes the slot of the
 * oldest one still in its handshake, else it is turned away. Client
 * threads and their workers inherit the caller's seccomp filter. Returns 0 or -EINVAL for
 * bad limits.
 */
int blk_nbd_serve(struct blk_store *s, int lfd, const struct blk_nbd_opts *o,
		  volatile sig_atomic_t *stop);

/* Serves one connected client on the calling thread until it leaves or
 * breaks the protocol; closes fd (tests and the fuzz harness). */
void blk_nbd_serve_fd(struct blk_store *s, int fd, const struct blk_nbd_opts *o);

#endif
