/*
 * Fuzz harness: the NBD server's handshake and transmission phase
 * (blk/nbd.c) over a socketpair, the input being everything the client
 * sends. The store (in $TMPDIR) has a 1 MiB volume "disk" and a read-only
 * snapshot "snap"; it persists across inputs, as a server's does.
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "blk/nbd.h"

static struct blk_store *store;
static char dir[4096];

static void remove_store(void)
{
	char cmd[4200];

	blk_store_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd)) {
		/* left for the next clean-up of TMPDIR */
	}
}

static void init(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/beyond-fuzz-nbd-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || !strcat(dir, "/store") || blk_store_create(dir, 4096, BLK_DEDUP_INLINE) ||
	    blk_store_open(dir, &store) || blk_vol_create(store, "disk", 1 << 20) ||
	    blk_vol_copy(store, "disk", "snap", false))
		abort();
	*strrchr(dir, '/') = 0;
	atexit(remove_store);
}

struct client {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* Sends the input, half-closes, and swallows the replies until the server hangs up. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	size_t off = 0;
	uint8_t sink[65536];

	if (!c->size)
		shutdown(c->fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN | (off < c->size ? POLLOUT : 0) };
		if (poll(&p, 1, -1) < 0)
			break;
		if (p.revents & POLLIN) {
			if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		} else if (p.revents & POLLOUT) {
			ssize_t n = send(c->fd, c->data + off, c->size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			off += n > 0 ? (size_t)n : 0;
			if (n < 0 || off == c->size)
				shutdown(c->fd, SHUT_WR);
			if (n < 0)
				off = c->size;
		} else {
			break;
		}
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct blk_nbd_opts opts = { .max_clients = 1, .timeout = 5, .idle_timeout = 5 };
	int sv[2];
	pthread_t t;

	if (!store)
		init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	struct client c = { sv[1], data, size };
	if (pthread_create(&t, NULL, client_main, &c))
		abort();
	blk_nbd_serve_fd(store, sv[0], &opts);
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
