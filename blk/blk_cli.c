/* `beyond blk ...`: the block store's command line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/blk_cli.h"
#include "blk/image.h"
#include "blk/nbd.h"
#include "blk/store.h"
#include "hv/json.h"
#include "hv/seccomp.h"

static const char usage[] =
	"usage: beyond blk COMMAND STORE ...\n"
	"  create STORE [--block-size N] [--dedup inline|background]\n"
	"                                 new store (block size 4K-64K, default 4096)\n"
	"  create-volume STORE VOL SIZE   new empty thin volume (SIZE in bytes, K/M/G/T suffix)\n"
	"  import STORE VOL FILE          new volume from a raw image or block device\n"
	"  export STORE VOL FILE          write a volume or snapshot out as a raw image\n"
	"                                 (unreadable blocks are named and written as zeros)\n"
	"  snapshot STORE VOL SNAP        read-only snapshot, instant, shares all blocks\n"
	"  clone STORE SNAP NEWVOL        writable copy of a snapshot or volume, instant\n"
	"  rm STORE NAME                  delete a volume or snapshot, freeing its blocks\n"
	"  list STORE                     volumes and snapshots\n"
	"  stat STORE [--json]            space used, dedup ratio, index memory\n"
	"  dedup STORE                    merge duplicates left by --dedup background\n"
	"  fsck STORE [--repair]          verify metadata copies, journal, maps, reference\n"
	"                                 counts, block hashes (--repair: fix what it can)\n"
	"  serve STORE --nbd unix:PATH|tcp:127.0.0.1:PORT [--max-clients N] [--timeout S]\n"
	"        [--idle-timeout S] [--no-seccomp]\n"
	"                                 export the volumes over NBD (export name = volume);\n"
	"                                 N clients at once (16), S seconds for a handshake or a\n"
	"                                 request (30) and between requests (300, 0: forever);\n"
	"                                 --no-seccomp serves without the syscall filter\n"
	"list, stat, export and fsck without --repair only read the store.\n";

static int bad_usage(const char *why)
{
	fprintf(stderr, "beyond blk: %s\n%s", why, usage);
	return 2;
}

static int parse_size(const char *str, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(str, &end, 10);
	unsigned shift = 0;

	switch (*end) {
	case 'T': case 't': shift += 10; /* fall through */
	case 'G': case 'g': shift += 10; /* fall through */
	case 'M': case 'm': shift += 10; /* fall through */
	case 'K': case 'k': shift += 10; end++; break;
	}
	if (errno || end == str || *end || str[0] == '-' || (v << shift) >> shift != v)
		return -1;
	*out = v << shift;
	return 0;
}

static void human(char *buf, size_t n, uint64_t bytes)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* --- import / export ------------------------------------------------------ */

static int cmd_import(struct blk_store *s, char **argv)
{
	const char *name = argv[0], *file = argv[1];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);	/* works for block devices too */

	if (size <= 0) {
		fprintf(stderr, "beyond blk: %s: %s\n", file, fd < 0 ? strerror(errno) : "empty or not seekable");
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	struct blk_vol *v;
	int err = blk_vol_create(s, name, size);
	if (!err)
		err = blk_vol_open(s, name, &v);
	if (err) {
		close(fd);
		return err;
	}
	err = blk_image_in(v, fd, size, file);
	close(fd);
	blk_vol_close(v);
	if (!err)
		err = blk_flush(s);
	if (err) {
		fprintf(stderr, "beyond blk: import of %s failed; removing the partial volume %s\n", file, name);
		blk_vol_remove(s, name);
	}
	return err;
}

static int cmd_export(struct blk_store *s, char **argv)
{
	struct blk_vol *v;
	int err = blk_vol_open(s, argv[0], &v);
	if (err)
		return err;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "beyond blk: %s: %s\n", argv[1], strerror(errno));
	} else {
		err = blk_image_out(v, fd, argv[1]);
		close(fd);
	}
	blk_vol_close(v);
	return err;
}

/* --- reporting ------------------------------------------------------------- */

static void list_json(const struct blk_vol_info *vi, void *arg)
{
	struct json *j = arg;

	json_object(j, NULL, 0);
	json_str(j, "name", vi->name);
	json_str(j, "kind", vi->readonly ? "snapshot" : "volume");
	json_uint(j, "size", vi->size);
	json_uint(j, "mapped_bytes", vi->mapped_bytes);
	json_uint(j, "exclusive_bytes", vi->exclusive_bytes);
	json_end(j);
}

static void list_one(const struct blk_vol_info *vi, void *arg)
{
	char size[32], mapped[32], excl[32];

	(void)arg;
	human(size, sizeof(size), vi->size);
	human(mapped, sizeof(mapped), vi->mapped_bytes);
	human(excl, sizeof(excl), vi->exclusive_bytes);
	printf("%-24s %-8s %12s %12s %12s\n", vi->name, vi->readonly ? "snapshot" : "volume", size, mapped, excl);
}

static int cmd_list(struct blk_store *s)
{
	printf("%-24s %-8s %12s %12s %12s\n", "NAME", "KIND", "SIZE", "MAPPED", "EXCLUSIVE");
	return blk_list(s, list_one, NULL);
}

static int cmd_stat(struct blk_store *s, const char *dir, bool json)
{
	struct blk_stats st;
	blk_stat(s, &st);
	double ratio = st.unique_bytes ? (double)st.mapped_bytes / st.unique_bytes : 1.0;
	double per_block = st.unique_blocks ? (double)st.index_bytes / st.unique_blocks : 0;
	const char *mode = st.dedup == BLK_DEDUP_INLINE ? "inline" : "background";

	if (json) {
		struct json j;
		json_start(&j, stdout);
		json_object(&j, NULL, 1);
		json_str(&j, "store", dir);
		json_uint(&j, "block_size", st.block_size);
		json_str(&j, "dedup", mode);
		json_uint(&j, "logical_bytes", st.logical_bytes);
		json_uint(&j, "mapped_bytes", st.mapped_bytes);
		json_uint(&j, "unique_bytes", st.unique_bytes);
		json_uint(&j, "physical_bytes", st.physical_bytes);
		json_uint(&j, "saved_bytes", st.mapped_bytes - st.unique_bytes);
		json_num(&j, "dedup_ratio", ratio, 3);
		json_uint(&j, "unique_blocks", st.unique_blocks);
		json_uint(&j, "index_bytes", st.index_bytes);
		json_num(&j, "index_bytes_per_unique_block", per_block, 1);
		json_array(&j, "volumes", 1);
		blk_list(s, list_json, &j);
		json_end(&j);
		json_end(&j);
		return 0;
	}
	char lg[32], mp[32], un[32], ph[32], sv[32], ix[32];
	human(lg, sizeof(lg), st.logical_bytes);
	human(mp, sizeof(mp), st.mapped_bytes);
	human(un, sizeof(un), st.unique_bytes);
	human(ph, sizeof(ph), st.physical_bytes);
	human(sv, sizeof(sv), st.mapped_bytes - st.unique_bytes);
	human(ix, sizeof(ix), st.index_bytes);
	printf("store             %s\nblock size        %u\ndedup             %s\nvolumes           %u\n"
	       "logical           %s (sum of volume sizes)\nmapped            %s (non-zero blocks)\n"
	       "stored unique     %s\nphysical on disk  %s\nsaved by dedup    %s\ndedup ratio       %.2f\n"
	       "index memory      %s (%.1f bytes per unique block)\n\n",
	       dir, st.block_size, mode, st.volumes, lg, mp, un, ph, sv, ratio, ix, per_block);
	return cmd_list(s);
}

static int cmd_fsck(struct blk_store *s, bool repair)
{
	struct blk_fsck r;
	int64_t left = blk_fsck(s, repair, &r);

	if (left < 0)
		return left;
	printf("checked %" PRIu64 " blocks: %" PRIu64 " corrupt, %" PRIu64 " bad map entries, %" PRIu64
	       " leaked references, %" PRIu64 " missing references, %" PRIu64 " leaked free blocks; "
	       "%" PRIu64 " damaged metadata copies, %" PRIu64 " damaged journal (%" PRIu64
	       " intact commits after the damage %s); %" PRIu64 " repaired\n", r.slots_checked,
	       r.corrupt_blocks, r.bad_maps, r.refcount_leaks, r.refcount_short, r.space_leaks,
	       r.damaged_meta, r.journal_damage, r.lost_commits, repair ? "dropped" : "not applied",
	       r.repaired);
	if (r.unreclaimed)
		printf("%" PRIu64 " free blocks left on disk by a crash are returned when the store is next "
		       "opened for writing\n", r.unreclaimed);
	if (left)
		fprintf(stderr, "beyond blk: %" PRId64 " problem(s) left%s\n", left,
			repair ? "" : "; --repair fixes reference counts, leaked space and metadata copies, "
			"and drops journal commits after damage");
	return left ? -EUCLEAN : 0;
}

/* --- serve ----------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void *dedup_thread(void *arg)
{
	while (!stop) {
		for (int i = 0; i < 50 && !stop; i++)
			usleep(100000);
		if (!stop)
			blk_dedup(arg);
	}
	return NULL;
}

struct serve_opts {
	const char *addr;
	struct blk_nbd_opts nbd;
	bool seccomp;
};

static int parse_serve(char **args, int nargs, struct serve_opts *o)
{
	static const struct { const char *name; unsigned min, max; } num[] = {
		{ "--max-clients", 1, BLK_NBD_MAX_CLIENTS }, { "--timeout", 1, 86400 },
		{ "--idle-timeout", 0, 86400 * 365 },
	};
	unsigned *to[] = { &o->nbd.max_clients, &o->nbd.timeout, &o->nbd.idle_timeout };

	for (int i = 0; i < nargs; i++) {
		size_t k = 0;
		while (k < sizeof(num) / sizeof(num[0]) && strcmp(args[i], num[k].name))
			k++;
		uint64_t v;
		if (!strcmp(args[i], "--no-seccomp"))
			o->seccomp = false;
		else if (!strcmp(args[i], "--nbd") && i + 1 < nargs)
			o->addr = args[++i];
		else if (k == sizeof(num) / sizeof(num[0]) || i + 1 == nargs || parse_size(args[++i], &v) ||
			 v < num[k].min || v > num[k].max)
			return bad_usage("bad option to serve");
		else
			*to[k] = v;
	}
	return o->addr ? 0 : bad_usage("serve needs --nbd unix:PATH or --nbd tcp:127.0.0.1:PORT");
}

static int cmd_serve(struct blk_store *s, const struct serve_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t t;
	bool bg = blk_store_dedup_mode(s) == BLK_DEDUP_BACKGROUND;
	int lfd = blk_nbd_listen(o->addr);

	if (lfd < 0) {
		blk_err("cannot listen on %s: %s (use unix:PATH or tcp:127.0.0.1:PORT)", o->addr, strerror(-lfd));
		return lfd;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Client and dedup threads inherit the filter. */
	if (o->seccomp && seccomp_enter(SECCOMP_NBD)) {
		int err = -errno;
		blk_err("cannot arm seccomp: %s", strerror(-err));
		close(lfd);
		return err;
	}
	if (bg && pthread_create(&t, NULL, dedup_thread, s))
		bg = false;
	fprintf(stderr, "beyond blk: serving on %s%s\n", o->addr, bg ? " (deduplicating every 5 s)" : "");
	int err = blk_nbd_serve(s, lfd, &o->nbd, &stop);
	stop = 1;
	if (bg)
		pthread_join(t, NULL);
	if (!strncmp(o->addr, "unix:", 5))
		unlink(o->addr + 5);
	return err;
}

/* --- dispatch ------------------------------------------------------------- */

static int cmd_create(int argc, char **argv)
{
	uint64_t bs = 4096;
	enum blk_dedup mode = BLK_DEDUP_INLINE;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--block-size") && i + 1 < argc) {
			if (parse_size(argv[++i], &bs) || bs > UINT32_MAX)
				return bad_usage("bad --block-size");
		} else if (!strcmp(argv[i], "--dedup") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "background"))
				mode = BLK_DEDUP_BACKGROUND;
			else if (strcmp(argv[i], "inline"))
				return bad_usage("--dedup takes inline or background");
		} else {
			return bad_usage("unknown option to create");
		}
	}
	return blk_store_create(argv[2], bs, mode) ? 1 : 0;
}

struct opts {
	const char *dir;
	struct serve_opts serve;
	bool json, repair;
	uint64_t size;
};

static int do_create_volume(struct blk_store *s, char **a, const struct opts *o) { return blk_vol_create(s, a[0], o->size); }
static int do_import(struct blk_store *s, char **a, const struct opts *o) { (void)o; return cmd_import(s, a); }
static int do_export(struct blk_store *s, char **a, const struct opts *o) { (void)o; return cmd_export(s, a); }
static int do_snapshot(struct blk_store *s, char **a, const struct opts *o) { (void)o; return blk_vol_copy(s, a[0], a[1], false); }
static int do_clone(struct blk_store *s, char **a, const struct opts *o) { (void)o; return blk_vol_copy(s, a[0], a[1], true); }
static int do_rm(struct blk_store *s, char **a, const struct opts *o) { (void)o; return blk_vol_remove(s, a[0]); }
static int do_list(struct blk_store *s, char **a, const struct opts *o) { (void)a; (void)o; return cmd_list(s); }
static int do_stat(struct blk_store *s, char **a, const struct opts *o) { (void)a; return cmd_stat(s, o->dir, o->json); }
static int do_fsck(struct blk_store *s, char **a, const struct opts *o) { (void)a; return cmd_fsck(s, o->repair); }
static int do_serve(struct blk_store *s, char **a, const struct opts *o) { (void)a; return cmd_serve(s, &o->serve); }

static int do_dedup(struct blk_store *s, char **a, const struct opts *o)
{
	(void)a; (void)o;
	int64_t merged = blk_dedup(s);

	if (merged < 0)
		return merged;
	printf("merged %" PRId64 " duplicate blocks, %" PRIu64 " bytes saved\n", merged,
	       (uint64_t)merged * blk_store_block_size(s));
	return 0;
}

static const struct cmd {
	const char *name;
	int nargs;		/* after STORE */
	const char *option;	/* the one option it takes, if any */
	enum blk_open_mode mode;	/* fsck --repair: BLK_OPEN_REPAIR */
	int (*fn)(struct blk_store *, char **, const struct opts *);
} cmds[] = {
	{ "create-volume", 2, NULL, BLK_OPEN_WRITE, do_create_volume },
	{ "import", 2, NULL, BLK_OPEN_WRITE, do_import },
	{ "export", 2, NULL, BLK_OPEN_READ, do_export },
	{ "snapshot", 2, NULL, BLK_OPEN_WRITE, do_snapshot },
	{ "clone", 2, NULL, BLK_OPEN_WRITE, do_clone },
	{ "rm", 1, NULL, BLK_OPEN_WRITE, do_rm },
	{ "list", 0, NULL, BLK_OPEN_READ, do_list },
	{ "stat", 0, "--json", BLK_OPEN_READ, do_stat },
	{ "dedup", 0, NULL, BLK_OPEN_WRITE, do_dedup },
	{ "fsck", 0, "--repair", BLK_OPEN_READ, do_fsck },
	{ "serve", 0, NULL, BLK_OPEN_WRITE, do_serve },
};

int blk_cli_main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (argc < 3)
		return bad_usage("missing STORE");
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc, argv);

	const struct cmd *c = NULL;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			c = &cmds[i];
	if (!c)
		return bad_usage("unknown command");
	char **args = argv + 3;
	int nargs = argc - 3;
	struct opts o = { .dir = argv[2], .serve = { .nbd = BLK_NBD_DEFAULT_OPTS, .seccomp = true } };
	if (nargs < c->nargs)
		return bad_usage("missing arguments");
	if (c->fn == do_serve && parse_serve(args, nargs, &o.serve))
		return 2;
	for (int i = c->nargs; i < nargs && c->fn != do_serve; i++) {
		if (!c->option || strcmp(args[i], c->option))
			return bad_usage("unexpected argument");
		o.json = o.json || !strcmp(args[i], "--json");
		o.repair = o.repair || !strcmp(args[i], "--repair");
	}
	if (c->fn == do_create_volume && parse_size(args[1], &o.size))
		return bad_usage("bad SIZE");

	struct blk_store *s;
	if (blk_store_open_mode(o.dir, o.repair ? BLK_OPEN_REPAIR : c->mode, &s))
		return 1;
	int err = c->fn(s, args, &o);
	int cerr = blk_store_close(s);
	return err || cerr ? 1 : 0;
}
