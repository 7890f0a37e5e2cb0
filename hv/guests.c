#include <string.h>
#include "hv/guests.h"

const struct builtin_guest *guest_table_find(const struct builtin_guest *table, uint64_t count, const char *name)
{
	for (uint64_t i = 0; i < count; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

const struct builtin_guest *builtin_guest_find(const char *name)
{
	return guest_table_find(builtin_guests, builtin_guest_count, name);
}
