/* The pager module (hv/pager.c): a VM's paging counters, for tests and benchmarks. */
#ifndef BEYOND_HV_PAGER_H
#define BEYOND_HV_PAGER_H

#include "hv/vm.h"
#include "mm/pager.h"

/* 0 and the counters, or -1 when the VM runs without a pager (no --mem-limit or --balloon). */
int pager_vm_stats(struct vm *vm, struct pager_stats *s);
/* Asks vm's guest to give back `bytes` (beyond balloon); 0, or -1 with a reason (no pager, more than RAM). */
int pager_vm_balloon(struct vm *vm, uint64_t bytes, char *err, size_t errlen);

#endif
