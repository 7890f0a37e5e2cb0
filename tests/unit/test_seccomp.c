/* The per-thread seccomp filters (hv/seccomp.c), each armed in a child process. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hv/seccomp.h"

struct outcome {
	int status;		/* from waitpid */
	char err[512];		/* what the child wrote to stderr */
};

/* Runs fn in a child whose stderr is captured, after arming class c; fn's
 * return value is the child's exit status. */
static struct outcome in_child(enum seccomp_class c, int (*fn)(void))
{
	struct outcome o = { 0 };
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		if (seccomp_enter(c))
			_exit(100);
		_exit(fn());
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < sizeof(o.err) && (r = read(p[0], o.err + n, sizeof(o.err) - 1 - n)) > 0)
		n += r;
	close(p[0]);
	cr_assert_eq(waitpid(pid, &o.status, 0), pid);
	return o;
}

static void expect_sigsys(struct outcome o, const char *message)
{
	cr_assert(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS,
		  "child not killed by SIGSYS (status %#x, stderr '%s')", o.status, o.err);
	cr_assert(strstr(o.err, message), "stderr '%s' lacks '%s'", o.err, message);
}

static void expect_exit(struct outcome o, int code)
{
	cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == code, "child status %#x, stderr '%s'",
		  o.status, o.err);
}

static int make_socket(void) { return (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0) < 0 ? 1 : 2; }
static int run_a_vcpu(void) { return ioctl(-1, KVM_RUN, 0) == -1 && errno == EBADF ? 0 : 1; }
static int read_fionread(void) { int n; return ioctl(0, FIONREAD, &n) < 0 ? 1 : 2; }
static int unlink_a_file(void) { return syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent", 0) < 0 ? 1 : 2; }

static int fatal_signals_blocked(void)
{
	sigset_t s;
	pthread_sigmask(SIG_BLOCK, NULL, &s);
	return sigismember(&s, SIGTERM) && sigismember(&s, SIGINT) && sigismember(&s, SIGHUP) ? 0 : 1;
}

static int busy(void)
{
	char buf[64];
	void *p = malloc(1 << 20);	/* mmap */
	free(p);
	int n = snprintf(buf, sizeof(buf), "pid %d\n", (int)getpid());
	return write(STDOUT_FILENO, buf, 0) == 0 && n > 0 ? 0 : 1;
}

Test(seccomp, a_forbidden_call_ends_the_process_naming_class_and_call)
{
	expect_sigsys(in_child(SECCOMP_VCPU, make_socket),
		      "seccomp: the vcpu thread made a forbidden system call, socket (41)");
	expect_sigsys(in_child(SECCOMP_NBD, make_socket), "the nbd thread made a forbidden system call, socket");
}

Test(seccomp, vcpu_threads_may_run_a_vcpu_but_make_no_other_ioctl)
{
	expect_exit(in_child(SECCOMP_VCPU, run_a_vcpu), 0);
	expect_sigsys(in_child(SECCOMP_VCPU, read_fionread), "forbidden system call, ioctl (16)");
}

Test(seccomp, files_by_name_only_where_allowed)
{
	expect_sigsys(in_child(SECCOMP_VCPU, unlink_a_file), "unlinkat (263)");
	expect_sigsys(in_child(SECCOMP_IO, unlink_a_file), "the device I/O thread made");
	expect_exit(in_child(SECCOMP_MAIN, unlink_a_file), 1);
}

Test(seccomp, every_class_allows_memory_time_and_output)
{
	for (int c = 0; c < SECCOMP_CLASSES; c++) {
		expect_exit(in_child(c, busy), 0);
		cr_assert_gt(seccomp_count(c), 10, "%s allows %zu calls", seccomp_class_name(c), seccomp_count(c));
	}
}

Test(seccomp, worker_threads_leave_fatal_signals_to_the_main_thread)
{
	expect_exit(in_child(SECCOMP_VCPU, fatal_signals_blocked), 0);
	expect_exit(in_child(SECCOMP_PAGER, fatal_signals_blocked), 0);
	expect_exit(in_child(SECCOMP_MAIN, fatal_signals_blocked), 1);
}

Test(seccomp, an_unknown_class_is_refused)
{
	cr_assert_eq(seccomp_enter(SECCOMP_CLASSES), -1);
	cr_assert_eq(errno, EINVAL);
}
