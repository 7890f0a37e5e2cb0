/* beyond: the command table. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "blk/blk_cli.h"
#include "guest-runtime/abi.h"
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "mm/hugetlb_pool.h"

#define BEYOND_VERSION "0.1"

static int cmd_guests(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	const char *synopsis;        /* arguments, for the usage */
	const char *help;
	int (*run)(int argc, char **argv); /* argv[0] is the command's name */
} commands[] = {
	{ "run", "[OPTIONS] GUEST [ARGS...]", "run a guest (beyond run --help)", cmd_run },
	{ "stat", "PATH [--json]", "stats of a running beyond run --control PATH", cmd_stat },
	{ "balloon", "PATH VM SIZE", "ask a running VM (--control PATH) to give back SIZE", cmd_balloon },
	{ "guests", "", "list the built-in guests", cmd_guests },
	{ "bench", "SUITE [OPTIONS]", "run a benchmark (beyond bench --help)", bench_main },
	{ "blk", "SUBCOMMAND ...", "manage deduplicated disks (beyond blk --help)", blk_cli_main },
	{ "version", "", "print version and guest ABI version", cmd_version },
	{ "help", "", "this text", cmd_help },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The usage, made from the table. */
static const char *usage(void)
{
	static char text[2048];
	size_t n = snprintf(text, sizeof(text), "usage: beyond COMMAND [ARGS...]\n");
	for (size_t i = 0; i < N_COMMANDS && n < sizeof(text); i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].synopsis);
		n += snprintf(text + n, sizeof(text) - n, "  %-32s %s\n", head, commands[i].help);
	}
	return text;
}

static int cmd_guests(int argc, char **argv)
{
	(void)argc, (void)argv;
	for (uint64_t i = 0; i < builtin_guest_count; i++)
		printf("%-10s %s\n", builtin_guests[i].name, builtin_guests[i].description);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc, (void)argv;
	printf("beyond %s (guest ABI %d)\n", BEYOND_VERSION, BEYOND_ABI_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc, (void)argv;
	fputs(usage(), stdout);
	return 0;
}

/* Interrupted or terminated: return the huge pages we added to the host's pools, then die of it. */
static void on_fatal_signal(int sig)
{
	hugetlb_pool_release_on_signal();
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
		return usage_error(usage(), NULL);
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		cmd = "help";
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	return usage_error(usage(), "unknown command '%s'", cmd);
}
