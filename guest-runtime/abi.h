/*
 * The beyond guest ABI: shared by the monitor (hv/) and the guest runtime.
 *
 * A guest is a static ELF64 x86-64 image linked with linker.ld. It carries a
 * PT_NOTE of type BEYOND_NOTE_TYPE, name "beyond", whose descriptor is a
 * struct beyond_note; the loader refuses images without it or with another
 * ABI version.
 *
 * Every vCPU enters at e_entry in 64-bit mode at CPL3 with IOPL=3, RFLAGS.IF=0,
 * RSP at the top of its own stack, RDI = vCPU id. Guest memory is identity
 * mapped (virtual == guest-physical) with one leaf size for all of RAM.
 *
 * A hypercall is `outl` of the guest-physical address of its argument struct
 * to port BEYOND_HC_PORT_BASE + number. Argument structs must lie entirely
 * inside guest RAM below 4 GiB (the port value is 32 bits). A call whose
 * struct or buffers fall outside guest RAM ends the guest.
 *
 * Above RAM lies the device window (boot info device_base, device_size),
 * mapped uncached: MMIO devices (virtio-mmio) live there.
 */
#ifndef BEYOND_ABI_H
#define BEYOND_ABI_H

#include <stdint.h>

/* 2: boot info names the device window; SYNC hypercall. */
#define BEYOND_ABI_VERSION 2

#define BEYOND_NOTE_NAME "beyond"
#define BEYOND_NOTE_TYPE 0x62796e64u /* "bynd" */

struct beyond_note {
	uint32_t abi_version;
	uint32_t reserved;
	/* Guest address of 32 handler addresses for exception vectors 0..31;
	 * the monitor points the IDT at them (they run at CPL0). */
	uint64_t exception_handlers;
};

#define BEYOND_HC_PORT_BASE 0x500
/* Ports [BASE, BASE + BEYOND_HC_PORTS) are hypercalls; numbers are assigned below. */
#define BEYOND_HC_PORTS 0x100

enum beyond_hypercall {
	BEYOND_HC_CONSOLE = 0, /* struct beyond_hc_console */
	BEYOND_HC_EXIT = 1,    /* struct beyond_hc_exit: ends the whole guest */
	BEYOND_HC_BOOTINFO = 2, /* struct beyond_hc_bootinfo */
	BEYOND_HC_FAULT = 3,   /* struct beyond_hc_fault: ends the whole guest */
	BEYOND_HC_PARK = 4,    /* no struct: this vCPU stops for good */
	BEYOND_HC_RESULT = 5,  /* struct beyond_hc_result: a benchmark record */
	BEYOND_HC_SYNC = 6,    /* struct beyond_hc_sync: a stage a test monitor checks */
	BEYOND_HC_COUNT
};

struct beyond_hc_console {
	uint64_t buf; /* guest address */
	uint64_t len; /* at most BEYOND_CONSOLE_MAX per call */
};
#define BEYOND_CONSOLE_MAX 4096

struct beyond_hc_exit {
	uint64_t code;
};

/*
 * BOOTINFO: the monitor writes a struct beyond_bootinfo at `buf`, followed
 * by the NUL-terminated argument strings; argv[i] are guest addresses inside
 * the buffer. `ret` is 0, or the size needed when `len` was too small.
 */
struct beyond_hc_bootinfo {
	uint64_t buf;
	uint64_t len;
	uint64_t ret;
};

#define BEYOND_MAX_ARGS 32

struct beyond_bootinfo {
	uint32_t abi_version;
	uint32_t vcpu_id;      /* of the caller */
	uint32_t vcpu_count;
	uint32_t guest_page_size_log2; /* leaf size of the identity map: 12, 21 or 30 */
	uint64_t mem_size;     /* guest RAM bytes, from address 0 */
	uint64_t heap_start;   /* first free byte after the image */
	uint64_t heap_end;     /* first byte of monitor-owned memory at the top */
	uint64_t device_base;  /* the device window: guest-physical, above RAM */
	uint64_t device_size;
	uint64_t tsc_hz;
	uint64_t argc;
	uint64_t argv[BEYOND_MAX_ARGS]; /* argv[0] is the guest's name */
};

/* Written by the CPL0 exception stubs of boot/. */
struct beyond_hc_fault {
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t cr2;
};

/*
 * RESULT: a structured record for the monitor (benchmark guests report
 * through this, never as text). `type` names the record's layout; `len`
 * must be that layout's size.
 */
struct beyond_hc_result {
	uint32_t type;
	uint32_t len;
	uint64_t buf;
};

/*
 * SYNC: the guest reached a stage of a staged test (as the KVM selftests'
 * GUEST_SYNC). A monitor stepping this vCPU (vcpu_run_until_sync) stops
 * here and checks guest state before resuming; otherwise it is a no-op.
 */
struct beyond_hc_sync {
	uint64_t stage;
	uint64_t arg[3];
};

enum beyond_result_type {
	BEYOND_RESULT_TLB = 1, /* struct beyond_tlb_result */
	BEYOND_RESULT_IO = 2,  /* struct beyond_io_result */
};

enum beyond_tlb_workload { TLB_CHASE, TLB_GUPS, TLB_STREAM, TLB_WORKLOADS };

/* One timed pass of a TLB workload (guest-runtime/workloads/tlb.h). */
struct beyond_tlb_result {
	uint32_t workload;     /* enum beyond_tlb_workload */
	uint32_t pass;         /* 0 is the warm-up */
	uint64_t working_set;  /* bytes */
	uint64_t base;         /* guest address of the working set */
	uint64_t accesses;
	uint64_t cycles;       /* TSC cycles for the pass */
	uint64_t checksum;     /* keeps the work observable */
};

/*
 * virtio-mmio devices (version 2, the modern layout; virtio 1.x 4.2): slot i
 * lies at device_base + BEYOND_VIRTIO_OFFSET + i * BEYOND_VIRTIO_STRIDE.
 * Devices fill the slots from 0 in the order of the monitor's options (the
 * nth --disk is the nth block device); every other slot reads as a
 * placeholder (DeviceID 0), so the first one ends the list. Queue
 * notifications are cheap (an ioeventfd), completions are polled from the
 * used ring: there are no interrupts.
 */
#define BEYOND_VIRTIO_OFFSET 0x100000u
#define BEYOND_VIRTIO_STRIDE 0x1000u
#define BEYOND_VIRTIO_SLOTS  32u

enum beyond_io_pattern { IO_SEQ, IO_RAND };

/* One timed run of an I/O pattern against a disk (guest-runtime/workloads/io.h). */
struct beyond_io_result {
	uint32_t disk;         /* index of the block device */
	uint32_t pattern;      /* enum beyond_io_pattern */
	uint32_t write;        /* 0 reads, 1 writes */
	uint32_t block;        /* bytes per request */
	uint32_t depth;        /* requests kept in flight */
	uint32_t errors;       /* requests that did not complete with OK */
	uint64_t ops;
	uint64_t bytes;
	uint64_t cycles;       /* TSC cycles for the run */
	uint64_t notifies;     /* queue notifications the guest wrote */
};

#endif
