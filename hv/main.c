/* beyond: the command line. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "blk/blk_cli.h"
#include "guest-runtime/abi.h"
#include "hv/bench/bench.h"
#include "hv/commands.h"
#include "hv/guests.h"
#include "mm/guest_mem.h"

#define BEYOND_VERSION "0.1"

static const char main_usage[] =
	"usage: beyond COMMAND [ARGS...]\n"
	"  run [OPTIONS] GUEST [ARGS...]   run a guest (beyond run --help)\n"
	"  guests                          list the built-in guests\n"
	"  bench tlb [OPTIONS]             TLB cost of guest/host page sizes vs native\n"
	"  bench blk [OPTIONS]             benchmark the block store\n"
	"  blk SUBCOMMAND ...              manage deduplicated disks (beyond blk --help)\n"
	"  version                         print version and guest ABI version\n";

static void complain(const char *fmt, va_list ap)
{
	fputs("beyond: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int usage_error(const char *usage, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		complain(fmt, ap);
		va_end(ap);
	}
	fputs(usage, stderr);
	return STATUS_USAGE;
}

int setup_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	complain(fmt, ap);
	va_end(ap);
	return STATUS_SETUP_ERROR;
}

static int cmd_guests(void)
{
	for (uint64_t i = 0; i < builtin_guest_count; i++)
		printf("%-10s %s\n", builtin_guests[i].name, builtin_guests[i].description);
	return 0;
}

/* Interrupted or terminated: return the huge pages we added to the host's pools, then die of it. */
static void on_fatal_signal(int sig)
{
	guest_mem_pool_release_on_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	/* A console or client that went away is a failed write, not the end of the monitor. */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (argc < 2)
		return usage_error(main_usage, NULL);
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "guests") == 0)
		return cmd_guests();
	if (strcmp(cmd, "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	if (strcmp(cmd, "blk") == 0)
		return blk_cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0) {
		printf("beyond %s (guest ABI %d)\n", BEYOND_VERSION, BEYOND_ABI_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(main_usage, stdout);
		return 0;
	}
	return usage_error(main_usage, "unknown command '%s'", cmd);
}
