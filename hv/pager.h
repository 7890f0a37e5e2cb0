/* The pager module (hv/pager.c): a VM's paging counters, for tests and benchmarks. */
#ifndef BEYOND_HV_PAGER_H
#define BEYOND_HV_PAGER_H

#include "hv/vm.h"
#include "mm/pager.h"

/* 0 and the counters, or -1 when the VM runs without a pager (no --mem-limit or --balloon). */
int pager_vm_stats(struct vm *vm, struct pager_stats *s);

#endif
