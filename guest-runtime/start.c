/* Runtime start: vCPU 0 fetches the boot info and runs main; the others run ap_main. */
#include "guest-runtime/beyond.h"

struct beyond_bootinfo boot_info;

/* Boot info plus argument strings; what does not fit is dropped by the monitor's size check. */
static union {
	struct beyond_bootinfo bi;
	char bytes[8192];
} boot_buf;

__attribute__((weak)) void ap_main(unsigned vcpu_id)
{
	(void)vcpu_id;
	vcpu_park();
}

void exit(uint64_t code)
{
	struct beyond_hc_exit a = { .code = code };
	hypercall(BEYOND_HC_EXIT, &a);
	for (;;)
		cpu_relax();
}

void vcpu_park(void)
{
	hypercall(BEYOND_HC_PARK, 0);
	for (;;)
		cpu_relax();
}

void beyond_sync(uint64_t stage, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct beyond_hc_sync a = { .stage = stage, .arg = { a0, a1, a2 } };
	hypercall(BEYOND_HC_SYNC, &a);
}

__attribute__((noreturn)) void beyond_start(uint64_t vcpu_id)
{
	if (vcpu_id != 0) {
		ap_main((unsigned)vcpu_id);
		vcpu_park();
	}
	struct beyond_hc_bootinfo a = { .buf = (uint64_t)(uintptr_t)&boot_buf, .len = sizeof(boot_buf) };
	hypercall(BEYOND_HC_BOOTINFO, &a);
	if (a.ret != 0) {
		printf("beyond runtime: boot info needs %lu bytes\n", (unsigned long)a.ret);
		exit(127);
	}
	boot_info = boot_buf.bi;
	exit((uint64_t)main((int)boot_info.argc, (char **)boot_info.argv));
}
