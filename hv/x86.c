#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include "hv/vcpu.h"
#include "hv/x86.h"
#include "mm/layout.h"

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_FIXED (1ull << 1)
#define RFLAGS_IOPL3 (3ull << 12)

#define TSS_IOMAP 104
/* The I/O bitmap reaches the last hypercall port; a 0xff byte ends it. */
#define TSS_IOMAP_PORTS (BEYOND_HC_PORT_BASE + BEYOND_HC_PORTS)
#define TSS_LIMIT (TSS_IOMAP + TSS_IOMAP_PORTS / 8)
_Static_assert(TSS_IOMAP_PORTS % 8 == 0, "the bitmap ends on a byte");
_Static_assert(TSS_LIMIT + 1 <= LAYOUT_TSS_STRIDE, "TSS and I/O bitmap fit their slot");
_Static_assert(BEYOND_HC_COUNT <= BEYOND_HC_PORTS, "every hypercall has a port in the bitmap");

/* A code/data descriptor: present, S=1, flat, 4 KiB granular. */
static uint64_t seg_desc(unsigned dpl, int code)
{
	uint64_t type = code ? 0xb : 0x3;                  /* exec/read or read/write, accessed */
	uint64_t access = (1ull << 7) | ((uint64_t)dpl << 5) | (1ull << 4) | type;
	uint64_t flags = code ? 0xa : 0xc;                 /* G + L for code, G + D/B for data */
	return 0xffffull | (access << 40) | (0xfull << 48) | (flags << 52);
}

static void tss_desc(uint64_t *d, uint64_t base)
{
	d[0] = TSS_LIMIT | ((base & 0xffffff) << 16) | (0x8bull << 40) | (((base >> 24) & 0xff) << 56);
	d[1] = base >> 32;
}

void x86_setup_tables(struct vm *vm)
{
	uint64_t *gdt = guest_mem_ptr(&vm->mem, LAYOUT_GDT, GDT_SIZE);
	memset(gdt, 0, GDT_SIZE);
	gdt[SEL_KERNEL_CS / 8] = seg_desc(0, 1);
	gdt[SEL_KERNEL_DS / 8] = seg_desc(0, 0);
	gdt[SEL_USER_DS / 8] = seg_desc(3, 0);
	gdt[SEL_USER_CS / 8] = seg_desc(3, 1);

	for (unsigned i = 0; i < vm->cfg.vcpus; i++) {
		uint64_t tss = LAYOUT_TSS + i * LAYOUT_TSS_STRIDE;
		uint8_t *t = guest_mem_ptr(&vm->mem, tss, LAYOUT_TSS_STRIDE);
		uint64_t rsp0 = LAYOUT_KSTACK + (i + 1) * LAYOUT_KSTACK_SIZE;
		uint16_t iomap = TSS_IOMAP;
		/* IOPL=3 should grant the ports; kvm_pvm checks the bitmap, which allows them all. */
		memset(t, 0, LAYOUT_TSS_STRIDE);
		memcpy(t + 4, &rsp0, 8);
		memcpy(t + 102, &iomap, 2);
		t[TSS_LIMIT] = 0xff;
		tss_desc(&gdt[SEL_TSS(i) / 8], tss);
	}

	/*
	 * Interrupt gates (IF cleared) for the image's exception stubs: DPL0, but
	 * DPL3 for #BP and #OF so int3/into at CPL3 report as what they are.
	 */
	uint64_t *idt = guest_mem_ptr(&vm->mem, LAYOUT_IDT, 256 * 16);
	memset(idt, 0, 256 * 16);
	for (int v = 0; v < 32; v++) {
		uint64_t h = vm->image.exception_handlers[v];
		uint64_t type = (v == 3 || v == 4) ? 0xee : 0x8e;
		idt[2 * v] = (h & 0xffff) | ((uint64_t)SEL_KERNEL_CS << 16) | (type << 40) |
			     (((h >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
}

static struct kvm_segment segment(uint16_t sel, int code)
{
	struct kvm_segment s = {
		.base = 0, .limit = 0xffffffff, .selector = sel, .present = 1,
		.dpl = sel & 3, .s = 1, .g = 1,
		.type = code ? 0xb : 0x3, .l = code, .db = !code,
	};
	return s;
}

int x86_setup_vcpu(struct vcpu *v, char *err, size_t errlen)
{
	struct vm *vm = v->vm;
	struct kvm_sregs sr;

	if (ioctl(v->fd, KVM_SET_CPUID2, vm->kvm->cpuid) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0) {
		snprintf(err, errlen, "vCPU %u: KVM_SET_CPUID2/GET_SREGS: %s", v->id, strerror(errno));
		return -1;
	}
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.cr3 = vm->cr3;
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sr.efer = EFER_LME | EFER_LMA;
	sr.cs = segment(SEL_USER_CS, 1);
	sr.ss = sr.ds = sr.es = sr.fs = sr.gs = segment(SEL_USER_DS, 0);
	sr.tr = (struct kvm_segment){
		.base = LAYOUT_TSS + v->id * LAYOUT_TSS_STRIDE, .limit = TSS_LIMIT,
		.selector = SEL_TSS(v->id), .type = 0xb, .present = 1,
	};
	sr.ldt = (struct kvm_segment){ .selector = 0, .type = 2, .present = 1, .unusable = 1 };
	sr.gdt.base = LAYOUT_GDT;
	sr.gdt.limit = GDT_SIZE - 1;
	sr.idt.base = LAYOUT_IDT;
	sr.idt.limit = 256 * 16 - 1;

	struct kvm_regs r = {
		.rip = vm->image.entry,
		.rsp = vm->stacks_start + (v->id + 1) * LAYOUT_STACK_SIZE,
		.rdi = v->id,
		.rflags = RFLAGS_FIXED | RFLAGS_IOPL3,
	};
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
		snprintf(err, errlen, "vCPU %u: KVM_SET_SREGS/SET_REGS: %s", v->id, strerror(errno));
		return -1;
	}
	return 0;
}

void x86_dump_regs(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(buf, len, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	snprintf(buf, len,
		 "  rip %016llx rsp %016llx rflags %016llx cs %04x ss %04x\n"
		 "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		 "  rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n"
		 "  r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n"
		 "  r13 %016llx r14 %016llx r15 %016llx\n"
		 "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n",
		 r.rip, r.rsp, r.rflags, s.cs.selector, s.ss.selector, r.rax, r.rbx, r.rcx, r.rdx,
		 r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cr0,
		 s.cr2, s.cr3, s.cr4, s.efer);
}
