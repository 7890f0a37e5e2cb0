/* `beyond run`: one guest from the command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hv/commands.h"
#include "hv/guests.h"
#include "hv/options.h"
#include "hv/vm.h"
#include "mm/pagetable.h"

static const char run_usage[] =
	"usage: beyond run [--mem SIZE] [--vcpus N] [--guest-pages 4k|2m|1g]\n"
	"                  [--host-pages 4k|thp|hugetlb2m|hugetlb1g] [--prefault]\n"
	"                  [--timeout SECONDS] [--verbose] GUEST [ARGS...]\n"
	"GUEST is an ELF image or a built-in guest (beyond guests).\n";

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

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "guest-pages", required_argument, NULL, 'g' },
		{ "host-pages", required_argument, NULL, 'H' },
		{ "prefault", no_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vm_config cfg = {
		.mem_size = 512ull << 20, .vcpus = 1, .guest_page = PT_2M, .host_pages = HOST_THP,
		.console_fd = STDOUT_FILENO,
	};
	int verbose = 0, c;
	char *end;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:c:g:H:pt:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &cfg.mem_size))
				return usage_error(run_usage, "bad --mem '%s'", optarg);
			break;
		case 'c':
			cfg.vcpus = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg || cfg.vcpus == 0)
				return usage_error(run_usage, "bad --vcpus '%s'", optarg);
			break;
		case 'g':
			if (parse_guest_pages(optarg, &cfg.guest_page))
				return usage_error(run_usage, "bad --guest-pages '%s'", optarg);
			break;
		case 'H':
			if (host_pages_parse(optarg, &cfg.host_pages))
				return usage_error(run_usage, "bad --host-pages '%s'", optarg);
			break;
		case 'p':
			cfg.populate = 1;
			break;
		case 't':
			cfg.timeout = strtod(optarg, &end);
			if (*end || !*optarg || !(cfg.timeout > 0 && cfg.timeout <= VM_MAX_TIMEOUT))
				return usage_error(run_usage, "bad --timeout '%s'", optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		default:
			return usage_error(run_usage, NULL);
		}
	}
	if (optind >= argc)
		return usage_error(run_usage, "no GUEST given");

	const char *guest = argv[optind];
	const struct builtin_guest *b = builtin_guest_find(guest);
	uint8_t *file = NULL;
	char err[512];
	if (b) {
		cfg.image = b->image;
		cfg.image_size = b->size;
	} else if (strchr(guest, '/') || access(guest, F_OK) == 0) {
		size_t size;
		if (read_file(guest, &file, &size, err, sizeof(err)))
			return setup_error("%s", err);
		cfg.image = file;
		cfg.image_size = size;
	} else {
		return setup_error("no guest '%s': not a file and not a built-in guest (see beyond guests)", guest);
	}
	cfg.name = guest;
	cfg.argc = argc - optind - 1;
	cfg.argv = argv + optind + 1;

	struct kvm_host kvm;
	struct vm vm;
	int status;
	if (kvm_host_open(&kvm, err, sizeof(err))) {
		free(file);
		return setup_error("%s", err);
	}
	if (vm_create(&vm, &kvm, &cfg, err, sizeof(err))) {
		status = setup_error("%s", err);
	} else {
		status = vm_run(&vm);
		if (status == VM_STATUS_ABNORMAL || verbose)
			fprintf(stderr, "beyond: guest %s: %s\n%s", guest, vm.reason, vm.dump);
		if (verbose)
			report_memory(&vm);
	}
	vm_destroy(&vm);
	kvm_host_close(&kvm);
	free(file);
	return status;
}
