/* `beyond run`: one guest from the command line, or several from --config, under the scheduler. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blk/io_cap.h"
#include "hv/cli/cli.h"
#include "hv/cli/config.h"
#include "hv/guests.h"
#include "hv/sched/sched.h"
#include "hv/seccomp.h"
#include "hv/stats.h"
#include "hv/vm.h"
#include "mm/pagetable.h"

static const char run_usage_core[] =
	"usage: beyond run [--mem SIZE] [--vcpus N] [--guest-pages 4k|2m|1g]\n"
	"                  [--host-pages 4k|thp|hugetlb2m|hugetlb1g] [--prefault]\n"
	"                  [--timeout SECONDS] [--verbose] [--stats] [--stats-json FILE]\n"
	"                  [--sched os|gang|relaxed] [--cpus LIST] [--slice TIME] [--rt] [--control PATH]\n"
	"                  [--no-seccomp] [MODULE OPTIONS] GUEST [ARGS...]\n"
	"       beyond run [OPTIONS] --config FILE      several VMs (see the README)\n"
	"GUEST is an ELF image or a built-in guest (beyond guests). Without --config the\n"
	"options above --verbose set the VM; with it, they are every VM's defaults. The\n"
	"others may also stand in the file's [run] section; the command line wins.\n"
	"--no-seccomp runs without the per-thread syscall filters (for debugging).\n";

static const struct option core_opts[] = {
	{ "mem", required_argument, NULL, 'm' },
	{ "vcpus", required_argument, NULL, 'c' },
	{ "guest-pages", required_argument, NULL, 'g' },
	{ "host-pages", required_argument, NULL, 'H' },
	{ "prefault", no_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "stats", no_argument, NULL, 's' },
	{ "stats-json", required_argument, NULL, 'j' },
	{ "no-seccomp", no_argument, NULL, 'S' },
	{ "config", required_argument, NULL, 'F' },
	{ "sched", required_argument, NULL, 'P' },
	{ "cpus", required_argument, NULL, 'C' },
	{ "slice", required_argument, NULL, 'L' },
	{ "control", required_argument, NULL, 'K' },
	{ "rt", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
};
#define N_CORE_OPTS (sizeof(core_opts) / sizeof(core_opts[0]))
#define MAX_MODULE_OPTS 64
#define MODULE_OPT 0x100 /* getopt's value for every module option */
/* Options that set a VM (--config's per-VM keys); the others set the run. */
#define IS_VM_OPT(c) ((c) == MODULE_OPT || ((c) > 0 && (c) < 0x80 && strchr("mcgHpt", (c))))

/* The core usage plus one line per module option. */
static const char *run_usage(void)
{
	static char text[4096];
	size_t n = snprintf(text, sizeof(text), "%s", run_usage_core);
	for (size_t i = 0; i < module_count(); i++)
		for (const struct module_option *o = module_at(i)->options; o && o->name; o++) {
			char head[64];
			snprintf(head, sizeof(head), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			if (n < sizeof(text))
				n += snprintf(text + n, sizeof(text) - n, "  %-30s %s (%s)\n", head, o->help,
					      module_at(i)->name);
		}
	return text;
}

/* getopt's table: the core options, then every module's; a name may be taken once. */
static int build_opts(struct option *opts, char *err, size_t errlen)
{
	size_t n = N_CORE_OPTS;
	memcpy(opts, core_opts, sizeof(core_opts));
	for (size_t i = 0; i < module_count(); i++)
		for (const struct module_option *o = module_at(i)->options; o && o->name; o++) {
			for (size_t j = 0; j < n; j++)
				if (strcmp(opts[j].name, o->name) == 0)
					return snprintf(err, errlen, "module %s: option --%s is taken",
							module_at(i)->name, o->name), -1;
			if (n == N_CORE_OPTS + MAX_MODULE_OPTS)
				return snprintf(err, errlen, "more than %d module options", MAX_MODULE_OPTS), -1;
			opts[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
						     MODULE_OPT };
		}
	opts[n] = (struct option){ 0 };
	return 0;
}

/* One VM of the run. */
struct run_vm {
	struct vm_config cfg;
	struct vm_option *opts;      /* cfg.options, room for every option given */
	const char *guest;
	char *args;                  /* --config's args, split in place into argv */
	char *argv[BEYOND_MAX_ARGS];
	uint8_t *file;
	int console[2];              /* --config: a pipe the console thread prefixes */
	int created;
	struct vm vm;
};

/* What the whole run is told. */
struct run_opts {
	int verbose;                 /* how each guest ended and how its RAM was backed */
	int stats;                   /* every module's counters, as text on stderr */
	const char *stats_json;      /* ... or as JSON into this file */
	const char *config, *control;
	int no_seccomp;              /* filters are per thread of the one process: all VMs or none */
	struct sched_options sched;
	unsigned char given[0x80];   /* run options given on the command line: a [run] section does not override them */
};

/* A per-VM option's value into cfg (module options in order into cfg->options); 0 or -1 with err. */
static int vm_setting(int c, const char *name, const char *value, struct vm_config *cfg, struct vm_option *opts,
		      char *err, size_t errlen)
{
	char *end;
	switch (c) {
	case 'm':
		return parse_size(value, &cfg->mem_size) ? snprintf(err, errlen, "bad --mem '%s'", value), -1 : 0;
	case 'c':
		cfg->vcpus = (unsigned)strtoul(value, &end, 10);
		return *end || !*value || cfg->vcpus == 0 ? snprintf(err, errlen, "bad --vcpus '%s'", value), -1 : 0;
	case 'g':
		return guest_pages_parse(value, &cfg->guest_page) ? snprintf(err, errlen, "bad --guest-pages '%s'", value), -1 : 0;
	case 'H':
		return host_pages_parse(value, &cfg->host_pages) ? snprintf(err, errlen, "bad --host-pages '%s'", value), -1 : 0;
	case 'p':
		cfg->populate = 1;
		return 0;
	case 't':
		cfg->timeout = strtod(value, &end);
		return *end || !*value || !(cfg->timeout > 0 && cfg->timeout <= VM_MAX_TIMEOUT)
			? snprintf(err, errlen, "bad --timeout '%s'", value), -1 : 0;
	}
	const struct module_option *o;
	const struct module *m = module_for_option(name, &o);
	char why[256];
	if (m->check_option && m->check_option(o->name, value, why, sizeof(why)))
		return snprintf(err, errlen, "bad --%s: %s", o->name, why), -1;
	opts[cfg->n_options++] = (struct vm_option){ o->name, value };
	return 0;
}

/* The run's own options; 0 or -1 with err. */
static int run_setting(int c, const char *value, struct run_opts *ro, char *err, size_t errlen)
{
	switch (c) {
	case 'v': ro->verbose = 1; break;
	case 's': ro->stats = 1; break;
	case 'j': ro->stats_json = value; break;
	case 'F': ro->config = value; break;
	case 'K': ro->control = value; break;
	case 'S': ro->no_seccomp = 1; break;
	case 'R': ro->sched.rt = 1; break;
	case 'P':
		if (sched_policy_parse(value, &ro->sched.policy))
			return snprintf(err, errlen, "bad --sched '%s' (os, gang or relaxed)", value), -1;
		break;
	case 'C':
		return sched_parse_cpus(value, &ro->sched, err, errlen);
	case 'L':
		if (sched_parse_slice(value, &ro->sched.slice_ns))
			return snprintf(err, errlen, "bad --slice '%s' (100us..100ms, e.g. 5ms)", value), -1;
		break;
	}
	return 0;
}

/* Parses the command line into base (per VM) and ro; returns -1 to go on, or the exit status. */
static int parse_command_line(int argc, char **argv, struct run_vm *base, struct run_opts *ro)
{
	struct option opts[N_CORE_OPTS + MAX_MODULE_OPTS + 1];
	char err[512];
	int c, index;
	if (build_opts(opts, err, sizeof(err)))
		return setup_error("%s", err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:c:g:H:pt:vh", opts, &index)) != -1) {
		if (c == 'h') {
			fputs(run_usage(), stdout);
			return 0;
		}
		if (c == '?')
			return usage_error(run_usage(), NULL);
		int r = IS_VM_OPT(c) ? vm_setting(c, c == MODULE_OPT ? opts[index].name : NULL, optarg, &base->cfg, base->opts, err, sizeof(err))
				     : run_setting(c, optarg, ro, err, sizeof(err));
		if (!IS_VM_OPT(c))
			ro->given[c] = 1;
		if (r)
			return usage_error(run_usage(), "%s", err);
	}
	if (ro->config && optind < argc)
		return usage_error(run_usage(), "--config names the guests: no GUEST '%s' too", argv[optind]);
	if (!ro->config && optind >= argc)
		return usage_error(run_usage(), "no GUEST given");
	return -1;
}

/* The built-in guest or image file named guest; 0 or -1 with err. */
static int load_guest(struct run_vm *r, const char *guest, char *err, size_t errlen)
{
	const struct builtin_guest *b = builtin_guest_find(guest);
	r->guest = guest;
	if (b) {
		r->cfg.image = b->image;
		r->cfg.image_size = b->size;
		return 0;
	}
	if (!strchr(guest, '/') && access(guest, F_OK) != 0)
		return snprintf(err, errlen, "no guest '%s': not a file and not a built-in guest (see beyond guests)",
				guest), -1;
	size_t size;
	if (read_file(guest, &r->file, &size, err, errlen))
		return -1;
	r->cfg.image = r->file;
	r->cfg.image_size = size;
	return 0;
}

/* The per-VM option named key (a core one or a module's): its getopt value, or 0. */
static int vm_option_code(const struct option *opts, const char *key, int *takes_value)
{
	for (const struct option *o = opts; o->name; o++)
		if (strcmp(o->name, key) == 0 && IS_VM_OPT(o->val)) {
			*takes_value = o->has_arg == required_argument;
			return o->val;
		}
	return 0;
}

static int is_core_option(const char *key)
{
	for (size_t i = 0; i < N_CORE_OPTS; i++)
		if (strcmp(core_opts[i].name, key) == 0)
			return 1;
	return 0;
}

static int vm_section(const struct config_section *s, const struct option *opts, struct run_vm *r,
		      char *err, size_t errlen)
{
	char why[512];
	r->cfg.name = s->name;
	for (unsigned k = 0; k < s->n; k++) {
		const struct config_entry *e = &s->entries[k];
		int takes_value = 1, c = vm_option_code(opts, e->key, &takes_value);
		if (strcmp(e->key, "guest") == 0 || strcmp(e->key, "args") == 0) {
			if (!e->value)
				return snprintf(err, errlen, "%u: %s needs a value", e->line, e->key), -1;
			if (e->key[0] == 'g' && r->guest)
				return snprintf(err, errlen, "%u: a second guest for vm %s", e->line, s->name), -1;
			if (e->key[0] == 'g' ? load_guest(r, e->value, why, sizeof(why)) : 0)
				return snprintf(err, errlen, "%u: %s", e->line, why), -1;
			if (e->key[0] == 'a') {
				free(r->args);
				if (!(r->args = strdup(e->value)))
					return snprintf(err, errlen, "out of memory"), -1;
			}
			continue;
		}
		if (!c)
			return snprintf(err, errlen, "%u: '%s' is not a per-VM option of beyond run%s", e->line, e->key,
					is_core_option(e->key) || strcmp(e->key, "name") == 0
					? "" : " (beyond run --help lists them)"), -1;
		if (takes_value != (e->value != NULL))
			return snprintf(err, errlen, "%u: %s %s", e->line, e->key,
					takes_value ? "needs a value (key = value)" : "is a flag: it takes no value"), -1;
		if (vm_setting(c, e->key, e->value, &r->cfg, r->opts, why, sizeof(why)))
			return snprintf(err, errlen, "%u: %s", e->line, why), -1;
	}
	if (!r->guest)
		return snprintf(err, errlen, "%u: vm %s has no guest = ...", s->line, s->name), -1;
	for (char *save, *t = r->args ? strtok_r(r->args, " \t", &save) : NULL; t; t = strtok_r(NULL, " \t", &save)) {
		if (r->cfg.argc == BEYOND_MAX_ARGS - 1)
			return snprintf(err, errlen, "%u: more than %d arguments", s->line, BEYOND_MAX_ARGS - 1), -1;
		r->argv[r->cfg.argc++] = t;
	}
	r->cfg.argv = r->argv;
	return 0;
}

static int group_section(const struct config_section *s, struct sched *sched, char *err, size_t errlen)
{
	struct sched_share p = { .shares = 1 };
	for (unsigned k = 0; k < s->n; k++) {
		const struct config_entry *e = &s->entries[k];
		char why[256];
		int io = io_cap_group_key(s->name, e->key, e->value, why, sizeof(why));
		if (io <= 0) {
			if (io < 0)
				return snprintf(err, errlen, "%u: %s", e->line, why), -1;
			continue;
		}
		int shares = strcmp(e->key, "shares") == 0;
		double *field = shares ? &p.shares : strcmp(e->key, "cap") == 0 ? &p.cap
			      : strcmp(e->key, "reserve") == 0 ? &p.reserve : NULL;
		if (!field)
			return snprintf(err, errlen, "%u: a group has shares, cap, reserve, io-iops and io-bps, not '%s'", e->line, e->key), -1;
		if (!e->value || (shares ? sched_parse_shares(e->value, field) : sched_parse_fraction(e->value, field)))
			return snprintf(err, errlen, "%u: bad %s '%s'", e->line, e->key, e->value ? e->value : ""), -1;
	}
	char why[256];
	if (sched_add_group(sched, s->name, &p, why, sizeof(why)))
		return snprintf(err, errlen, "%u: %s", s->line, why), -1;
	return 0;
}

/* The [run] section: run-wide options, each unless the command line gave it. */
static int run_section(const struct config_section *s, struct run_opts *ro, char *err, size_t errlen)
{
	char why[256];
	for (unsigned k = 0; k < s->n; k++) {
		const struct config_entry *e = &s->entries[k];
		const struct option *o = core_opts;
		while (o < core_opts + N_CORE_OPTS && strcmp(o->name, e->key) != 0)
			o++;
		if (o == core_opts + N_CORE_OPTS || IS_VM_OPT(o->val) || o->val == 'F' || o->val == 'h')
			return snprintf(err, errlen, "%u: '%s' is not a run-wide option (sched, cpus, slice, rt, control, "
					"stats, stats-json, verbose)", e->line, e->key), -1;
		int takes_value = o->has_arg == required_argument;
		if (takes_value != (e->value != NULL))
			return snprintf(err, errlen, "%u: %s %s", e->line, e->key,
					takes_value ? "needs a value (key = value)" : "is a flag: it takes no value"), -1;
		if (!ro->given[o->val] && run_setting(o->val, e->value, ro, why, sizeof(why)))
			return snprintf(err, errlen, "%u: %s", e->line, why), -1;
	}
	return 0;
}

/* Copies base's settings into r, module options included (r->opts has room for max). */
static int vm_from_base(struct run_vm *r, const struct run_vm *base, size_t max)
{
	*r = (struct run_vm){ .cfg = base->cfg, .console = { -1, -1 } };
	if (!(r->opts = calloc(max, sizeof(*r->opts))))
		return -1;
	memcpy(r->opts, base->opts, base->cfg.n_options * sizeof(*r->opts));
	r->cfg.options = r->opts;
	return 0;
}

/* --config: the VMs and groups of the file. Returns the number of VMs, or -1 after saying why. */
static int load_config(const struct config *c, const char *path, const struct run_vm *base, struct sched *sched,
		       struct run_vm *vms, size_t max_opts)
{
	struct option opts[N_CORE_OPTS + MAX_MODULE_OPTS + 1];
	char err[768];
	int n = 0;
	build_opts(opts, err, sizeof(err));
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->sections[i]->kind, "group") == 0 && group_section(c->sections[i], sched, err, sizeof(err)))
			return usage_error("", "%s:%s", path, err), -1;
	for (unsigned i = 0; i < c->n; i++) {
		if (strcmp(c->sections[i]->kind, "vm") != 0)
			continue;
		if (vm_from_base(&vms[n], base, max_opts))
			return setup_error("out of memory"), -1;
		if (vm_section(c->sections[i], opts, &vms[n++], err, sizeof(err)))
			return usage_error("", "%s:%s", path, err), -1;
	}
	if (n == 0)
		return usage_error("", "%s: no [vm NAME] section", path), -1;
	return n;
}

/* --- the consoles of several VMs, each line prefixed with its VM's name ------ */

struct console_mux {
	struct run_vm *vms;
	unsigned n;
	pthread_t thread;
};

static void put_line(const char *name, const char *s, size_t len)
{
	char line[BEYOND_CONSOLE_MAX + 128];
	int n = snprintf(line, sizeof(line), "%s: %.*s\n", name, (int)len, s);
	for (int done = 0, w; done < n; done += w)
		if ((w = (int)write(STDOUT_FILENO, line + done, n - done)) <= 0)
			return; /* a closed console loses output, not the guests */
}

static void *console_thread(void *arg)
{
	struct console_mux *m = arg;
	if (m->vms[0].cfg.seccomp && seccomp_enter(SECCOMP_MAIN))
		fprintf(stderr, "beyond: console: cannot arm seccomp: %s\n", strerror(errno));
	struct pollfd pfd[CONFIG_MAX_SECTIONS];
	char (*buf)[BEYOND_CONSOLE_MAX] = calloc(m->n, sizeof(*buf)); /* too large for a thread's stack */
	size_t have[CONFIG_MAX_SECTIONS] = { 0 };
	unsigned open = buf ? m->n : 0;
	for (unsigned i = 0; i < m->n; i++)
		pfd[i] = (struct pollfd){ .fd = m->vms[i].console[0], .events = POLLIN };
	while (open > 0 && poll(pfd, m->n, -1) >= 0) {
		for (unsigned i = 0; i < m->n; i++) {
			if (!pfd[i].revents)
				continue;
			ssize_t r = read(pfd[i].fd, buf[i] + have[i], sizeof(buf[i]) - have[i]);
			const char *name = m->vms[i].cfg.name;
			if (r <= 0) {
				if (have[i])
					put_line(name, buf[i], have[i]);
				pfd[i].fd = -1;
				open--;
				continue;
			}
			have[i] += r;
			char *start = buf[i], *nl;
			while ((nl = memchr(start, '\n', have[i] - (start - buf[i])))) {
				put_line(name, start, nl - start);
				start = nl + 1;
			}
			have[i] -= start - buf[i];
			memmove(buf[i], start, have[i]);
			if (have[i] == sizeof(buf[i])) { /* a line longer than the buffer: out it goes */
				put_line(name, buf[i], have[i]);
				have[i] = 0;
			}
		}
	}
	free(buf);
	return NULL;
}

/* --- reports ------------------------------------------------------------------ */

static void report_memory(struct vm *vm)
{
	struct guest_mem_usage u;
	if (guest_mem_usage(&vm->mem, &u) != 0)
		return;
	fprintf(stderr, "beyond: %s: RAM %lu MiB, guest pages %s, host pages %s: %lu MiB resident, %.0f%% on huge pages\n",
		vm->cfg.name, (unsigned long)(vm->mem.size >> 20), guest_pages_name(vm->cfg.guest_page),
		host_pages_name(vm->cfg.host_pages), (unsigned long)(u.resident >> 20),
		u.resident ? 100.0 * u.huge / u.resident : 0.0);
}

static void stats_json_vm(struct json *j, const char *key, struct vm *vm)
{
	json_object(j, key, 1);
	json_str(j, "vm", vm->cfg.name);
	json_int(j, "status", vm->status);
	json_object(j, "modules", 1);
	vm_stats_json(vm, j);
	json_end(j);
	json_end(j);
}

/* One VM: its object; several: {"vms": [...]}. */
static int write_stats_json(struct run_vm *vms, unsigned n, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return setup_error("cannot write %s: %s", path, strerror(errno));
	struct json j;
	json_start(&j, f);
	if (n == 1) {
		stats_json_vm(&j, NULL, &vms[0].vm);
	} else {
		json_object(&j, NULL, 1);
		json_array(&j, "vms", 1);
		for (unsigned i = 0; i < n; i++)
			stats_json_vm(&j, NULL, &vms[i].vm);
		json_end(&j);
		json_end(&j);
	}
	if (fclose(f) != 0)
		return setup_error("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* Creates the VMs, runs them under the scheduler and reports; the exit status. */
static int run_vms(struct run_vm *vms, unsigned n, struct sched *sched, const struct run_opts *ro)
{
	struct kvm_host kvm;
	struct vm *list[CONFIG_MAX_SECTIONS];
	struct console_mux mux = { .vms = vms, .n = n };
	struct control *control = NULL;
	char err[512];
	int status = 0, muxed = 0;
	if (kvm_host_open(&kvm, err, sizeof(err)))
		return setup_error("%s", err);
	for (unsigned i = 0; i < n && status == 0; i++) {
		vms[i].cfg.sched = sched;
		vms[i].cfg.seccomp = !ro->no_seccomp;
		if (ro->config) {
			if (pipe(vms[i].console) != 0) {
				status = setup_error("pipe: %s", strerror(errno));
				break;
			}
			vms[i].cfg.console_fd = vms[i].console[1];
		}
		vms[i].created = 1;
		list[i] = &vms[i].vm;
		if (vm_create(&vms[i].vm, &kvm, &vms[i].cfg, err, sizeof(err)))
			status = n > 1 ? setup_error("%s: %s", vms[i].cfg.name, err) : setup_error("%s", err);
	}
	if (status == 0 && ro->control && !(control = control_start(ro->control, list, n, err, sizeof(err))))
		status = setup_error("--control: %s", err);
	if (status == 0 && ro->config)
		muxed = pthread_create(&mux.thread, NULL, console_thread, &mux) == 0;
	if (status == 0 && (!ro->config || muxed)) {
		int first = sched_run(sched, list, n);
		for (unsigned i = 0; i < n; i++) {
			struct vm *vm = list[i];
			if (vm->status == VM_STATUS_ABNORMAL || ro->verbose)
				fprintf(stderr, "beyond: guest %s: %s\n%s", vm->cfg.name, vm->reason, vm->dump);
			if (ro->verbose)
				report_memory(vm);
			if (ro->stats)
				vm_stats_text(vm, stderr);
		}
		status = first < 0 ? 0 : list[first]->status;
		if (first >= 0 && n > 1)
			fprintf(stderr, "beyond: VM %s ended first with status %d\n", list[first]->cfg.name, status);
		if (ro->stats_json && write_stats_json(vms, n, ro->stats_json) && status == 0)
			status = STATUS_SETUP_ERROR;
	}
	control_stop(control);
	for (unsigned i = 0; i < n; i++) {
		if (vms[i].created)
			vm_destroy(&vms[i].vm);
		if (vms[i].console[1] >= 0)
			close(vms[i].console[1]); /* the console thread drains the rest, then sees the end */
	}
	if (muxed)
		pthread_join(mux.thread, NULL);
	for (unsigned i = 0; i < n; i++)
		if (vms[i].console[0] >= 0)
			close(vms[i].console[0]);
	kvm_host_close(&kvm);
	return status;
}

int cmd_run(int argc, char **argv)
{
	size_t max_opts = (size_t)argc + CONFIG_MAX_ENTRIES;
	struct run_vm base = {
		.cfg = { .mem_size = 512ull << 20, .vcpus = 1, .guest_page = PT_2M, .host_pages = HOST_THP,
			 .console_fd = STDOUT_FILENO, .seccomp = 1 },
		.console = { -1, -1 },
	};
	struct run_opts ro = { 0 };
	struct run_vm *vms = calloc(CONFIG_MAX_SECTIONS, sizeof(*vms));
	struct config conf = { 0 };
	struct sched *sched = NULL;
	char err[512];
	int n = 0, status;
	base.opts = calloc(max_opts, sizeof(*base.opts));
	if (!vms || !base.opts) {
		free(vms);
		free(base.opts);
		return setup_error("out of memory");
	}
	base.cfg.options = base.opts;
	sched_options_default(&ro.sched);
	status = parse_command_line(argc, argv, &base, &ro);
	if (status >= 0)
		goto out;
	if (ro.config && config_load(ro.config, &conf, err, sizeof(err))) {
		status = usage_error("", "%s", err);
		goto out;
	}
	for (unsigned i = 0; i < conf.n; i++)
		if (strcmp(conf.sections[i]->kind, "run") == 0 && run_section(conf.sections[i], &ro, err, sizeof(err))) {
			status = usage_error("", "%s:%s", ro.config, err);
			goto out;
		}
	if (sched_options_check(&ro.sched, err, sizeof(err))) {
		status = usage_error(run_usage(), "%s", err);
		goto out;
	}
	status = STATUS_SETUP_ERROR;
	if (!(sched = sched_create(&ro.sched, err, sizeof(err)))) {
		setup_error("%s", err);
		goto out;
	}
	if (ro.config) {
		if ((n = load_config(&conf, ro.config, &base, sched, vms, max_opts)) < 0) {
			status = STATUS_USAGE;
			n = CONFIG_MAX_SECTIONS; /* free whatever was filled */
			goto out;
		}
	} else {
		vms[0] = base;
		base.opts = NULL; /* vms[0] owns them now */
		n = 1;
		if (load_guest(&vms[0], argv[optind], err, sizeof(err))) {
			setup_error("%s", err);
			goto out;
		}
		vms[0].cfg.name = argv[optind];
		vms[0].cfg.argc = argc - optind - 1;
		vms[0].cfg.argv = argv + optind + 1;
	}
	status = run_vms(vms, (unsigned)n, sched, &ro);
out:
	for (int i = 0; i < n; i++) {
		free(vms[i].file);
		free(vms[i].args);
		free(vms[i].opts);
	}
	free(vms);
	free(base.opts);
	config_free(&conf);
	sched_destroy(sched);
	return status;
}
