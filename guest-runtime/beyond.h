/*
 * The beyond guest runtime: what guest programs link against. A guest defines
 * `int main(int argc, char **argv)`, run on vCPU 0; other vCPUs run
 * `ap_main(id)`, which parks them unless the guest defines its own.
 */
#ifndef BEYOND_GUEST_H
#define BEYOND_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "guest-runtime/abi.h"

/* Hypercall: outl of the argument struct's address (identity mapped, < 4 GiB). */
static inline void hypercall(unsigned nr, void *arg)
{
	__asm__ volatile("outl %0, %w1" : : "a"((uint32_t)(uintptr_t)arg), "Nd"(BEYOND_HC_PORT_BASE + nr)
			 : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* Device registers in the device window (boot_info.device_base): one access each, in order. */
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)(uintptr_t)addr = v; }

/* Filled in on vCPU 0 before main runs. */
extern struct beyond_bootinfo boot_info;

int main(int argc, char **argv);
void ap_main(unsigned vcpu_id);

__attribute__((noreturn)) void exit(uint64_t code);
__attribute__((noreturn)) void vcpu_park(void);
/* A stage of a staged test: a monitor stepping this vCPU checks state here, then resumes. */
void beyond_sync(uint64_t stage, uint64_t a0, uint64_t a1, uint64_t a2);

void console_write(const char *s, size_t len);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
uint64_t strtou64(const char *s, const char **end);

#endif
