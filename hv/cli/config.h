/*
 * `beyond run --config FILE`: several VMs in one process. The format needs
 * no parser library:
 *
 *   # a comment; blank lines are ignored
 *   [run]                       the run's own options (sched, cpus, slice, rt, control, ...)
 *   sched = gang
 *
 *   [group tenants]             a scheduler group: shares, cap, reserve
 *   shares = 2
 *   cap = 50%
 *
 *   [vm web]                    a VM named web (its console lines read "web: ...")
 *   guest = sched               a built-in guest's name or an image path
 *   args = lock pv 500          the guest's arguments, split at spaces
 *   vcpus = 2                   any `beyond run` long option, without "--"
 *   group = tenants
 *   prefault                    a flag option stands alone
 *
 * Keys may repeat where the option may (--disk ...); values run to the end
 * of the line, trimmed. This file only splits the text; hv/cli/run.c gives
 * the keys their meaning. Errors name the line.
 */
#ifndef BEYOND_CONFIG_H
#define BEYOND_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_SECTIONS 64
#define CONFIG_MAX_ENTRIES 128
#define CONFIG_MAX_LINE 4096

struct config_entry {
	char *key;
	char *value;                 /* NULL for a key standing alone */
	unsigned line;
};

struct config_section {
	char *kind;                  /* "vm", "group" or "run" */
	char *name;                  /* "" for run */
	unsigned line;
	unsigned n;
	struct config_entry entries[CONFIG_MAX_ENTRIES];
};

struct config {
	unsigned n;
	struct config_section *sections[CONFIG_MAX_SECTIONS];
};

/* Parses text (NUL-terminated); 0, or -1 with "line N: why" in err. */
int config_parse(const char *text, struct config *c, char *err, size_t errlen);
/* The same for a file; errors read "PATH:N: why". */
int config_load(const char *path, struct config *c, char *err, size_t errlen);
void config_free(struct config *c);

#endif
