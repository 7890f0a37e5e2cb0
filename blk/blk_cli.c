/* Placeholder until the block store lands: says so instead of pretending. */
#include <stdio.h>
#include "blk/blk_cli.h"

int blk_cli_main(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "beyond: the block store is not built yet\n");
	return 1;
}

int blk_bench_main(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "beyond: bench blk is not built yet\n");
	return 1;
}
