/* guest: prints a greeting with its vCPU count and exits 0 */
#include "guest-runtime/beyond.h"

int main(int argc, char **argv)
{
	printf("Hello from beyond guest '%s': %u vCPU%s, %lu MiB RAM, %u KiB pages",
	       argv[0], boot_info.vcpu_count, boot_info.vcpu_count == 1 ? "" : "s",
	       (unsigned long)(boot_info.mem_size >> 20), (1u << boot_info.guest_page_size_log2) >> 10);
	for (int i = 1; i < argc; i++)
		printf("%s %s", i == 1 ? ", args:" : "", argv[i]);
	printf("\n");
	return 0;
}
