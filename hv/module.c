#include <string.h>
#include "hv/module.h"

/* The linker gathers every MODULE_REGISTER entry into this section and names its ends. */
extern const struct module *const __start_beyond_modules[];
extern const struct module *const __stop_beyond_modules[];

size_t module_count(void)
{
	return (size_t)(__stop_beyond_modules - __start_beyond_modules);
}

const struct module *module_at(size_t i)
{
	return __start_beyond_modules[i];
}

const struct module *module_for_option(const char *name, const struct module_option **opt)
{
	for (size_t i = 0; i < module_count(); i++)
		for (const struct module_option *o = module_at(i)->options; o && o->name; o++)
			if (strcmp(o->name, name) == 0) {
				*opt = o;
				return module_at(i);
			}
	return NULL;
}
