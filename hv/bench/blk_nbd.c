/*
 * `beyond bench blk`, NBD part. Four servers export the same empty disk:
 * beyond's (`beyond blk serve`, a store volume), qemu-nbd on a raw file and
 * on a qcow2 image, nbdkit's file plugin on a raw file. Each pattern runs
 * against a fresh disk behind a freshly started server: an untimed
 * preparation (filling it, or random writes over it) and then the timed
 * client command. Write patterns are timed to their final flush. The
 * same command moving 1 MiB is timed first: the throughput is that of the
 * difference, without the client's start-up and handshake (which matter
 * for --quick's small runs). Then a
 * client of our own measures how long reads wait behind a FLUSH that
 * follows many random overwrites, on the FLUSH's connection and on another.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "blk/nbd_proto.h"
#include "blk/store.h"
#include "hv/bench/blk_nbd.h"

enum { BEYOND, QEMU_RAW, QEMU_QCOW2, NBDKIT, NSERVERS };
static const char *const server_names[NSERVERS] = { "beyond", "qemu-nbd raw", "qemu-nbd qcow2", "nbdkit file" };
static const char *const server_keys[NSERVERS] = { "beyond", "qemu_nbd_raw", "qemu_nbd_qcow2", "nbdkit_file" };

/* Command lines: @U is the URI, @S the bytes, @C and @D the number of 4K
 * and of 64K requests over them, @F the file nbdcopy copies. */
#define FIO "fio --name=p --ioengine=nbd --uri='@U' --size=@S --output=/dev/null "
#define FILL FIO "--rw=write --bs=1M --iodepth=4 --end_fsync=1"
#define SCATTER FIO "--rw=randwrite --bs=4k --iodepth=16 --end_fsync=1"

struct pattern {
	const char *name, *tool;
	const char *prep;	/* untimed, as a fio command line, or NULL */
	const char *cmd;	/* timed */
};

/* qemu-img bench: -c count at -s size; the write one flushes after its last request. */
static const struct pattern patterns[] = {
	{ "seq write 1M", "fio", NULL, FIO "--rw=write --bs=1M --iodepth=4 --end_fsync=1" },
	{ "rand write 4K qd16", "fio", NULL, SCATTER },
	{ "seq overwrite 1M", "fio", FILL, FIO "--rw=write --bs=1M --iodepth=4 --end_fsync=1" },
	{ "seq read 1M", "fio", FILL, FIO "--rw=read --bs=1M --iodepth=4" },
	{ "rand read 4K qd16", "fio", FILL, FIO "--rw=randread --bs=4k --iodepth=16" },
	{ "read after rand writes", "fio", SCATTER, FIO "--rw=read --bs=1M --iodepth=4" },
	{ "write 4K qd16", "qemu-img bench", NULL,
	  "qemu-img bench -f raw -w -d 16 -s 4k -S 4096 -c @C --flush-interval=@C '@U' >/dev/null" },
	{ "read 64K qd8", "qemu-img bench", FILL, "qemu-img bench -f raw -d 8 -s 64k -S 65536 -c @D '@U' >/dev/null" },
	/* Holes: the data need not cross the socket; then what is left is the cost of a request. */
	{ "seq read 1M, empty disk", "fio", NULL, FIO "--rw=read --bs=1M --iodepth=4" },
	{ "read 64K qd8, empty disk", "qemu-img bench", NULL,
	  "qemu-img bench -f raw -d 8 -s 64k -S 65536 -c @D '@U' >/dev/null" },
	{ "copy --flush", "nbdcopy", NULL, "nbdcopy --flush '@F' '@U'" },
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

struct flush_lat {
	double flush_ms, same_ms, other_ms;	/* FLUSH's reply; slowest read after it per connection */
};

struct blk_nbd_result {
	struct bench_check server[NSERVERS];	/* could the server be started */
	struct bench_check tool[NPATTERNS];	/* was the client there and did it succeed */
	struct bench_stats mbs[NPATTERNS][NSERVERS];
	struct bench_stats lat[3][NSERVERS];	/* flush, same, other (ms) */
	struct bench_check lat_check[NSERVERS];
	uint64_t bytes, overwrites;
	int reps;
};

struct env {
	const struct blk_bench_cfg *c;
	char exe[4096], sock[4200], disk[4200], src[4200], small[4200], uri[4400];
	pid_t pid;
};

static bool have(const char *tool)
{
	return blk_bench_sh("command -v %s >/dev/null 2>&1", tool) == 0;
}

/* A fresh empty disk for server s: a store with volume "disk", or an image. */
static int make_disk(struct env *e, int s, uint64_t bytes)
{
	blk_bench_sh("rm -rf '%s'", e->disk);
	if (s == BEYOND) {
		struct blk_store *st;
		int err = blk_store_create(e->disk, 4096, BLK_DEDUP_INLINE);
		if (!err && !(err = blk_store_open(e->disk, &st))) {
			err = blk_vol_create(st, "disk", bytes);
			int cerr = blk_store_close(st);
			err = err ? err : cerr;
		}
		return err;
	}
	return blk_bench_sh("qemu-img create -q -f %s '%s' %llu", s == QEMU_QCOW2 ? "qcow2" : "raw", e->disk,
			    (unsigned long long)bytes) ? -EIO : 0;
}

/* SIGTERM, then SIGKILL if the server has not gone within 10 s (a server
 * that hangs on exit must not hang the benchmark). */
static void stop_server(struct env *e)
{
	if (e->pid > 0) {
		pid_t gone = 0;
		kill(e->pid, SIGTERM);
		for (int i = 0; i < 1000 && !(gone = waitpid(e->pid, NULL, WNOHANG)); i++)
			usleep(10000);
		if (!gone) {
			kill(e->pid, SIGKILL);
			waitpid(e->pid, NULL, 0);
		}
	}
	e->pid = 0;
	unlink(e->sock);
}

/* Starts server s on e->disk; 0 once its socket is there. */
static int start_server(struct env *e, int s)
{
	char log[4300];
	struct stat st;

	unlink(e->sock);
	snprintf(log, sizeof(log), "%s/server.log", e->c->work);
	if ((e->pid = fork()) < 0)
		return -errno;
	if (!e->pid) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		char addr[4300];
		snprintf(addr, sizeof(addr), "unix:%s", e->sock);
		if (s == BEYOND)
			execl(e->exe, "beyond", "blk", "serve", e->disk, "--nbd", addr, (char *)NULL);
		else if (s == NBDKIT)
			execlp("nbdkit", "nbdkit", "-f", "-U", e->sock, "file", e->disk, (char *)NULL);
		else
			execlp("qemu-nbd", "qemu-nbd", "-t", "-e", "8", "-x", "disk", "-k", e->sock, "-f",
			       s == QEMU_QCOW2 ? "qcow2" : "raw", "--cache=writeback", e->disk, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (!stat(e->sock, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid)
			break;
		usleep(25000);
	}
	e->pid = waitpid(e->pid, NULL, WNOHANG) == e->pid ? 0 : e->pid;
	stop_server(e);
	return -EIO;
}

#define CALIBRATE (1u << 20)

/* Runs a pattern's command line: its exit status, or -1. */
static int run(const struct env *e, const char *line, uint64_t bytes)
{
	char cmd[16384];
	size_t n = 0;

	for (const char *p = line; *p && n < sizeof(cmd) - sizeof(e->uri); p++) {
		unsigned long long v = *p != '@' ? 0 : p[1] == 'S' ? bytes : p[1] == 'C' ? bytes / 4096 : bytes / 65536;
		if (*p != '@')
			cmd[n++] = *p;
		else if (*++p == 'U' || *p == 'F')
			n += snprintf(cmd + n, sizeof(cmd) - n, "%s", *p == 'U' ? e->uri : bytes <= CALIBRATE ? e->small : e->src);
		else
			n += snprintf(cmd + n, sizeof(cmd) - n, "%llu", v);
	}
	cmd[n] = 0;
	return blk_bench_sh("%s", cmd);
}

/* --- FLUSH against reads: a pipelining client ----------------------------- */

struct cl {
	int fd;
};

static int cl_io(int fd, void *p, size_t n, bool out)
{
	while (n) {
		ssize_t r = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, MSG_WAITALL);
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= r;
	}
	return 0;
}

/* Connects to export "disk" with NBD_OPT_GO; 0 in transmission. */
static int cl_open(struct cl *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t hello[18], go[4 + 4 + 2] = { 0, 0, 0, 4, 'd', 'i', 's', 'k', 0, 0 };
	struct nbd_opt_hdr h = { htobe64(NBD_IHAVEOPT), htobe32(NBD_OPT_GO), htobe32(sizeof(go)) };
	uint32_t flags = htobe32(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	struct nbd_opt_reply r;
	uint8_t skip[512];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) || cl_io(c->fd, hello, sizeof(hello), false) ||
	    cl_io(c->fd, &flags, 4, true) || cl_io(c->fd, &h, sizeof(h), true) || cl_io(c->fd, go, sizeof(go), true))
		return -1;
	do {
		if (cl_io(c->fd, &r, sizeof(r), false) || be32toh(r.len) > sizeof(skip) ||
		    cl_io(c->fd, skip, be32toh(r.len), false))
			return -1;
	} while (be32toh(r.type) == NBD_REP_INFO);
	return be32toh(r.type) == NBD_REP_ACK ? 0 : -1;
}

static int cl_send(struct cl *c, uint16_t type, uint64_t handle, uint64_t off, uint32_t len, const void *data)
{
	struct nbd_request rq = { htobe32(NBD_REQUEST_MAGIC), 0, htobe16(type), handle, htobe64(off), htobe32(len) };

	return cl_io(c->fd, &rq, sizeof(rq), true) || (type == NBD_CMD_WRITE && cl_io(c->fd, (void *)data, len, true));
}

/* One simple reply (READs carry 4 KiB): its handle, or -1. */
static int64_t cl_reply(struct cl *c, uint8_t *buf)
{
	struct nbd_reply rp;

	if (cl_io(c->fd, &rp, sizeof(rp), false) || be32toh(rp.magic) != NBD_REPLY_MAGIC || rp.error)
		return -1;
	if ((rp.handle & 1) && cl_io(c->fd, buf, 4096, false))
		return -1;
	return (int64_t)(rp.handle >> 1);
}

#define READS 16

/* Random 4 KiB overwrites of the filled disk (64 in flight), then a FLUSH
 * on connection a with READS reads of other blocks right behind it on a
 * and on b. Handles: index << 1, | 1 for reads. */
static int flush_vs_reads(const struct env *e, uint64_t bytes, uint64_t writes, struct flush_lat *l)
{
	struct cl a = { -1 }, b = { -1 };
	uint8_t buf[4096];
	uint64_t blocks = bytes / 4096, seed = 0x9e3779b97f4a7c15ull;
	double sent, done[2 * READS + 1] = { 0 };
	int err = cl_open(&a, e->sock) || cl_open(&b, e->sock) ? -1 : 0;

	for (uint64_t i = 0; !err && i < writes; i += 64) {
		for (uint64_t k = i; !err && k < i + 64 && k < writes; k++) {
			bench_fill(buf, sizeof(buf), k + 1);
			/* the upper half: the reads go to the lower one */
			err = cl_send(&a, NBD_CMD_WRITE, k << 1, (blocks / 2 + bench_rand(&seed) % (blocks / 2)) * 4096,
				      4096, buf);
		}
		for (uint64_t k = i; !err && k < i + 64 && k < writes; k++)
			err = cl_reply(&a, buf) < 0;
	}
	sent = bench_now();
	err = err || cl_send(&a, NBD_CMD_FLUSH, (uint64_t)2 * READS << 1, 0, 0, NULL);
	for (unsigned i = 0; !err && i < 2 * READS; i++)
		err = cl_send(i < READS ? &a : &b, NBD_CMD_READ, (uint64_t)i << 1 | 1, (bench_rand(&seed) % (blocks / 2)) * 4096,
			      4096, NULL);
	for (unsigned left = 2 * READS + 1; !err && left;) {
		struct pollfd p[2] = { { .fd = a.fd, .events = POLLIN }, { .fd = b.fd, .events = POLLIN } };
		if (poll(p, 2, 60000) <= 0) {
			err = -1;
			break;
		}
		for (int k = 0; k < 2 && !err; k++) {
			if (!(p[k].revents & POLLIN))
				continue;
			int64_t h = cl_reply(k ? &b : &a, buf);
			if (h < 0 || h > 2 * READS)
				err = -1;
			else
				done[h] = bench_now(), left--;
		}
	}
	*l = (struct flush_lat){ 0 };
	for (unsigned i = 0; !err && i < 2 * READS; i++) {
		double ms = (done[i] - sent) * 1e3, *slot = i < READS ? &l->same_ms : &l->other_ms;
		*slot = ms > *slot ? ms : *slot;
	}
	l->flush_ms = err ? 0 : (done[2 * READS] - sent) * 1e3;
	if (a.fd >= 0)
		close(a.fd);
	if (b.fd >= 0)
		close(b.fd);
	return err;
}

/* --- the run ------------------------------------------------------------------ */

static const char *const tools[] = { "fio", "qemu-img", "nbdcopy" };

struct blk_nbd_result *blk_bench_nbd(const struct blk_bench_cfg *c, int quick)
{
	struct blk_nbd_result *r = calloc(1, sizeof(*r));
	double mbs[NPATTERNS][NSERVERS][BLK_BENCH_MAX_REPS], lat[3][NSERVERS][BLK_BENCH_MAX_REPS];
	struct env e = { .c = c };
	struct bench_progress pr;

	if (!r)
		return NULL;
	r->bytes = quick ? 128 << 20 : 512 << 20;
	r->overwrites = quick ? 4096 : 32768;
	r->reps = c->reps < BLK_BENCH_MAX_REPS ? c->reps : BLK_BENCH_MAX_REPS;
	ssize_t n = readlink("/proc/self/exe", e.exe, sizeof(e.exe) - 1);
	e.exe[n > 0 ? n : 0] = 0;
	snprintf(e.sock, sizeof(e.sock), "%s/nbd.sock", c->work);
	snprintf(e.disk, sizeof(e.disk), "%s/disk", c->work);
	snprintf(e.src, sizeof(e.src), "%s/src.raw", c->work);
	snprintf(e.small, sizeof(e.small), "%s/small.raw", c->work);
	snprintf(e.uri, sizeof(e.uri), "nbd+unix:///disk?socket=%s", e.sock);
	for (int s = 0; s < NSERVERS; s++) {
		bench_check_init(&r->server[s]);
		bench_check_init(&r->lat_check[s]);
	}
	if (!have("qemu-nbd")) {
		bench_fail(&r->server[QEMU_RAW], "qemu-nbd (qemu-utils) is missing");
		bench_fail(&r->server[QEMU_QCOW2], "qemu-nbd (qemu-utils) is missing");
	}
	if (!have("nbdkit"))
		bench_fail(&r->server[NBDKIT], "nbdkit is missing");
	for (size_t p = 0; p < NPATTERNS; p++) {
		bench_check_init(&r->tool[p]);
		for (size_t t = 0; t < sizeof(tools) / sizeof(tools[0]); t++)
			if (strstr(patterns[p].tool, tools[t]) == patterns[p].tool && !have(tools[t]))
				bench_fail(&r->tool[p], "%s is missing", tools[t]);
		if (patterns[p].prep && !have("fio"))
			bench_fail(&r->tool[p], "fio (its preparation) is missing");
	}
	/* The data nbdcopy copies: incompressible, no duplicate blocks. */
	char *data = malloc(1 << 20);
	FILE *f = data ? fopen(e.src, "w") : NULL;
	for (uint64_t off = 0; f && off < r->bytes; off += 1 << 20) {
		bench_fill(data, 1 << 20, off + 7);
		fwrite(data, 1, 1 << 20, f);
	}
	if (!f || fclose(f) || blk_bench_sh("head -c %u '%s' >'%s'", CALIBRATE, e.src, e.small))
		bench_fail(&r->tool[NPATTERNS - 1], "cannot write the source file");
	free(data);

	/* Interleaved: rep by rep, pattern by pattern, the servers in turn. */
	bench_progress_start(&pr, r->reps * (NPATTERNS + 1) * NSERVERS);
	for (int rep = 0; rep < r->reps; rep++) {
		for (size_t p = 0; p <= NPATTERNS; p++) {
			for (int s = 0; s < NSERVERS; s++) {
				const struct pattern *pt = p < NPATTERNS ? &patterns[p] : NULL;
				struct bench_check *chk = pt ? &r->tool[p] : &r->lat_check[s];
				bench_progress(&pr, "NBD %s: %s %s", server_names[s], pt ? pt->tool : "FLUSH vs reads",
					       pt ? pt->name : "");
				if (!r->server[s].achieved || !chk->achieved)
					continue;
				if (make_disk(&e, s, r->bytes) || start_server(&e, s)) {
					bench_fail(&r->server[s], "%s did not start (see its log in the scratch directory)",
						   server_names[s]);
					continue;
				}
				const char *prep = pt ? pt->prep : FILL;
				double t0 = bench_now();
				if (pt && run(&e, pt->cmd, CALIBRATE))
					bench_fail(chk, "%s failed against %s", pt->tool, server_names[s]);
				double startup = bench_now() - t0;
				if (prep && chk->achieved && run(&e, prep, r->bytes))
					bench_fail(chk, "the preparation (%s) failed against %s", prep, server_names[s]);
				if (chk->achieved && pt) {
					t0 = bench_now();
					if (run(&e, pt->cmd, r->bytes))
						bench_fail(chk, "%s failed against %s", pt->tool, server_names[s]);
					/* Noise can make the difference absurdly small: it is
					 * taken as a quarter of the whole time at least. */
					double t = bench_now() - t0, d = t - startup > t / 4 ? t - startup : t / 4;
					mbs[p][s][rep] = (r->bytes - CALIBRATE) / d / 1e6;
				} else if (chk->achieved) {
					struct flush_lat l;
					if (flush_vs_reads(&e, r->bytes, r->overwrites, &l))
						bench_fail(chk, "the FLUSH-vs-reads client failed against %s", server_names[s]);
					lat[0][s][rep] = l.flush_ms, lat[1][s][rep] = l.same_ms, lat[2][s][rep] = l.other_ms;
				}
				stop_server(&e);
			}
		}
	}
	bench_progress_end(&pr);
	blk_bench_sh("rm -rf '%s' '%s' '%s'", e.disk, e.src, e.small);
	for (int s = 0; s < NSERVERS; s++) {
		for (size_t p = 0; p < NPATTERNS; p++)
			if (r->server[s].achieved && r->tool[p].achieved)
				bench_stats(mbs[p][s], r->reps, &r->mbs[p][s]);
		for (int k = 0; k < 3; k++)
			if (r->server[s].achieved && r->lat_check[s].achieved)
				bench_stats(lat[k][s], r->reps, &r->lat[k][s]);
	}
	return r;
}

static bool measured(const struct blk_nbd_result *r, size_t p, int s)
{
	return r->server[s].achieved && r->tool[p].achieved;
}

void blk_bench_nbd_print(const struct blk_nbd_result *r)
{
	printf("\n== NBD: beyond's server against qemu-nbd and nbdkit, %llu MiB per pattern, median of %d (MB/s; "
	       "writes timed to their final flush, less a 1 MiB run's time)\n%-24s %-15s", (unsigned long long)(r->bytes >> 20), r->reps,
	       "pattern", "client");
	for (int s = 0; s < NSERVERS; s++)
		printf(" %14s", server_names[s]);
	printf(" %10s\n", "vs qemu raw");
	for (size_t p = 0; p < NPATTERNS; p++) {
		printf("%-24s %-15s", patterns[p].name, patterns[p].tool);
		for (int s = 0; s < NSERVERS; s++)
			if (measured(r, p, s))
				printf(" %14.0f", r->mbs[p][s].median);
			else
				printf(" %14s", "-");
		if (measured(r, p, BEYOND) && measured(r, p, QEMU_RAW))
			printf(" %10.2f\n", r->mbs[p][BEYOND].median / r->mbs[p][QEMU_RAW].median);
		else
			printf(" %10s\n", "-");
	}
	printf("\n== NBD: a FLUSH after %llu random 4K overwrites, %d reads sent right after it (ms, median of %d; "
	       "want the reads <= 10)\n%-16s %10s %16s %16s\n", (unsigned long long)r->overwrites, READS, r->reps,
	       "server", "FLUSH", "reads same conn", "reads other conn");
	for (int s = 0; s < NSERVERS; s++)
		if (r->server[s].achieved && r->lat_check[s].achieved)
			printf("%-16s %10.1f %16.1f %16.1f\n", server_names[s], r->lat[0][s].median, r->lat[1][s].median,
			       r->lat[2][s].median);
	for (int s = 0; s < NSERVERS; s++)
		if (!r->server[s].achieved || !r->lat_check[s].achieved)
			printf("%s: not achieved: %s\n", server_names[s],
			       r->server[s].achieved ? r->lat_check[s].reason : r->server[s].reason);
	for (size_t p = 0; p < NPATTERNS; p++)
		if (!r->tool[p].achieved)
			printf("%s (%s): not achieved: %s\n", patterns[p].name, patterns[p].tool, r->tool[p].reason);
}

void blk_bench_nbd_json(struct json *j, const struct blk_nbd_result *r)
{
	json_object(j, "nbd", 1);
	json_uint(j, "bytes", r->bytes);
	json_uint(j, "flush_overwrites", r->overwrites);
	json_object(j, "servers", 1);
	for (int s = 0; s < NSERVERS; s++) {
		json_object(j, server_keys[s], 0);
		json_check(j, &r->server[s]);
		json_end(j);
	}
	json_end(j);
	json_array(j, "patterns", 1);
	for (size_t p = 0; p < NPATTERNS; p++) {
		json_object(j, NULL, 0);
		json_str(j, "pattern", patterns[p].name);
		json_str(j, "client", patterns[p].tool);
		json_check(j, &r->tool[p]);
		for (int s = 0; s < NSERVERS; s++)
			if (measured(r, p, s))
				json_num(j, server_keys[s], r->mbs[p][s].median, 1);
		if (measured(r, p, BEYOND) && measured(r, p, QEMU_RAW))
			json_num(j, "ratio_vs_qemu_nbd_raw", r->mbs[p][BEYOND].median / r->mbs[p][QEMU_RAW].median, 3);
		json_end(j);
	}
	json_end(j);
	json_array(j, "flush_vs_reads_ms", 1);
	for (int s = 0; s < NSERVERS; s++) {
		json_object(j, NULL, 0);
		json_str(j, "server", server_keys[s]);
		json_check(j, r->server[s].achieved ? &r->lat_check[s] : &r->server[s]);
		if (r->server[s].achieved && r->lat_check[s].achieved) {
			json_num(j, "flush", r->lat[0][s].median, 2);
			json_num(j, "reads_same_conn_max", r->lat[1][s].median, 2);
			json_num(j, "reads_other_conn_max", r->lat[2][s].median, 2);
		}
		json_end(j);
	}
	json_end(j);
	json_end(j);
}

void blk_bench_nbd_free(struct blk_nbd_result *r)
{
	free(r);
}
