/*
 * Per-VM accounting: each module reports its counters through its `stats`
 * hook (hv/module.h), as a group of named values, printed at the end of a
 * run (`beyond run --stats`, `--stats-json FILE`) as text or as JSON.
 */
#ifndef BEYOND_STATS_H
#define BEYOND_STATS_H

#include <stdint.h>
#include <stdio.h>
#include "hv/json.h"

struct vm;

/* Where values go: JSON (json set) or indented "name: value" text lines. */
struct stats_out {
	struct json *json;
	FILE *text;
	unsigned depth;
};

/* A named group ("vcpu0", "disk vda"); stats_end() closes it. */
void stats_group(struct stats_out *o, const char *name);
void stats_end(struct stats_out *o);
void stats_u64(struct stats_out *o, const char *name, uint64_t v);
void stats_num(struct stats_out *o, const char *name, double v);

/* Every set-up module's stats for vm, one group per module, as text or into an open JSON object. */
void vm_stats_text(struct vm *vm, FILE *f);
void vm_stats_json(struct vm *vm, struct json *j);

#endif
