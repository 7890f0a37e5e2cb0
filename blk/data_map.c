/*
 * The data file's read mapping (see blk/data_map.h) and the SIGBUS guard
 * around copies from it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include "blk/data_map.h"

/* Mapped room beyond what the file needs: twice its size, at least this. */
#define MAP_MIN (1ull << 30)

static __thread sigjmp_buf *volatile copy_guard;	/* set while this thread copies */
static struct sigaction sigbus_before;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

/* Faults the kernel raises on the access itself, and raises again (forced)
 * if it runs again: past the end of a file, an I/O error, misalignment. */
static bool repeats(const siginfo_t *si)
{
	return si->si_code == BUS_ADRALN || si->si_code == BUS_ADRERR || si->si_code == BUS_OBJERR;
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	static const char msg[] = "beyond: SIGBUS (sent, or a machine check): ending the process\n";

	if (copy_guard && (repeats(si) || si->si_code == BUS_MCEERR_AR))
		siglongjmp(*copy_guard, 1);	/* the page could not be read: EIO */
	if (sigbus_before.sa_flags & SA_SIGINFO)
		sigbus_before.sa_sigaction(sig, si, ctx);
	else if (sigbus_before.sa_handler != SIG_DFL && sigbus_before.sa_handler != SIG_IGN)
		sigbus_before.sa_handler(sig);
	else if (repeats(si))	/* runs again with SIGBUS blocked: the kernel ends the process
				 * with it, as before (no system call: a filtered thread may
				 * not change signal actions) */
		sigaddset(&((ucontext_t *)ctx)->uc_sigmask, SIGBUS);
	else if (sigbus_before.sa_handler == SIG_DFL) {
		/* One that would not come again (kill(), or KVM's machine check to a vCPU,
		 * which it would retry forever): end here, as close to before as a
		 * filtered thread may. */
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing more to say */
		}
		_exit(128 + SIGBUS);
	}
}

/* SA_NODEFER: a copy left through siglongjmp() leaves SIGBUS unblocked.
 * The action before is read first, so that a SIGBUS right after the new
 * one is in place finds it. */
static void sigbus_install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, NULL, &sigbus_before);
	sigaction(SIGBUS, &sa, NULL);
}

static uint64_t map_size(uint64_t need)
{
	return need < MAP_MIN / 2 ? MAP_MIN : 2 * need;
}

void data_map_init(struct data_map *dm, int fd, uint64_t need)
{
	uint64_t len = map_size(need);
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

	pthread_once(&sigbus_once, sigbus_install);
	*dm = p == MAP_FAILED ? (struct data_map){ 0 } : (struct data_map){ p, len };
}

void data_map_grow(struct data_map *dm, uint64_t need)
{
	if (!dm->base || need <= dm->len)
		return;
	uint64_t len = map_size(need);
	void *p = mremap(dm->base, dm->len, len, MREMAP_MAYMOVE);
	if (p != MAP_FAILED)	/* else the old mapping stays, reads beyond it use pread() */
		*dm = (struct data_map){ p, len };
}

void data_map_free(struct data_map *dm)
{
	if (dm->base)
		munmap(dm->base, dm->len);
	*dm = (struct data_map){ 0 };
}

int data_map_copy(const struct data_map *dm, void *dst, uint64_t off, size_t len)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		copy_guard = NULL;
		return -EIO;
	}
	copy_guard = &jb;
	__asm__ volatile("" ::: "memory");	/* the copy stays inside the guard */
	memcpy(dst, dm->base + off, len);
	__asm__ volatile("" ::: "memory");
	copy_guard = NULL;
	return 0;
}
