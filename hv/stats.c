#include "hv/stats.h"
#include "hv/vm.h"

void stats_group(struct stats_out *o, const char *name)
{
	if (o->json)
		json_object(o->json, name, 1);
	else
		fprintf(o->text, "%*s%s:\n", 2 * (int)o->depth, "", name);
	o->depth++;
}

void stats_end(struct stats_out *o)
{
	if (o->json)
		json_end(o->json);
	o->depth--;
}

void stats_u64(struct stats_out *o, const char *name, uint64_t v)
{
	if (o->json)
		json_uint(o->json, name, v);
	else
		fprintf(o->text, "%*s%s: %llu\n", 2 * (int)o->depth, "", name, (unsigned long long)v);
}

void stats_num(struct stats_out *o, const char *name, double v)
{
	if (o->json)
		json_num(o->json, name, v, 6);
	else
		fprintf(o->text, "%*s%s: %.6g\n", 2 * (int)o->depth, "", name, v);
}

static void modules(struct vm *vm, struct stats_out *o)
{
	for (size_t i = 0; i < vm->modules_set_up; i++) {
		const struct module *m = module_at(i);
		if (!m->stats)
			continue;
		stats_group(o, m->name);
		m->stats(vm, o);
		stats_end(o);
	}
}

void vm_stats_text(struct vm *vm, FILE *f)
{
	struct stats_out o = { .text = f };
	stats_group(&o, vm->cfg.name);
	modules(vm, &o);
	stats_end(&o);
}

void vm_stats_json(struct vm *vm, struct json *j)
{
	struct stats_out o = { .json = j };
	modules(vm, &o);
}
