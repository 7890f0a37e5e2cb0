/* Entry points of the block store's command line, called by hv/main.c. */
#ifndef BEYOND_BLK_CLI_H
#define BEYOND_BLK_CLI_H

/* `beyond blk SUBCOMMAND ...`: argv[0] is "blk". Returns the exit status. */
int blk_cli_main(int argc, char **argv);

#endif
