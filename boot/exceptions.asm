; CPL0 exception stubs for vectors 0..31. The CPU switches to the vCPU's
; ring-0 stack (TSS.RSP0, below 4 GiB) and pushes SS, RSP, RFLAGS, CS, RIP and
; for some vectors an error code. Each stub makes the frame uniform, then the
; common path turns it into struct beyond_hc_fault in place and reports it.
; The monitor ends the guest on that hypercall; nothing here returns.
bits 64
default rel

%include "abi.inc"

section .text
%assign v 0
%rep 32
stub_ %+ v:
%if v != 8 && v != 10 && v != 11 && v != 12 && v != 13 && v != 14 && v != 17 && v != 21 && v != 29 && v != 30
	push 0                  ; no error code from the CPU: make one
%endif
	push v
	jmp fault_common
%assign v v + 1
%endrep

; Stack: vector, error, rip, cs, rflags, rsp, ss. The fault struct has cr2
; where ss is: vector, error_code, rip, cs, rflags, rsp, cr2.
fault_common:
	mov rax, cr2
	mov [rsp + BEYOND_HC_FAULT_CR2], rax
	mov rax, rsp
	mov dx, BEYOND_HC_FAULT_PORT
	out dx, eax
.hang:
	jmp .hang

section .rodata
align 8
global exception_handlers
exception_handlers:
%assign v 0
%rep 32
	dq stub_ %+ v
%assign v v + 1
%endrep
