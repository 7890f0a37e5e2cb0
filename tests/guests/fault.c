/* guest: faults at CPL3: divide by zero (default), or pf|ud|gp|bp|hlt|triple */
#include "guest-runtime/beyond.h"

/* The IDT is guest memory (mm/layout.h): a guest may wreck it, hurting only itself. */
#define IDT 0x2000
#define VEC_UD 6

static void halt_at_cpl0(void)
{
	__asm__ volatile("hlt");
}

/* Points the #UD gate at a handler that executes HLT in ring 0. */
static void redirect_ud_to_hlt(void)
{
	volatile uint16_t *gate = (volatile uint16_t *)(uintptr_t)(IDT + 16 * VEC_UD);
	uint64_t h = (uint64_t)(uintptr_t)halt_at_cpl0;
	gate[0] = (uint16_t)h;
	gate[3] = (uint16_t)(h >> 16);
	*(volatile uint32_t *)(gate + 4) = (uint32_t)(h >> 32);
}

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
	if (strcmp(how, "bp") == 0)
		__asm__ volatile("int3");
	if (strcmp(how, "hlt") == 0) {
		redirect_ud_to_hlt();
		__asm__ volatile("ud2");
	}
	if (strcmp(how, "triple") == 0) { /* no IDT: #UD, then #DF, then shutdown */
		memset((void *)(uintptr_t)IDT, 0, 256 * 16);
		__asm__ volatile("ud2");
	}
	/* An explicit div: the compiler may not turn it into something that cannot trap. */
	uint32_t lo = 1, hi = 0, zero = (uint32_t)(argc - argc);
	__asm__ volatile("divl %2" : "+a"(lo), "+d"(hi) : "r"(zero));
	return (int)lo;
}
