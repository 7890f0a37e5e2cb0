/* guest: passes hypercall pointers outside its RAM (buf|struct|len|wrap|port) */
#include "guest-runtime/beyond.h"

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "buf";
	uint64_t beyond_ram = boot_info.mem_size + 4096;
	struct beyond_hc_console a = { .buf = beyond_ram, .len = 16 };

	printf("badcall: %s\n", how);
	if (strcmp(how, "struct") == 0) {
		hypercall(BEYOND_HC_CONSOLE, (void *)(uintptr_t)(boot_info.mem_size - 8));
	} else if (strcmp(how, "len") == 0) {
		a.buf = boot_info.mem_size - 100; /* starts inside RAM, ends past it */
		a.len = 4096;
		hypercall(BEYOND_HC_CONSOLE, &a);
	} else if (strcmp(how, "wrap") == 0) {
		a.buf = ~0ull - 7;
		a.len = 16;
		hypercall(BEYOND_HC_CONSOLE, &a);
	} else if (strcmp(how, "port") == 0) {
		hypercall(BEYOND_HC_COUNT + 7, &a);
	} else {
		hypercall(BEYOND_HC_CONSOLE, &a);
	}
	printf("badcall: still running after a bad hypercall\n");
	return 0;
}
