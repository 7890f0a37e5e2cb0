/*
 * Guest-physical layout (identity mapped, so also the guest's virtual layout).
 *
 *   0x0000_1000  GDT: null, kernel code/data, user data/code, one TSS per vCPU
 *   0x0000_2000  IDT (256 gates; vectors 0..31 point at the image's stubs)
 *   0x0000_3000  TSSs with I/O bitmaps, LAYOUT_TSS_STRIDE bytes per vCPU
 *   0x0001_0000  ring-0 stacks, LAYOUT_KSTACK_SIZE per vCPU (below 4 GiB, so the
 *                CPL0 fault stubs can pass a stack address to a hypercall)
 *   0x0010_0000  the guest image (linker.ld), then per-vCPU stacks, then heap
 *   top of RAM   the page tables (their size depends on RAM and leaf size)
 *   window       the device window: RAM's end rounded up to 1 GiB, 2 MiB long,
 *                no memory behind it (accesses exit to the monitor's MMIO
 *                devices), mapped by the guest's tables as one uncached page
 *
 * Everything below LAYOUT_IMAGE_MIN and from heap_end up to the end of RAM is
 * the monitor's.
 */
#ifndef BEYOND_LAYOUT_H
#define BEYOND_LAYOUT_H

#include <stdint.h>

#define LAYOUT_GDT          0x1000ull
#define LAYOUT_IDT          0x2000ull
#define LAYOUT_TSS          0x3000ull
#define LAYOUT_TSS_STRIDE   512ull /* 104-byte TSS + I/O bitmap of the hypercall ports */
#define LAYOUT_KSTACK       0x10000ull
#define LAYOUT_KSTACK_SIZE  0x1000ull
#define LAYOUT_IMAGE_MIN    0x100000ull
#define LAYOUT_MAX_VCPUS    64
#define LAYOUT_STACK_SIZE   0x40000ull /* CPL3 stack per vCPU */

#define LAYOUT_DEVICE_ALIGN       (1ull << 30)
#define LAYOUT_DEVICE_WINDOW_SIZE (2ull << 20)

/* GDT selectors. */
#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_USER_DS   (0x18 | 3)
#define SEL_USER_CS   (0x20 | 3)
#define SEL_TSS(i)    (0x28 + 16 * (i))
#define GDT_SIZE      (0x28 + 16 * LAYOUT_MAX_VCPUS)

/* Guest-physical base of the device window of a guest with mem_size bytes of RAM. */
static inline uint64_t layout_device_window(uint64_t mem_size)
{
	return (mem_size + LAYOUT_DEVICE_ALIGN - 1) & ~(LAYOUT_DEVICE_ALIGN - 1);
}

#endif
