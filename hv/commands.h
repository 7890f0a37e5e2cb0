/* The monitor's subcommands and their shared error conventions. */
#ifndef BEYOND_COMMANDS_H
#define BEYOND_COMMANDS_H

/* Exit statuses of the monitor itself (a guest's own code passes through). */
#define STATUS_SETUP_ERROR 1
#define STATUS_USAGE 2

int cmd_run(int argc, char **argv);

/* Prints "beyond: <msg>" (if fmt) and the usage text to stderr; returns STATUS_USAGE. */
int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "beyond: <msg>" to stderr; returns STATUS_SETUP_ERROR. */
int setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
