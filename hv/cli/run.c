/* `beyond run`: one guest from the command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "hv/stats.h"
#include "hv/vm.h"
#include "mm/pagetable.h"

static const char run_usage_core[] =
	"usage: beyond run [--mem SIZE] [--vcpus N] [--guest-pages 4k|2m|1g]\n"
	"                  [--host-pages 4k|thp|hugetlb2m|hugetlb1g] [--prefault]\n"
	"                  [--timeout SECONDS] [--verbose] [--stats] [--stats-json FILE]\n"
	"                  [--no-seccomp] [MODULE OPTIONS] GUEST [ARGS...]\n"
	"GUEST is an ELF image or a built-in guest (beyond guests).\n"
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
	{ "help", no_argument, NULL, 'h' },
};
#define N_CORE_OPTS (sizeof(core_opts) / sizeof(core_opts[0]))
#define MAX_MODULE_OPTS 64
#define MODULE_OPT 0x100 /* getopt's value for every module option */

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

static void report_memory(struct vm *vm)
{
	struct guest_mem_usage u;
	if (guest_mem_usage(&vm->mem, &u) != 0)
		return;
	fprintf(stderr, "beyond: RAM %lu MiB, guest pages %s, host pages %s: %lu MiB resident, %.0f%% on huge pages\n",
		(unsigned long)(vm->mem.size >> 20), guest_pages_name(vm->cfg.guest_page),
		host_pages_name(vm->cfg.host_pages), (unsigned long)(u.resident >> 20),
		u.resident ? 100.0 * u.huge / u.resident : 0.0);
}

/* What `run` reports besides the guest's own output. */
struct run_reports {
	int verbose;                 /* how the guest ended and how its RAM was backed */
	int stats;                   /* every module's counters, as text on stderr */
	const char *stats_json;      /* ... or as JSON into this file */
};

static int write_stats_json(struct vm *vm, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return setup_error("cannot write %s: %s", path, strerror(errno));
	struct json j;
	json_start(&j, f);
	json_object(&j, NULL, 1);
	json_str(&j, "vm", vm->cfg.name);
	json_int(&j, "status", vm->status);
	json_object(&j, "modules", 1);
	vm_stats_json(vm, &j);
	json_end(&j);
	json_end(&j);
	if (fclose(f) != 0)
		return setup_error("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* Parses the options into cfg; returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, struct vm_config *cfg, struct vm_option *vm_opts,
			 struct run_reports *rep)
{
	struct option opts[N_CORE_OPTS + MAX_MODULE_OPTS + 1];
	char *end, err[256];
	int c, index;
	if (build_opts(opts, err, sizeof(err)))
		return setup_error("%s", err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:c:g:H:pt:vh", opts, &index)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &cfg->mem_size))
				return usage_error(run_usage(), "bad --mem '%s'", optarg);
			break;
		case 'c':
			cfg->vcpus = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg || cfg->vcpus == 0)
				return usage_error(run_usage(), "bad --vcpus '%s'", optarg);
			break;
		case 'g':
			if (guest_pages_parse(optarg, &cfg->guest_page))
				return usage_error(run_usage(), "bad --guest-pages '%s'", optarg);
			break;
		case 'H':
			if (host_pages_parse(optarg, &cfg->host_pages))
				return usage_error(run_usage(), "bad --host-pages '%s'", optarg);
			break;
		case 'p':
			cfg->populate = 1;
			break;
		case 't':
			cfg->timeout = strtod(optarg, &end);
			if (*end || !*optarg || !(cfg->timeout > 0 && cfg->timeout <= VM_MAX_TIMEOUT))
				return usage_error(run_usage(), "bad --timeout '%s'", optarg);
			break;
		case 'v':
			rep->verbose = 1;
			break;
		case 's':
			rep->stats = 1;
			break;
		case 'j':
			rep->stats_json = optarg;
			break;
		case 'S':
			cfg->seccomp = 0;
			break;
		case 'h':
			fputs(run_usage(), stdout);
			return 0;
		case MODULE_OPT: {
			const struct module_option *o;
			const struct module *m = module_for_option(opts[index].name, &o);
			if (m->check_option && m->check_option(o->name, optarg, err, sizeof(err)))
				return usage_error(run_usage(), "bad --%s: %s", o->name, err);
			vm_opts[cfg->n_options++] = (struct vm_option){ o->name, optarg };
			break;
		}
		default:
			return usage_error(run_usage(), NULL);
		}
	}
	if (optind >= argc)
		return usage_error(run_usage(), "no GUEST given");
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct vm_config cfg = {
		.mem_size = 512ull << 20, .vcpus = 1, .guest_page = PT_2M, .host_pages = HOST_THP,
		.console_fd = STDOUT_FILENO, .seccomp = 1,
	};
	struct vm_option *vm_opts = calloc(argc, sizeof(*vm_opts));
	struct run_reports rep = { 0 };
	if (!vm_opts)
		return setup_error("out of memory");
	cfg.options = vm_opts;
	int status = parse_options(argc, argv, &cfg, vm_opts, &rep);
	if (status >= 0) {
		free(vm_opts);
		return status;
	}

	const char *guest = argv[optind];
	const struct builtin_guest *b = builtin_guest_find(guest);
	uint8_t *file = NULL;
	char err[512];
	if (b) {
		cfg.image = b->image;
		cfg.image_size = b->size;
	} else if (strchr(guest, '/') || access(guest, F_OK) == 0) {
		size_t size;
		if (read_file(guest, &file, &size, err, sizeof(err))) {
			free(vm_opts);
			return setup_error("%s", err);
		}
		cfg.image = file;
		cfg.image_size = size;
	} else {
		free(vm_opts);
		return setup_error("no guest '%s': not a file and not a built-in guest (see beyond guests)", guest);
	}
	cfg.name = guest;
	cfg.argc = argc - optind - 1;
	cfg.argv = argv + optind + 1;

	struct kvm_host kvm;
	struct vm vm;
	if (kvm_host_open(&kvm, err, sizeof(err))) {
		status = setup_error("%s", err);
	} else {
		if (vm_create(&vm, &kvm, &cfg, err, sizeof(err))) {
			status = setup_error("%s", err);
		} else {
			status = vm_run(&vm);
			if (status == VM_STATUS_ABNORMAL || rep.verbose)
				fprintf(stderr, "beyond: guest %s: %s\n%s", guest, vm.reason, vm.dump);
			if (rep.verbose)
				report_memory(&vm);
			if (rep.stats)
				vm_stats_text(&vm, stderr);
			if (rep.stats_json && write_stats_json(&vm, rep.stats_json) && status == 0)
				status = STATUS_SETUP_ERROR;
		}
		vm_destroy(&vm);
		kvm_host_close(&kvm);
	}
	free(file);
	free(vm_opts);
	return status;
}
