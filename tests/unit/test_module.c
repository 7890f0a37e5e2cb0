/* Modules and the registries they claim hypercalls and MMIO ranges in: claims never overlap. */
#include <criterion/criterion.h>
#include <string.h>
#include "hv/vm.h"
#include "mm/layout.h"

static void handler(struct vcpu *v, void *opaque, uint64_t gpa) { (void)v, (void)opaque, (void)gpa; }
static void device(struct vcpu *v, void *opaque, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
	(void)v, (void)opaque, (void)off, (void)data, (void)len, (void)is_write;
}

static const struct module_option unit_options[] = {
	{ "unit-flag", NULL, "a flag" }, { "unit-disk", "SPEC", "a repeatable option" }, { 0 },
};
static const struct module unit_module = { .name = "unit", .options = unit_options };
MODULE_REGISTER(unit_module);

/* A VM as vm_create() leaves it before any module ran, with 1 GiB of RAM. */
static struct vm *bare_vm(void)
{
	static struct vm vm;
	memset(&vm, 0, sizeof(vm));
	vm.cfg.mem_size = 1ull << 30;
	vm.device_base = layout_device_window(vm.cfg.mem_size);
	return &vm;
}

Test(module, registered_by_section)
{
	int core = 0, unit = 0;
	for (size_t i = 0; i < module_count(); i++) {
		core += strcmp(module_at(i)->name, "core") == 0;
		unit += module_at(i) == &unit_module;
	}
	cr_assert_eq(core, 1, "the core module is registered once");
	cr_assert_eq(unit, 1, "a module in another object file registers itself");
	const struct module_option *o;
	cr_assert_eq(module_for_option("unit-disk", &o), &unit_module);
	cr_assert_str_eq(o->arg, "SPEC");
	cr_assert_null(module_for_option("no-such-option", &o));
}

Test(module, second_hypercall_handler_refused)
{
	struct vm *vm = bare_vm();
	char err[256];
	cr_assert_eq(vm_register_hypercall(vm, BEYOND_HC_CONSOLE, handler, NULL, "first", err, sizeof(err)), 0);
	cr_assert_eq(vm_register_hypercall(vm, BEYOND_HC_CONSOLE, handler, NULL, "second", err, sizeof(err)), -1);
	cr_assert(strstr(err, "already handled by first"), "%s", err);
	cr_assert_eq(vm->hypercalls[BEYOND_HC_CONSOLE].owner, (const char *)"first", "the first claim stands");
	cr_assert_eq(vm_register_hypercall(vm, BEYOND_HC_COUNT, handler, NULL, "x", err, sizeof(err)), -1);
	cr_assert_eq(vm_register_hypercall(vm, ~0u, handler, NULL, "x", err, sizeof(err)), -1);
}

Test(module, overlapping_mmio_refused)
{
	struct vm *vm = bare_vm();
	uint64_t w = vm->device_base;
	char err[256];
	cr_assert_eq(w, 1ull << 30);
	cr_assert_eq(vm_register_mmio(vm, w + 0x1000, 0x200, device, NULL, "a", err, sizeof(err)), 0);
	cr_assert_eq(vm_register_mmio(vm, w + 0x1200, 0x200, device, NULL, "b", err, sizeof(err)), 0,
		     "adjacent is fine: %s", err);
	cr_assert_eq(vm_register_mmio(vm, w + 0x11ff, 2, device, NULL, "c", err, sizeof(err)), -1);
	cr_assert(strstr(err, "overlaps a's"), "%s", err);
	cr_assert_eq(vm_register_mmio(vm, w + 0x800, 0x1000, device, NULL, "d", err, sizeof(err)), -1);
	cr_assert_eq(vm->n_mmio, 2);
}

Test(module, mmio_outside_the_window_refused)
{
	struct vm *vm = bare_vm();
	uint64_t w = vm->device_base;
	char err[256];
	cr_assert_eq(vm_register_mmio(vm, 0x1000, 0x100, device, NULL, "ram", err, sizeof(err)), -1,
		     "RAM is no device");
	cr_assert_eq(vm_register_mmio(vm, w + LAYOUT_DEVICE_WINDOW_SIZE - 8, 16, device, NULL, "end", err,
				      sizeof(err)), -1);
	cr_assert_eq(vm_register_mmio(vm, w, 0, device, NULL, "empty", err, sizeof(err)), -1);
	cr_assert_eq(vm_register_mmio(vm, ~0ull - 7, 16, device, NULL, "wrap", err, sizeof(err)), -1);
	cr_assert_eq(vm_register_mmio(vm, w, LAYOUT_DEVICE_WINDOW_SIZE, device, NULL, "all", err, sizeof(err)), 0);
}

Test(module, options_in_order)
{
	struct vm *vm = bare_vm();
	const struct vm_option opts[] = {
		{ "unit-disk", "a" }, { "unit-flag", NULL }, { "unit-disk", "b" },
	};
	vm->cfg.options = opts;
	vm->cfg.n_options = 3;
	cr_assert_str_eq(vm_option(vm, "unit-disk", 0), "a");
	cr_assert_str_eq(vm_option(vm, "unit-disk", 1), "b");
	cr_assert_null(vm_option(vm, "unit-disk", 2));
	cr_assert_str_eq(vm_option(vm, "unit-flag", 0), "");
	cr_assert_null(vm_option(vm, "core", 0));
	void **slot = vm_module_data(vm, &unit_module);
	cr_assert_not_null(slot);
	cr_assert_null(*slot);
}
