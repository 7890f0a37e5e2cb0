; Guest entry: every vCPU starts here at CPL3 with RDI = its id and RSP at the
; top of its own stack (see guest-runtime/abi.h). Also carries the ABI note.
bits 64
default rel

%define BEYOND_ABI_VERSION 2
%define BEYOND_NOTE_TYPE 0x62796e64

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
	dd 7                    ; namesz: "beyond\0"
	dd 16                   ; descsz: struct beyond_note
	dd BEYOND_NOTE_TYPE
	db "beyond", 0, 0
	dd BEYOND_ABI_VERSION
	dd 0
	dq exception_handlers
