/* x86-64 specifics: descriptor tables in guest RAM, vCPU entry state, register dumps. */
#ifndef BEYOND_X86_H
#define BEYOND_X86_H

#include <stddef.h>
#include "hv/vm.h"

/* Writes the GDT, one TSS per vCPU and the IDT into guest RAM. */
void x86_setup_tables(struct vm *vm);
/* Gives vCPU v its CPUID and enters it at CPL3 in 64-bit mode; 0 or -1 with err. */
int x86_setup_vcpu(struct vcpu *v, char *err, size_t errlen);
/* Formats the vCPU's registers for a crash report. */
void x86_dump_regs(struct vcpu *v, char *buf, size_t len);

#endif
