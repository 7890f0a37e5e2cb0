/*
 * Prints the numbers of guest-runtime/abi.h that the nasm boot stubs (boot/)
 * need, as %define lines (build/guest/abi.inc): nasm cannot read C, and a
 * compiled program sees enum values as well as macros.
 */
#include <stddef.h>
#include <stdio.h>
#include "guest-runtime/abi.h"

/* Layouts the stubs write field by field: the note's descriptor (entry.asm),
 * and the fault struct, built in place over the CPU's exception frame below
 * which the stub pushed vector and error code (exceptions.asm). */
_Static_assert(offsetof(struct beyond_note, abi_version) == 0 && offsetof(struct beyond_note, reserved) == 4 &&
	       offsetof(struct beyond_note, exception_handlers) == 8, "entry.asm writes the note as dd, dd, dq");
_Static_assert(offsetof(struct beyond_hc_fault, vector) == 0 && offsetof(struct beyond_hc_fault, error_code) == 8 &&
	       offsetof(struct beyond_hc_fault, rip) == 16 && offsetof(struct beyond_hc_fault, cs) == 24 &&
	       offsetof(struct beyond_hc_fault, rflags) == 32 && offsetof(struct beyond_hc_fault, rsp) == 40,
	       "exceptions.asm reuses the CPU's frame as struct beyond_hc_fault");

static void define(const char *name, unsigned long value)
{
	printf("%%define %s %#lx\n", name, value);
}

int main(void)
{
	printf("; generated from guest-runtime/abi.h by boot/abi_inc.c\n");
	printf("%%define BEYOND_NOTE_NAME \"%s\"\n", BEYOND_NOTE_NAME);
	define("BEYOND_NOTE_NAMESZ", sizeof(BEYOND_NOTE_NAME));
	define("BEYOND_NOTE_DESCSZ", sizeof(struct beyond_note));
	define("BEYOND_NOTE_TYPE", BEYOND_NOTE_TYPE);
	define("BEYOND_ABI_VERSION", BEYOND_ABI_VERSION);
	define("BEYOND_HC_FAULT_PORT", BEYOND_HC_PORT_BASE + BEYOND_HC_FAULT);
	define("BEYOND_HC_FAULT_CR2", offsetof(struct beyond_hc_fault, cr2));
	return 0;
}
