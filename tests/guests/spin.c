/* guest: loops forever on every vCPU (for timeouts) */
#include "guest-runtime/beyond.h"

void ap_main(unsigned id)
{
	(void)id;
	for (;;)
		cpu_relax();
}

int main(int argc, char **argv)
{
	(void)argc; (void)argv;
	for (;;)
		cpu_relax();
}
