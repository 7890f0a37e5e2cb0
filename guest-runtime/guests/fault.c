/* guest: faults at CPL3: divide by zero (default), or pf|ud|gp */
#include "guest-runtime/beyond.h"

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "div";
	printf("fault: %s\n", how);
	if (strcmp(how, "pf") == 0) /* read past the end of RAM: not mapped */
		return *(volatile int *)(uintptr_t)(boot_info.mem_size + 0x1000);
	if (strcmp(how, "ud") == 0)
		__asm__ volatile("ud2");
	if (strcmp(how, "gp") == 0) /* HLT is privileged: #GP at CPL3 */
		__asm__ volatile("hlt");
	/* An explicit div: the compiler may not turn it into something that cannot trap. */
	uint32_t lo = 1, hi = 0, zero = (uint32_t)(argc - argc);
	__asm__ volatile("divl %2" : "+a"(lo), "+d"(hi) : "r"(zero));
	return (int)lo;
}
