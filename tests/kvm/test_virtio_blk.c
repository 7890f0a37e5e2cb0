/*
 * virtio-blk in VMs of this process: several VMs on volumes of one store
 * (opened once, shared), a raw file, a read-only disk, hostile descriptor
 * chains that end only their own guest, and the MMIO-exit fallback for
 * notifications.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blk/disk.h"
#include "blk/store.h"
#include "hv/vcpu.h"
#include "tests/kvm/kvm_test.h"

static char dir[64], store[96], file[96];

static void setup(void)
{
	kvm_test_open();
	strcpy(dir, "/tmp/beyond-vblk.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(file, sizeof(file), "%s/img", dir);
	cr_assert_eq(blk_store_create(store, 4096, BLK_DEDUP_INLINE), 0);
	struct blk_store *s;
	cr_assert_eq(blk_store_open(store, &s), 0);
	cr_assert_eq(blk_vol_create(s, "a", 8 << 20), 0);
	cr_assert_eq(blk_vol_create(s, "b", 8 << 20), 0);
	cr_assert_eq(blk_store_close(s), 0);
	int fd = open(file, O_CREAT | O_RDWR | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, 4 << 20) == 0);
	close(fd);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(virtio_blk, .init = setup, .fini = teardown, .timeout = 120);

struct guest_run {
	struct vm vm;
	char *argv[4];
	struct vm_option opts[2];
	char disk[256];
	pthread_t thread;
	int status;
};

/* Creates a VM running `disk ARGS...` (or test guest `guest`) on one disk. */
static void make(struct guest_run *g, const char *guest, const char *disk, const char *a0, const char *a1,
		 const char *a2)
{
	char err[512];
	int console = open("/dev/null", O_WRONLY | O_CLOEXEC);
	snprintf(g->disk, sizeof(g->disk), "%s", disk);
	g->argv[0] = (char *)a0, g->argv[1] = (char *)a1, g->argv[2] = (char *)a2, g->argv[3] = NULL;
	struct vm_config cfg = kvm_test_config(guest, g->argv, 1, console);
	cfg.argc = a2 ? 3 : a1 ? 2 : 1;
	g->opts[0] = (struct vm_option){ "disk", g->disk };
	cfg.options = g->opts;
	cfg.n_options = 1;
	cr_assert_eq(vm_create(&g->vm, &kvm_test_host, &cfg, err, sizeof(err)), 0, "%s", err);
}

static void *run_thread(void *arg)
{
	struct guest_run *g = arg;
	g->status = vm_run(&g->vm);
	return NULL;
}

Test(virtio_blk, two_vms_share_one_store_and_a_hostile_one_ends_alone)
{
	static struct guest_run a, b, h;
	char disk_a[160], disk_b[160];
	snprintf(disk_a, sizeof(disk_a), "store=%s,vol=a", store);
	snprintf(disk_b, sizeof(disk_b), "store=%s,vol=b", store);
	make(&a, "disk", disk_a, "fill", "0", "11");
	make(&b, "disk", disk_b, "fill", "0", "22");
	make(&h, "vblk_hostile", disk_b, "loop", NULL, NULL);
	cr_assert_eq(pthread_create(&a.thread, NULL, run_thread, &a), 0);
	cr_assert_eq(pthread_create(&b.thread, NULL, run_thread, &b), 0);
	cr_expect_eq(vm_run(&h.vm), VM_STATUS_ABNORMAL);
	cr_expect(strstr(h.vm.reason, "longer than the queue"), "%s", h.vm.reason);
	pthread_join(a.thread, NULL);
	pthread_join(b.thread, NULL);
	cr_expect_eq(a.status, 0, "%s", a.vm.reason);
	cr_expect_eq(b.status, 0, "%s", b.vm.reason);
	vm_destroy(&h.vm);
	vm_destroy(&a.vm);
	vm_destroy(&b.vm);

	/* The store was closed with the last disk: a new VM opens it again and finds both patterns. */
	make(&a, "disk", disk_a, "verify", "0", "11");
	make(&b, "disk", disk_b, "verify", "0", "22");
	cr_expect_eq(vm_run(&a.vm), 0, "%s", a.vm.reason);
	cr_expect_eq(vm_run(&b.vm), 0, "%s", b.vm.reason);
	vm_destroy(&a.vm);
	vm_destroy(&b.vm);
}

Test(virtio_blk, hostile_chains_end_the_guest_with_a_reason)
{
	static const struct { const char *kind, *reason; } cases[] = {
		{ "oob", "outside guest RAM" }, { "window", "outside guest RAM" },
		{ "loop", "longer than the queue" }, { "zero", "zero-length" },
		{ "nostatus", "without a status byte" }, { "many", "at most 256 entries" },
	};
	char disk[160];
	snprintf(disk, sizeof(disk), "file=%s", file);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct guest_run g;
		make(&g, "vblk_hostile", disk, cases[i].kind, NULL, NULL);
		cr_expect_eq(vm_run(&g.vm), VM_STATUS_ABNORMAL, "%s: %s", cases[i].kind, g.vm.reason);
		cr_expect(strstr(g.vm.reason, cases[i].reason), "%s: %s", cases[i].kind, g.vm.reason);
		vm_destroy(&g.vm);
	}
}

/* Runs guest on a raw-file disk (file plus `opts`) and expects exit status 0; returns the VM's MMIO exits. */
static uint64_t run_ok(const char *guest, const char *opts, const char *a0, const char *a1, const char *a2)
{
	struct guest_run g;
	char disk[256];
	snprintf(disk, sizeof(disk), "file=%s%s", file, opts);
	make(&g, guest, disk, a0, a1, a2);
	cr_expect_eq(vm_run(&g.vm), 0, "%s %s: %s", guest, a0, g.vm.reason);
	uint64_t exits = g.vm.vcpus[0].exits[KVM_EXIT_MMIO];
	vm_destroy(&g.vm);
	return exits;
}

Test(virtio_blk, read_into_a_device_readable_buffer_is_an_io_error)
{
	run_ok("vblk_hostile", "", "rodata", NULL, NULL);
}

Test(virtio_blk, raw_file_ops_and_read_only)
{
	run_ok("disk", ",id=scratch", "ops", "0", NULL);
	run_ok("disk", ",ro", "ro", "0", NULL);
}

Test(virtio_blk, notifications_by_mmio_exit)
{
	cr_expect_gt(run_ok("disk", ",ioeventfd=off,poll=0", "fill", "0", "5"), 30,
		     "notifications went through the MMIO exit");
	run_ok("disk", ",threads=3", "verify", "0", "5");
}

Test(virtio_blk, bad_disk_options_fail_set_up)
{
	char err[512];
	struct vm vm;
	struct vm_option o = { "disk", "store=/nonexistent,vol=x" };
	struct vm_config cfg = kvm_test_config("disk", NULL, 1, -1);
	cfg.options = &o;
	cfg.n_options = 1;
	cr_expect_eq(vm_create(&vm, &kvm_test_host, &cfg, err, sizeof(err)), -1);
	cr_expect(strstr(err, "no store /nonexistent"), "%s", err);
	vm_destroy(&vm);
}

/* Every 4 KiB block of the snapshot holds one generation of the `flushes` guest, the blocks at most one apart. */
static void check_generations(struct blk_store *s, const char *name)
{
	struct blk_vol *v;
	uint64_t b[8192], lo = ~0ull, hi = 0;
	cr_assert_eq(blk_vol_open(s, name, &v), 0);
	cr_assert_eq(blk_read(v, b, 0, sizeof(b)), 0);
	blk_vol_close(v);
	for (int blk = 0; blk < 16; blk++) {
		uint64_t g = b[blk * 512];
		for (int i = 1; i < 512; i++)
			cr_assert_eq(b[blk * 512 + i], g, "block %d of %s mixes generations", blk, name);
		lo = g < lo ? g : lo, hi = g > hi ? g : hi;
	}
	cr_expect(lo >= 1 && hi - lo <= 1, "%s holds generations %lu..%lu", name, (unsigned long)lo, (unsigned long)hi);
}

Test(virtio_blk, snapshot_and_clone_a_volume_in_use)
{
	static struct guest_run w, r;
	char disk[160], err[256];
	snprintf(disk, sizeof(disk), "store=%s,vol=a", store);
	make(&w, "disk", disk, "flushes", "0", NULL);
	cr_assert_eq(pthread_create(&w.thread, NULL, run_thread, &w), 0);
	struct disk *d;
	cr_assert_eq(disk_open_volume(store, "a", false, &d, err, sizeof(err)), 0, "%s", err);
	struct blk_store *s = disk_store(d);
	usleep(300000); /* some generations written */
	cr_expect_eq(blk_vol_copy(s, "a", "snap", false), 0);
	cr_expect_eq(blk_vol_copy(s, "snap", "clone", true), 0);
	vm_end(&w.vm, 0, "test over");
	pthread_join(w.thread, NULL);
	vm_destroy(&w.vm);
	check_generations(s, "snap");
	check_generations(s, "clone");
	cr_expect_eq(disk_close(d), 0);

	/* A snapshot is a read-only disk: the guest sees RO and gets IOERR on writes. */
	snprintf(disk, sizeof(disk), "store=%s,vol=snap", store);
	make(&r, "disk", disk, "ro", "0", NULL);
	cr_expect_eq(vm_run(&r.vm), 0, "%s", r.vm.reason);
	vm_destroy(&r.vm);
}
