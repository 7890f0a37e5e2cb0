/*
 * seccomp filters per thread class, built as classic BPF from one table.
 *
 * Forbidden calls trap (SECCOMP_RET_TRAP) rather than kill at once: the
 * SIGSYS handler can then say which thread class made which call, which
 * is what one needs to fix a filter or to see an attack. It cannot be
 * talked out of ending the process: only the main thread may call
 * rt_sigaction (its fatal-signal handler re-raises), and the handler ends
 * the process by repeating the call with SIGSYS blocked, which the kernel
 * answers by killing with SIGSYS.
 * Other architectures and x32 calls are killed outright.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "hv/seccomp.h"

#define C(x) (1u << SECCOMP_##x)
#define WORKERS (C(VCPU) | C(IO) | C(PAGER))
#define ALL (C(MAIN) | WORKERS | C(NBD))

static const char *const class_names[SECCOMP_CLASSES] = {
	[SECCOMP_MAIN] = "main", [SECCOMP_VCPU] = "vcpu", [SECCOMP_IO] = "device I/O",
	[SECCOMP_PAGER] = "pager", [SECCOMP_NBD] = "nbd",
};

/* The only ioctls a vCPU thread makes: run, and read registers for a crash report. */
static const uint32_t vcpu_ioctls[] = { KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS };
/* musl's fdopen() asks whether the descriptor is a terminal (the control socket's answers). */
static const uint32_t tty_ioctls[] = { TIOCGWINSZ };

/*
 * The allowlists: a row names a system call and the classes that may make
 * it, optionally only with argument `arg` (its low 32 bits) in vals. Add
 * your class to a row, or a row, when your thread needs a call.
 */
static const struct rule {
	long nr;
	unsigned classes;
	unsigned arg;
	const uint32_t *vals;
	size_t nvals;
} rules[] = {
#define R(call, cls) { .nr = SYS_##call, .classes = (cls) }
	/* Threads, locks, time, memory (malloc), signals, leaving. */
	R(futex, ALL),
	R(clock_gettime, ALL),
	R(clock_nanosleep, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(nanosleep, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(sched_yield, ALL),
	R(brk, ALL),
	R(mmap, ALL),
	R(munmap, ALL),
	R(mremap, ALL),
	R(madvise, ALL),
	R(mprotect, C(MAIN) | C(NBD)),	/* thread stacks' guard pages */
	R(clone, C(MAIN) | C(NBD)),
	R(sched_setaffinity, C(MAIN) | C(VCPU)),	/* the scheduler's gate pins vCPU threads to their CPU */
	R(sched_setscheduler, C(MAIN) | C(VCPU)),	/* --rt: real-time vCPU threads */
	R(clone3, C(MAIN) | C(NBD)),
	R(set_robust_list, C(MAIN) | C(NBD)),
	R(rseq, C(MAIN) | C(NBD)),
	R(rt_sigreturn, ALL),
	R(rt_sigprocmask, ALL),
	R(rt_sigaction, C(MAIN)),	/* the fatal-signal handler re-raises */
	R(gettid, ALL),
	R(getpid, ALL),
	R(tkill, ALL),		/* pthread_kill: kicking vCPUs out of KVM_RUN */
	R(tgkill, ALL),
	R(exit, ALL),
	R(exit_group, ALL),
	/* Files already open: console, results, store, swap. */
	R(read, ALL),
	R(write, ALL),
	R(readv, ALL),
	R(writev, ALL),
	R(pread64, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(pwrite64, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(preadv, C(IO) | C(PAGER) | C(NBD)),
	R(pwritev, C(IO) | C(PAGER) | C(NBD)),
	R(lseek, C(MAIN) | C(IO) | C(NBD)),
	R(fsync, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(fdatasync, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(fallocate, C(MAIN) | C(IO) | C(PAGER) | C(NBD)), /* main: closing a store punches freed runs */
	R(ftruncate, C(MAIN) | C(IO) | C(NBD)),
	R(fstat, C(MAIN) | C(IO) | C(NBD)),
	R(newfstatat, C(MAIN) | C(IO) | C(NBD)),
	R(close, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	/* Files by name: the hugetlb pool's records at teardown; the store's
	 * checkpoint and journal. */
	R(open, C(MAIN) | C(NBD)),
	R(openat, C(MAIN) | C(NBD)),
	R(unlink, C(MAIN) | C(NBD)),
	R(unlinkat, C(MAIN) | C(NBD)),
	R(rename, C(MAIN) | C(NBD)),
	R(renameat, C(MAIN) | C(NBD)),
	R(renameat2, C(MAIN) | C(NBD)),
	R(getdents64, C(MAIN)),
	R(mkdir, C(MAIN)),
	R(mkdirat, C(MAIN)),
	R(geteuid, C(MAIN)),
	R(flock, C(MAIN) | C(NBD)),
	R(fcntl, C(MAIN) | C(NBD)),
	/* KVM and userfaultfd. */
	{ SYS_ioctl, C(VCPU), 1, vcpu_ioctls, sizeof(vcpu_ioctls) / sizeof(vcpu_ioctls[0]) },
	{ SYS_ioctl, C(NBD), 1, tty_ioctls, sizeof(tty_ioctls) / sizeof(tty_ioctls[0]) },
	R(ioctl, C(MAIN) | C(IO) | C(PAGER)),
	/* Event loops. */
	R(poll, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),	/* main: the console of several VMs */
	R(ppoll, C(MAIN) | C(IO) | C(PAGER) | C(NBD)),
	R(epoll_wait, C(IO) | C(PAGER)),
	R(epoll_pwait, C(IO) | C(PAGER)),
	/* NBD: sockets that exist; no socket(), connect() or bind(). */
	R(accept, C(NBD)),
	R(accept4, C(NBD)),
	R(recvfrom, C(NBD)),
	R(sendmsg, C(NBD)),
	R(setsockopt, C(NBD)),
	R(shutdown, C(MAIN) | C(NBD)),	/* main: ends the control socket's accept() */
#ifdef __GLIBC__
	/* The gcc + glibc test build (musl, which ships, needs neither): glibc's
	 * first pthread_create installs its cancellation signal's handler, and
	 * its qsort sizes a buffer by the RAM sysinfo reports. */
	R(rt_sigaction, C(NBD)),
	R(sysinfo, ALL),
#endif
#ifdef __SANITIZE_ADDRESS__
	/* The sanitizers' runtime in the test build: a signal stack and the
	 * stack bounds of each new thread, and what a report needs (the binary's
	 * name, its log file). LeakSanitizer, which stops threads with ptrace,
	 * runs without filters. */
	R(sigaltstack, ALL),
	R(sched_getaffinity, ALL),
	R(readlink, ALL),
	R(open, ALL),
	R(openat, ALL),
#endif
#undef R
};

static const char *const syscall_names[] = {
#include "syscall_names.h"
};

static __thread int thread_class = -1;

/* Async-signal-safe: appends s to buf at *n. */
static void put(char *buf, size_t len, size_t *n, const char *s)
{
	while (*s && *n + 1 < len)
		buf[(*n)++] = *s++;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	char msg[256], num[12];
	size_t n = 0, k = sizeof(num);
	unsigned nr = si->si_syscall;
	const char *name = nr < sizeof(syscall_names) / sizeof(syscall_names[0]) && syscall_names[nr]
		? syscall_names[nr] : "?";

	num[--k] = 0;
	do
		num[--k] = '0' + nr % 10;
	while ((nr /= 10) && k);
	put(msg, sizeof(msg), &n, "beyond: seccomp: ");
	if (thread_class >= 0) {
		put(msg, sizeof(msg), &n, "the ");
		put(msg, sizeof(msg), &n, class_names[thread_class]);
		put(msg, sizeof(msg), &n, " thread");
	} else {
		put(msg, sizeof(msg), &n, "a thread started by a filtered one");
	}
	put(msg, sizeof(msg), &n, " made a forbidden system call, ");
	put(msg, sizeof(msg), &n, name);
	put(msg, sizeof(msg), &n, " (");
	put(msg, sizeof(msg), &n, num + k);
	put(msg, sizeof(msg), &n, "); ending the process (--no-seccomp turns the filters off)\n");
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* nothing more to say */
	}
	/* Forbidden again, now with SIGSYS blocked: the kernel kills us with it. */
	syscall(si->si_syscall, 0, 0, 0, 0, 0, 0);
	syscall(SYS_exit_group, 128 + SIGSYS);
}

static void install_sigsys(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}

static int allows(const struct rule *r, enum seccomp_class c)
{
	return (r->classes & (1u << c)) != 0;
}

#define MAX_INSNS 1024
#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define LOAD_NR STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ALLOW STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* The class's program: check the architecture, then one test per row; 0 if
 * it does not fit. */
static size_t build(enum seccomp_class c, struct sock_filter *f)
{
	size_t n = 0;

	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = LOAD_NR;
	f[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);	/* x32 */
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		if (!allows(r, c))
			continue;
		if (n + 2 * r->nvals + 4 > MAX_INSNS)
			return 0;
		if (!r->vals) {
			f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->nr, 0, 1);
			f[n++] = ALLOW;
			continue;
		}
		/* Not this call: skip the argument tests (A still holds nr). */
		f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->nr, 0, 2 * r->nvals + 2);
		f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[r->arg]));
		for (size_t v = 0; v < r->nvals; v++) {
			f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->vals[v], 0, 1);
			f[n++] = ALLOW;
		}
		f[n++] = LOAD_NR;
	}
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	return n;
}

int seccomp_enter(enum seccomp_class c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sock_filter f[MAX_INSNS];
	struct sock_fprog prog = { .filter = f };

	if (c >= SECCOMP_CLASSES || !(prog.len = build(c, f)))
		return errno = EINVAL, -1;
	if (thread_class == (int)c)
		return 0;
	pthread_once(&once, install_sigsys);
	if ((1u << c) & WORKERS) {
		sigset_t fatal;
		sigemptyset(&fatal);
		sigaddset(&fatal, SIGINT);
		sigaddset(&fatal, SIGTERM);
		sigaddset(&fatal, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &fatal, NULL);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -1;
	thread_class = c;
	return 0;
}

const char *seccomp_class_name(enum seccomp_class c)
{
	return c < SECCOMP_CLASSES ? class_names[c] : "?";
}

size_t seccomp_count(enum seccomp_class c)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		size_t j = 0;
		while (j < i && !(rules[j].nr == rules[i].nr && allows(&rules[j], c)))
			j++;
		n += allows(&rules[i], c) && j == i;	/* each call once */
	}
	return n;
}
