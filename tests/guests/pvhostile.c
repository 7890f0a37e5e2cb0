/* guest: PV wait/kick checks and misuse (pvhostile pingpong|kick-invalid|yield-invalid|wait-forever) */
#include "guest-runtime/beyond.h"
#include "guest-runtime/spinlock.h"

#define ROUNDS 200

static uint32_t turn; /* whose turn it is in the ping-pong */
static uint32_t mode;

/* vCPUs 0 and 1 hand a token back and forth, each blocking in WAIT until kicked. */
static void pingpong(unsigned self)
{
	for (uint32_t r = 0; r < ROUNDS; r++) {
		while (__atomic_load_n(&turn, __ATOMIC_SEQ_CST) != 2 * r + self)
			if (pv_wait(1000000000ull) != BEYOND_WAIT_KICKED && __atomic_load_n(&turn, __ATOMIC_SEQ_CST) != 2 * r + self)
				exit(10 + self); /* a second without the kick it was due */
		__atomic_store_n(&turn, 2 * r + self + 1, __ATOMIC_SEQ_CST);
		pv_kick(1ull << (self ^ 1));
	}
}

void ap_main(unsigned id)
{
	while (!__atomic_load_n(&mode, __ATOMIC_ACQUIRE))
		cpu_relax();
	if (id == 1 && mode == 1)
		pingpong(1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		printf("usage: pvhostile pingpong|kick-invalid|yield-invalid|wait-forever\n");
		return 2;
	}
	const char *m = argv[1];
	/* A kick that came first makes WAIT return at once; then a short WAIT times out. */
	pv_kick(1);
	if (pv_wait(0) != BEYOND_WAIT_KICKED || pv_wait(1000000) != BEYOND_WAIT_TIMEOUT) {
		printf("pvhostile: pending kick or timeout wrong\n");
		return 3;
	}
	pv_yield(BEYOND_YIELD_ANY);
	if (strcmp(m, "pingpong") == 0) {
		__atomic_store_n(&mode, 1, __ATOMIC_RELEASE);
		pingpong(0);
		printf("pvhostile: %u rounds of wait/kick\n", ROUNDS);
		return 0;
	}
	__atomic_store_n(&mode, 2, __ATOMIC_RELEASE);
	if (strcmp(m, "kick-invalid") == 0)
		pv_kick(1ull << 63);
	else if (strcmp(m, "yield-invalid") == 0)
		pv_yield(boot_info.vcpu_count);
	else if (strcmp(m, "wait-forever") == 0)
		for (;;)
			pv_wait(0);
	printf("pvhostile: still running after %s\n", m);
	return 1;
}
