/* The core hypercalls every guest has: console, exit, boot info, fault report, park, result. */
#ifndef BEYOND_HYPERCALL_H
#define BEYOND_HYPERCALL_H

#include "hv/vm.h"

void hypercall_register_core(struct vm *vm);

#endif
