/* The command line: exit statuses, error reporting and value parsing shared by every command. */
#ifndef BEYOND_CLI_H
#define BEYOND_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the monitor itself (a guest's own code passes through). */
#define STATUS_SETUP_ERROR 1
#define STATUS_USAGE 2

/* Prints "beyond: <msg>" (if fmt) and the usage text to stderr; returns STATUS_USAGE. */
int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "beyond: <msg>" to stderr; returns STATUS_SETUP_ERROR. */
int setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "512M", "4G", "64k", "4096": bytes, suffixes in powers of 1024. */
int parse_size(const char *s, uint64_t *out);
/* parse_size() of v (may be NULL) within lo .. hi: 0, or -1 with "KEY needs
 * a number from LO to HI" in err. */
int parse_size_in(const char *key, const char *v, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
		  size_t errlen);
/* Whole file into a malloc'd buffer; 0 or -1 with a reason in err. */
int read_file(const char *path, uint8_t **data, size_t *size, char *err, size_t errlen);

/* The commands (hv/cli/main.c holds their table). */
int cmd_run(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_balloon(int argc, char **argv);

/* `beyond run --control PATH`: a socket (owner only) answering `beyond stat` with every VM's stats (stat.c). */
struct vm;
struct control;
struct control *control_start(const char *path, struct vm **vms, unsigned n, char *err, size_t errlen);
void control_stop(struct control *c); /* NULL is fine */

#endif
