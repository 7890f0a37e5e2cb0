/*
 * Monitor modules: a feature (the core hypercalls, a device, the scheduler,
 * the pager) declares itself with MODULE_REGISTER and is set up for every VM
 * in link order, as Solo5 hvt's modules are. Nothing central lists them.
 *
 * A module may add `beyond run` options. Their values reach the VM as
 * struct vm_option name/value pairs in vm_config (in command-line order, so
 * a repeatable option such as --disk keeps its order); setup() reads them
 * with vm_option(). A module claims hypercall numbers and MMIO ranges with
 * vm_register_hypercall() and vm_register_mmio(), which refuse a number or
 * a range someone else already holds.
 */
#ifndef BEYOND_MODULE_H
#define BEYOND_MODULE_H

#include <stddef.h>

struct vm;
struct stats_out;

struct module_option {
	const char *name;            /* long option, without "--"; NULL ends the list */
	const char *arg;             /* the value's name in the usage, NULL for a flag */
	const char *help;            /* one line */
};

struct module {
	const char *name;
	const struct module_option *options; /* may be NULL */
	/* Checks one of its options' value when parsed; 0, or -1 with a reason. */
	int (*check_option)(const char *name, const char *value, char *err, size_t errlen);
	/* Per VM, once RAM, page tables and vCPUs exist, before the vCPUs start. */
	int (*setup)(struct vm *vm, char *err, size_t errlen);
	/* Per VM, after the vCPUs stopped; also after its own failed setup. */
	void (*teardown)(struct vm *vm);
	/* Its per-VM counters, with the stats_*() calls of hv/stats.h; may be NULL. */
	void (*stats)(struct vm *vm, struct stats_out *out);
};

#define MODULE_REGISTER(m)                                                              \
	static const struct module *const module_entry_##m                              \
		__attribute__((used, section("beyond_modules"), aligned(sizeof(void *)))) = &m

/* The registered modules, in link order. */
size_t module_count(void);
const struct module *module_at(size_t i);
/* The module that owns option `name` (without "--"), or NULL. */
const struct module *module_for_option(const char *name, const struct module_option **opt);

#endif
