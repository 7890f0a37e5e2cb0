/*
 * Several VMs in one process, in the style of the KVM selftests: the monitor's
 * VM objects driven directly, each with its own console, concurrently.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "tests/kvm/kvm_test.h"

struct guest_run {
	const char *guest;
	char *arg;
	unsigned vcpus;
	int console[2];
	int status;
	char reason[512];
};

static void *run_guest(void *arg)
{
	struct guest_run *g = arg;
	struct vm vm;
	char err[256];
	struct vm_config cfg = kvm_test_config(g->guest, &g->arg, g->vcpus, g->console[1]);
	if (vm_create(&vm, &kvm_test_host, &cfg, err, sizeof(err))) {
		snprintf(g->reason, sizeof(g->reason), "create: %s", err);
		g->status = -1;
	} else {
		g->status = vm_run(&vm);
		snprintf(g->reason, sizeof(g->reason), "%s", vm.reason);
	}
	vm_destroy(&vm);
	close(g->console[1]);
	return NULL;
}

static void read_console(struct guest_run *g, char *buf, size_t len)
{
	ssize_t n, got = 0;
	while ((n = read(g->console[0], buf + got, len - 1 - got)) > 0)
		got += n;
	buf[got] = 0;
	close(g->console[0]);
}

TestSuite(vms, .init = kvm_test_open, .timeout = 60);

Test(vms, concurrent_guests_keep_their_consoles_and_fates)
{
	struct guest_run runs[] = {
		{ .guest = "smp", .vcpus = 2 },
		{ .guest = "hello", .vcpus = 1 },
		{ .guest = "fault", .vcpus = 1 },
		{ .guest = "exit", .arg = "7", .vcpus = 2 },
		{ .guest = "badcall", .vcpus = 1 },
	};
	enum { N = sizeof(runs) / sizeof(runs[0]) };
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pipe(runs[i].console), 0);
		cr_assert_eq(pthread_create(&t[i], NULL, run_guest, &runs[i]), 0);
	}
	char out[N][4096];
	for (int i = 0; i < N; i++) {
		read_console(&runs[i], out[i], sizeof(out[i]));
		pthread_join(t[i], NULL);
	}
	cr_expect_eq(runs[0].status, 0, "smp: %s", runs[0].reason);
	cr_expect(strstr(out[0], "all 2 vCPUs checked in"), "smp console: %s", out[0]);
	cr_expect_eq(runs[1].status, 0, "hello: %s", runs[1].reason);
	cr_expect(strstr(out[1], "Hello from beyond guest 'hello'") && !strstr(out[1], "smp"),
		  "hello console: %s", out[1]);
	cr_expect_eq(runs[2].status, VM_STATUS_ABNORMAL);
	cr_expect(strstr(runs[2].reason, "divide error"), "fault: %s", runs[2].reason);
	cr_expect_eq(runs[3].status, 7, "exit: %s", runs[3].reason);
	cr_expect_eq(runs[4].status, VM_STATUS_ABNORMAL);
	cr_expect(strstr(runs[4].reason, "bad hypercall"), "badcall: %s", runs[4].reason);
}

Test(vms, many_vms_one_after_another_leak_nothing)
{
	long fds_before = 0, fds_after = 0;
	for (int fd = 0; fd < 1024; fd++)
		fds_before += fcntl(fd, F_GETFD) != -1;
	for (int i = 0; i < 20; i++) {
		struct guest_run g = { .guest = "hello", .vcpus = 2 };
		cr_assert_eq(pipe(g.console), 0);
		run_guest(&g);
		char buf[512];
		read_console(&g, buf, sizeof(buf));
		cr_assert_eq(g.status, 0, "run %d: %s", i, g.reason);
	}
	for (int fd = 0; fd < 1024; fd++)
		fds_after += fcntl(fd, F_GETFD) != -1;
	cr_expect_eq(fds_after, fds_before, "file descriptors leaked: %ld -> %ld", fds_before, fds_after);
}
