/*
 * Per-thread system call filters (seccomp BPF, no libseccomp): one
 * allowlist per thread class, all in one table in hv/seccomp.c. A thread
 * arms its class once its set-up is done; from then on any other system
 * call ends the process. A thread started after its creator armed keeps
 * the creator's filter as well (the kernel stacks them).
 */
#ifndef BEYOND_SECCOMP_H
#define BEYOND_SECCOMP_H

#include <stddef.h>

enum seccomp_class {
	SECCOMP_MAIN,	/* `beyond run`'s main thread: waits, reports, tears down */
	SECCOMP_VCPU,	/* KVM_RUN and the exit handlers */
	SECCOMP_IO,	/* device I/O threads (virtio queues, the store) */
	SECCOMP_PAGER,	/* userfaultfd and swap */
	SECCOMP_NBD,	/* every thread of `blk serve`: accept, clients, dedup */
	SECCOMP_CLASSES
};

/*
 * Arms class c's filter on the calling thread. The vCPU, I/O and pager
 * classes first block SIGINT, SIGTERM and SIGHUP, so that the main thread,
 * whose class allows what their handler does, takes them. A forbidden call
 * writes one line to stderr naming the thread class and the call, then the
 * process dies of SIGSYS. Returns 0, or -1 with errno.
 */
int seccomp_enter(enum seccomp_class c);

/* The class's name and how many system calls it allows. */
const char *seccomp_class_name(enum seccomp_class c);
size_t seccomp_count(enum seccomp_class c);

#endif
