/* A module's life with a VM: its options, per-VM state, a failed setup, teardown. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hv/error.h"
#include "tests/kvm/kvm_test.h"

static const struct module_option probe_options[] = {
	{ "probe-tag", "TEXT", "kept as this VM's state" },
	{ "probe-fail", NULL, "makes setup fail" },
	{ 0 },
};
static unsigned probe_teardowns;
static const struct module probe_module;

static int probe_setup(struct vm *vm, char *err, size_t errlen)
{
	const char *tag = vm_option(vm, "probe-tag", 0);
	if (tag)
		*vm_module_data(vm, &probe_module) = strdup(tag);
	if (vm_option(vm, "probe-fail", 0))
		return error_set(err, errlen, "probe: told to fail");
	return 0;
}

static void probe_teardown(struct vm *vm)
{
	free(*vm_module_data(vm, &probe_module));
	probe_teardowns++;
}

static const struct module probe_module = {
	.name = "probe", .options = probe_options, .setup = probe_setup, .teardown = probe_teardown,
};
MODULE_REGISTER(probe_module);

TestSuite(modules, .init = kvm_test_open, .timeout = 60);

/* vm_create() of `hello` with these module options; its result, err filled on failure. */
static int create_with(struct vm *vm, const struct vm_option *opts, unsigned n, char *err, size_t errlen)
{
	struct vm_config cfg = kvm_test_config("hello", NULL, 1, STDERR_FILENO);
	cfg.options = opts;
	cfg.n_options = n;
	return vm_create(vm, &kvm_test_host, &cfg, err, errlen);
}

Test(modules, setup_sees_its_options_and_teardown_runs)
{
	const struct vm_option opts[] = { { "probe-tag", "vm-a" } };
	struct vm vm;
	char err[256];
	unsigned before = probe_teardowns;
	cr_assert_eq(create_with(&vm, opts, 1, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(*vm_module_data(&vm, &probe_module), "vm-a");
	vm_destroy(&vm);
	cr_expect_eq(probe_teardowns, before + 1);
}

Test(modules, failed_setup_fails_the_vm_and_is_torn_down)
{
	const struct vm_option opts[] = { { "probe-tag", "x" }, { "probe-fail", NULL } };
	struct vm vm;
	char err[256];
	unsigned before = probe_teardowns;
	cr_assert_eq(create_with(&vm, opts, 2, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "probe: told to fail");
	vm_destroy(&vm);
	cr_expect_eq(probe_teardowns, before + 1, "teardown frees what the failed setup kept");
}
