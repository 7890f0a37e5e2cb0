/*
 * A VM: guest RAM, its page tables and descriptor tables, one thread per vCPU,
 * and the exit handlers. Several VMs can live in one process.
 */
#ifndef BEYOND_VM_H
#define BEYOND_VM_H

#include <pthread.h>
#include <stdint.h>
#include "guest-runtime/abi.h"
#include "hv/elf_loader.h"
#include "hv/kvm.h"
#include "hv/module.h"
#include "mm/guest_mem.h"

/* Exit status of a guest that was ended for a fault, bad hypercall, crash or timeout. */
#define VM_STATUS_ABNORMAL 125
/* Longest --timeout (a year): keeps the deadline arithmetic finite. */
#define VM_MAX_TIMEOUT (365.0 * 86400)

struct vm;
struct vcpu;
struct sched;

/* A hypercall handler: gets the guest-physical address the guest passed. */
typedef void (*hypercall_fn)(struct vcpu *v, void *opaque, uint64_t gpa);

/* An MMIO handler for a registered region; offset is relative to its base. */
typedef void (*mmio_fn)(struct vcpu *v, void *opaque, uint64_t offset, uint8_t *data,
			uint32_t len, int is_write);

/* A module's option as given for this VM (struct module_option). */
struct vm_option {
	const char *name;
	const char *value;           /* NULL for a flag */
};

struct vm_config {
	const char *name;            /* the guest's name; its argv[0] */
	const uint8_t *image;
	size_t image_size;
	uint64_t mem_size;
	unsigned vcpus;
	uint64_t guest_page;         /* PT_4K, PT_2M or PT_1G */
	enum host_pages host_pages;
	int populate;                /* fault all RAM in before the guest starts */
	double timeout;              /* seconds, up to VM_MAX_TIMEOUT; 0 means none */
	int argc;                    /* guest arguments after argv[0] */
	char **argv;
	int console_fd;
	int pin;                     /* pin vCPU i to host CPU pin_cpu + i */
	int seccomp;                 /* arm the per-thread syscall filters (hv/seccomp.h) */
	int pin_cpu;
	/* Receives the guest's result records (BEYOND_HC_RESULT) on the reporting vCPU's
	 * thread, so concurrently for a VM of several vCPUs; may be NULL. */
	void (*on_result)(void *opaque, uint32_t type, const void *rec, uint32_t len);
	void *opaque;
	const struct vm_option *options; /* module options, in command-line order */
	unsigned n_options;
	struct sched *sched;         /* the scheduler this VM joins (hv/sched/sched.h), or NULL */
};

struct hypercall_entry {
	hypercall_fn fn;
	void *opaque;
	const char *owner;
};

struct mmio_region {
	uint64_t base, len;
	mmio_fn fn;
	void *opaque;
	const char *owner;
};

#define VM_MAX_MMIO 32
#define VM_MAX_MODULES 32

struct vm {
	struct kvm_host *kvm;
	struct vm_config cfg;
	int fd;
	struct guest_mem mem;
	struct elf_image image;
	uint64_t cr3;
	uint64_t stacks_start;       /* per-vCPU CPL3 stacks, right after the image */
	uint64_t heap_start, heap_end;
	uint64_t tsc_hz;
	struct vcpu *vcpus;
	uint64_t device_base;        /* the device window (mm/layout.h) */
	struct hypercall_entry hypercalls[BEYOND_HC_COUNT];
	struct mmio_region mmio[VM_MAX_MMIO];
	unsigned n_mmio;
	void *module_data[VM_MAX_MODULES];
	size_t modules_set_up;       /* modules whose setup ran, in module order */

	pthread_mutex_t lock;        /* guards what follows */
	pthread_cond_t changed;
	int ended;
	int status;
	unsigned parked;
	char reason[512];            /* why the guest ended, when abnormal */
	char dump[2048];             /* register dump for low-level ends */
};

/* Builds the VM and loads the image; returns 0 or -1 with a reason in err. */
int vm_create(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, char *err,
	      size_t errlen);
/* Runs all vCPUs until the guest ends; returns its exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Ends the guest (the first end wins) and kicks every vCPU out of KVM_RUN. */
void vm_end(struct vm *vm, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the guest abnormally because of what vCPU v did, with a register dump. */
void vm_crash(struct vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Claim hypercall number nr / the MMIO range [base, base + len) inside the
 * device window for `owner`. Return 0, or -1 with a reason in err when the
 * number or range is invalid or already claimed (by whom).
 */
int vm_register_hypercall(struct vm *vm, unsigned nr, hypercall_fn fn, void *opaque,
			  const char *owner, char *err, size_t errlen);
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, mmio_fn fn, void *opaque,
		     const char *owner, char *err, size_t errlen);

/* The nth value (from 0) given for module option `name`, "" for a flag, or NULL. */
const char *vm_option(const struct vm *vm, const char *name, unsigned nth);
/* The last value given for `name` (a later one overrides an earlier one), or dflt. */
const char *vm_last_option(const struct vm *vm, const char *name, const char *dflt);
/* Module m's per-VM state, for its setup to fill and its teardown to free. */
void **vm_module_data(struct vm *vm, const struct module *m);

/*
 * Copies a guest struct of len bytes at gpa into dst (so the guest cannot
 * change it under the monitor). Ends the guest and returns -1 if it is not
 * inside RAM.
 */
int vm_copy_from_guest(struct vcpu *v, const char *what, void *dst, uint64_t gpa, uint64_t len);
/* Host pointer to guest [gpa, gpa + len), or NULL after ending the guest. */
void *vm_guest_buffer(struct vcpu *v, const char *what, uint64_t gpa, uint64_t len);

#endif
