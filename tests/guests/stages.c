/* guest: a staged test: syncs at each stage, reaches a device in the MMIO window, reads what the monitor wrote */
#include "guest-runtime/beyond.h"

/* The monitor rewrites this between stages 3 and 4. */
static volatile uint64_t shared = 1;

int main(int argc, char **argv)
{
	(void)argc, (void)argv;
	uint64_t window = boot_info.device_base;
	beyond_sync(1, window, boot_info.device_size, 0);

	mmio_write32(window + 0x100, 0xdeadbeef);
	uint32_t v = mmio_read32(window + 0x104);
	beyond_sync(2, v, 0, 0);

	beyond_sync(3, (uint64_t)(uintptr_t)&shared, shared, 0);
	beyond_sync(4, shared, 0, 0);
	return 0;
}
