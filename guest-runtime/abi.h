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
	BEYOND_HC_WAIT = 7,    /* struct beyond_hc_wait: block this vCPU until kicked (scheduler) */
	BEYOND_HC_KICK = 8,    /* struct beyond_hc_kick: wake vCPUs of this VM (scheduler) */
	BEYOND_HC_YIELD = 9,   /* struct beyond_hc_yield: give up the CPU (scheduler) */
	/* Cooperative paging (the pager module, --mem-limit): see "Page states" below. */
	BEYOND_HC_PAGESTATE = 10, /* struct beyond_hc_pagestate: register the page-state table */
	BEYOND_HC_PREFETCH = 11,  /* struct beyond_hc_range: bring a range in ahead of use */
	BEYOND_HC_BALLOON = 12,   /* struct beyond_hc_balloon: give back or reclaim 2 MiB blocks */
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
	BEYOND_RESULT_SCHED = 2, /* struct beyond_sched_result */
	BEYOND_RESULT_SWAP = 3, /* struct beyond_swap_result */
	BEYOND_RESULT_IO = 4,  /* struct beyond_io_result */
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
 * --- Scheduler hypercalls: paravirtual spinlocks and IPIs (hv/sched/) ---
 *
 * WAIT blocks the calling vCPU until a KICK names it or timeout_ns passes.
 * A kick that arrives while the vCPU is not waiting is remembered (one
 * pending kick per vCPU), and the next WAIT returns at once: a waiter
 * publishes that it waits, re-checks its condition, then calls WAIT, and no
 * wake-up is lost. Spurious returns are possible; callers re-check.
 * KICK and YIELD name vCPUs of the caller's own VM only; a vCPU id the VM
 * does not have ends the guest.
 */
struct beyond_hc_wait {
	uint64_t timeout_ns;   /* 0: no deadline */
	uint64_t ret;          /* out: enum beyond_wait_ret */
};
enum beyond_wait_ret { BEYOND_WAIT_KICKED = 1, BEYOND_WAIT_TIMEOUT = 2 };

struct beyond_hc_kick {
	uint64_t vcpus;        /* bit i: vCPU i of this VM */
	uint64_t ret;          /* out: how many of them were blocked in WAIT */
};

struct beyond_hc_yield {
	uint64_t target;       /* the vCPU we wait for (directed yield), or BEYOND_YIELD_ANY */
};
#define BEYOND_YIELD_ANY (~0ull)

enum beyond_sched_workload { SCHED_WL_LOCK, SCHED_WL_BARRIER, SCHED_WL_INDEPENDENT, SCHED_WORKLOADS };
enum beyond_sched_lock { SCHED_LOCK_TICKET, SCHED_LOCK_PV, SCHED_LOCKS };
#define BEYOND_SCHED_HIST 32

/* One vCPU's run of a scheduler workload (guest-runtime/workloads/sched.h). */
struct beyond_sched_result {
	uint32_t workload;     /* enum beyond_sched_workload */
	uint32_t lock;         /* enum beyond_sched_lock */
	uint32_t vcpu;
	uint32_t reserved;
	uint64_t ops;          /* critical sections, barrier rounds or work units done */
	uint64_t cycles;       /* TSC cycles the vCPU ran the workload (wall clock) */
	uint64_t wait_cycles;  /* spent acquiring the lock or in the barrier */
	uint64_t wait_max;
	uint64_t waits;        /* PV waits (hypercalls) */
	uint64_t kicks;        /* PV kicks (hypercalls) */
	uint32_t hist[BEYOND_SCHED_HIST]; /* wait times: bucket b counts [2^b, 2^(b+1)) cycles */
};

/*
 * Page states (cooperative paging, after s390's CMMA).
 *
 * The guest keeps a page-state table in its own RAM: a struct
 * beyond_pagestate_header, then one byte per 4 KiB page of RAM (byte i is
 * the page at guest-physical i * 4096), and registers it once with
 * BEYOND_HC_PAGESTATE. The monitor pins the table (it is never evicted) and
 * reads and writes it concurrently with the guest, so every change is an
 * atomic operation on the one byte (lock cmpxchg, lock or/and): a plain
 * store may lose the other side's change.
 *
 * Bits 0-1, the state:
 *   STABLE    contents must be kept (the default, also for unknown values).
 *   UNUSED    the guest does not need the contents (free memory): the host
 *             drops the page without I/O; the next access reads zeros.
 *   VOLATILE  the guest can rebuild the contents: the host may drop the
 *             page without I/O, and then sets DISCARDED.
 *   DISCARDED set only by the host, by cmpxchg VOLATILE -> DISCARDED. The
 *             contents are gone (the page reads zeros or stale data).
 * Bit 7, NOT_PRESENT: set and cleared only by the host (lock or/and): the
 * page is not resident on the host (swapped out or dropped); touching it
 * costs a fault into the monitor. BEYOND_HC_PREFETCH brings ranges back in
 * ahead of use. Other bits are reserved (0).
 *
 * Guest transitions, each one cmpxchg of the byte (retried if only
 * NOT_PRESENT changed):
 *   make_volatile: STABLE -> VOLATILE
 *   make_stable:   VOLATILE -> STABLE succeeds; DISCARDED -> STABLE
 *                  succeeds but reports the loss: the caller must rebuild
 *                  the contents before reading them.
 *   free:          any -> UNUSED; allocate: UNUSED -> STABLE (contents
 *                  undefined until written).
 * Host: to drop a page it first write-protects it (a guest write waits),
 * then reads the state: UNUSED is dropped; VOLATILE is dropped only if its
 * cmpxchg VOLATILE -> DISCARDED succeeds; anything else is written to swap
 * (or dropped if all zero). Either side's cmpxchg wins the race, never both:
 * a make_stable that returned success keeps its contents, and a page whose
 * make_stable reported loss is never read back as valid. A guest that lies
 * (reads an UNUSED page expecting old data) gets zeros: it only hurts itself.
 *
 * The header also carries the balloon target: the host sets it, the guest
 * runtime polls it and gives back (BEYOND_HC_BALLOON) whole 2 MiB blocks.
 */
#define BEYOND_PAGE_STABLE 0u
#define BEYOND_PAGE_UNUSED 1u
#define BEYOND_PAGE_VOLATILE 2u
#define BEYOND_PAGE_DISCARDED 3u
#define BEYOND_PAGE_STATE_MASK 3u
#define BEYOND_PAGE_NOT_PRESENT 0x80u

#define BEYOND_PAGESTATE_MAGIC 0x6574617473676170ull /* "pagstate" */

struct beyond_pagestate_header {
	uint64_t magic;           /* BEYOND_PAGESTATE_MAGIC, by the guest */
	uint64_t pages;           /* entries that follow: mem_size / 4096, by the guest */
	uint64_t balloon_target;  /* bytes the host asks the guest to give back (host writes) */
	uint64_t balloon_size;    /* bytes the host holds as ballooned (host writes) */
	uint64_t reserved[4];
	uint8_t state[];          /* one byte per 4 KiB page */
};

/* Registers the table at `table` (4 KiB aligned, header + pages bytes inside RAM). */
struct beyond_hc_pagestate {
	uint64_t table;
	uint64_t ret;             /* 0, or -1 when no pager runs (no --mem-limit): hints unused */
};

/* PREFETCH: [gpa, gpa + len) inside RAM; the host reads it in while the guest goes on. */
struct beyond_hc_range {
	uint64_t gpa;
	uint64_t len;
};

#define BEYOND_BALLOON_BLOCK (2ull << 20)
enum beyond_balloon_op { BEYOND_BALLOON_INFLATE = 1, BEYOND_BALLOON_DEFLATE = 2 };

/*
 * BALLOON: INFLATE gives the host the 2 MiB-aligned blocks [gpa, gpa + len)
 * (their memory is released; the guest must not touch them: they read zeros);
 * DEFLATE takes them back (zeros). `ret` is 0, or -1 when the range is not
 * whole 2 MiB blocks or no pager runs.
 */
struct beyond_hc_balloon {
	uint32_t op;              /* enum beyond_balloon_op */
	uint32_t reserved;
	uint64_t gpa;
	uint64_t len;
	uint64_t ret;
};

/* The swap workloads (guest-runtime/workloads/swap.h). */
enum beyond_swap_workload { SWAP_SWEEP, SWAP_CHURN, SWAP_CACHE, SWAP_ZERO, SWAP_HOTCOLD, SWAP_WORKLOADS };

struct beyond_swap_result {
	uint32_t workload;        /* enum beyond_swap_workload */
	uint32_t errors;          /* pages whose contents were wrong (must be 0) */
	uint64_t bytes;           /* RAM the workload used */
	uint64_t cycles;          /* TSC cycles of the timed part */
	uint64_t ops;             /* pages (sweep, churn, zero) or accesses (cache, hotcold) */
	uint64_t rebuilt;         /* cache: blocks rebuilt after the host discarded them */
	uint64_t checksum;
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
