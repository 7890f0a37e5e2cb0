#include <string.h>
#include "hv/guests.h"

const struct builtin_guest *builtin_guest_find(const char *name)
{
	for (uint64_t i = 0; i < builtin_guest_count; i++)
		if (strcmp(builtin_guests[i].name, name) == 0)
			return &builtin_guests[i];
	return NULL;
}
