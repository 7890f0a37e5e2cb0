/*
 * The control socket: `beyond run --control PATH` listens on a Unix socket
 * only its owner may use (mode 0600); a client sends one request line and
 * prints the answer. `beyond stat PATH [--json]` sends "text" or "json":
 * every VM's counters as `--stats` / `--stats-json` print them at the end,
 * taken now. `beyond balloon PATH VM SIZE` sends "balloon VM SIZE": the
 * pager asks that VM's guest to give back SIZE (answer "ok ..." or
 * "error: ...").
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "hv/cli/cli.h"
#include "hv/seccomp.h"
#include "hv/error.h"
#include "hv/pager.h"
#include "hv/stats.h"
#include "hv/vm.h"

struct control {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct vm **vms;
	unsigned n;
	pthread_t thread;
};

static int socket_address(const char *path, struct sockaddr_un *a, char *err, size_t errlen)
{
	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a->sun_path))
		return error_set(err, errlen, "socket path too long (at most %zu bytes)", sizeof(a->sun_path) - 1);
	strcpy(a->sun_path, path);
	return 0;
}

/* "balloon VM SIZE": one line of answer. */
static void answer_balloon(struct control *c, char *req, FILE *f)
{
	char *save, *name = strtok_r(req + 8, " \n", &save), *size = strtok_r(NULL, " \n", &save);
	char err[256];
	uint64_t bytes;
	if (!name || !size || strtok_r(NULL, " \n", &save) || parse_size(size, &bytes)) {
		fprintf(f, "error: the request is balloon VM SIZE\n");
		return;
	}
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->vms[i]->cfg.name, name) == 0) {
			if (pager_vm_balloon(c->vms[i], bytes, err, sizeof(err)))
				fprintf(f, "error: %s\n", err);
			else
				fprintf(f, "ok: VM %s balloon target %lu MiB\n", name, (unsigned long)(bytes >> 20));
			return;
		}
	fprintf(f, "error: no VM named '%s'\n", name);
}

static void answer(struct control *c, int fd)
{
	char req[128] = "";
	ssize_t r = read(fd, req, sizeof(req) - 1);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	if (r > 0 && strncmp(req, "balloon ", 8) == 0) {
		answer_balloon(c, req, f);
	} else if (r > 0 && strncmp(req, "json", 4) == 0) {
		struct json j;
		json_start(&j, f);
		json_object(&j, NULL, 1);
		json_array(&j, "vms", 1);
		for (unsigned i = 0; i < c->n; i++) {
			json_object(&j, NULL, 1);
			json_str(&j, "vm", c->vms[i]->cfg.name);
			json_bool(&j, "ended", __atomic_load_n(&c->vms[i]->ended, __ATOMIC_ACQUIRE));
			json_object(&j, "modules", 1);
			vm_stats_json(c->vms[i], &j);
			json_end(&j);
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
	} else {
		for (unsigned i = 0; i < c->n; i++)
			vm_stats_text(c->vms[i], f);
	}
	fclose(f);
}

static void *control_thread(void *arg)
{
	struct control *c = arg;
	int fd;
	/* A socket server, as blk serve's threads: their filter fits it. */
	if (c->n > 0 && c->vms[0]->cfg.seccomp && seccomp_enter(SECCOMP_NBD))
		fprintf(stderr, "beyond: control: cannot arm seccomp: %s\n", strerror(errno));
	/* control_stop() shuts the socket down, which ends accept(). */
	while ((fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0 || errno == EINTR || errno == ECONNABORTED)
		if (fd >= 0)
			answer(c, fd);
	return NULL;
}

struct control *control_start(const char *path, struct vm **vms, unsigned n, char *err, size_t errlen)
{
	struct sockaddr_un a;
	char tmp[sizeof(a.sun_path) + 16];
	/* Bound and listening under a temporary name, then linked into place:
	 * a client that sees PATH can connect, and link() refuses a PATH that
	 * exists (another monitor's, or a stale one) as bind() would. */
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (socket_address(path, &a, err, errlen))
		return NULL;
	if (strlen(tmp) >= sizeof(a.sun_path)) {
		error_set(err, errlen, "socket path too long (at most %zu bytes with the temporary name %s)",
			  sizeof(a.sun_path) - 1, tmp);
		return NULL;
	}
	strcpy(a.sun_path, tmp);
	struct control *c = calloc(1, sizeof(*c));
	if (!c) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	*c = (struct control){ .vms = vms, .n = n };
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Created 0600 from the start: no moment at which others could connect. */
	mode_t old = umask(0177);
	int bound = c->fd >= 0 && bind(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	umask(old);
	int linked = bound && listen(c->fd, 8) == 0 && link(tmp, path) == 0;
	int e = errno;
	if (bound)
		unlink(tmp);
	if (!linked || pthread_create(&c->thread, NULL, control_thread, c) != 0) {
		e = linked ? errno : e;
		error_set(err, errlen, "%s: %s%s", path, strerror(e),
			  e == EEXIST ? " (remove it if no monitor uses it)" : "");
		if (linked)
			unlink(path);
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->thread, NULL);
	close(c->fd);
	unlink(c->path);
	free(c);
}

/* Sends one request line to the monitor at path and copies the answer to stdout; 0 or a setup error. */
static int control_call(const char *path, const char *req, char *first, size_t first_len)
{
	struct sockaddr_un a;
	char err[256], buf[4096];
	size_t got = 0;
	if (socket_address(path, &a, err, sizeof(err)))
		return setup_error("%s", err);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return setup_error("cannot reach a monitor at %s: %s", path, strerror(e));
	}
	ssize_t n = write(fd, req, strlen(req));
	while (n > 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (; got + 1 < first_len && got < (size_t)n; got++)
			first[got] = buf[got];
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	}
	if (first_len)
		first[got] = 0;
	close(fd);
	return n < 0 ? setup_error("reading from %s: %s", path, strerror(errno)) : 0;
}

static const char stat_usage[] = "usage: beyond stat PATH [--json]   (PATH: a running beyond run --control PATH)\n";

int cmd_stat(int argc, char **argv)
{
	int json = argc == 3 && strcmp(argv[2], "--json") == 0;
	if (argc < 2 || argc > 3 || (argc == 3 && !json) || argv[1][0] == '-')
		return usage_error(stat_usage, argc > 1 && strcmp(argv[1], "--help") == 0 ? NULL : "stat: name the socket");
	return control_call(argv[1], json ? "json\n" : "text\n", NULL, 0);
}

static const char balloon_usage[] =
	"usage: beyond balloon PATH VM SIZE   (PATH: a running beyond run --control PATH)\n"
	"Asks VM's guest to give back SIZE bytes in 2 MiB blocks (0 takes them all back). The\n"
	"guest runtime follows the target when it polls (balloon_poll); beyond stat shows it.\n";

int cmd_balloon(int argc, char **argv)
{
	uint64_t size;
	char req[128], first[8];
	if (argc != 4 || argv[1][0] == '-')
		return usage_error(balloon_usage, argc > 1 && strcmp(argv[1], "--help") == 0 ? NULL
			: "balloon: name the socket, the VM and the size");
	if (parse_size(argv[3], &size))
		return usage_error(balloon_usage, "balloon: bad size '%s'", argv[3]);
	if (strlen(argv[2]) > 63 || strpbrk(argv[2], " \t\n"))
		return usage_error(balloon_usage, "balloon: bad VM name '%s'", argv[2]);
	snprintf(req, sizeof(req), "balloon %s %lu\n", argv[2], (unsigned long)size);
	int r = control_call(argv[1], req, first, sizeof(first));
	return r ? r : strncmp(first, "ok", 2) == 0 ? 0 : STATUS_SETUP_ERROR;
}
