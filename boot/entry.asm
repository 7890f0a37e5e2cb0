; Guest entry: every vCPU starts here at CPL3 with RDI = its id and RSP at the
; top of its own stack (see guest-runtime/abi.h). Also carries the ABI note.
bits 64
default rel

%include "abi.inc"

extern beyond_start
extern exception_handlers

section .text.entry progbits alloc exec nowrite align=16
global _start
_start:
	and rsp, -16            ; the SysV ABI wants 16-byte alignment at calls
	xor ebp, ebp            ; end of the frame chain
	call beyond_start       ; never returns
.hang:
	jmp .hang

section .note.beyond note alloc noexec nowrite align=4
	dd BEYOND_NOTE_NAMESZ
	dd BEYOND_NOTE_DESCSZ
	dd BEYOND_NOTE_TYPE
	db BEYOND_NOTE_NAME, 0
	align 4, db 0
	dd BEYOND_ABI_VERSION   ; struct beyond_note
	dd 0
	dq exception_handlers
