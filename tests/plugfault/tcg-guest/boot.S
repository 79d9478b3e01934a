/*
 * plugfault: the bare x86 guest of the TCG qtests (see guest.c)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Multiboot entry (flat 32-bit protected mode, paging off), our own GDT
 * (ring 0 and ring 3 flat segments and a TSS), the IDT entry points, and
 * the accesses that may fault: each sets a fixup address the page-fault
 * handler resumes at, or runs in ring 3 and comes back through int $0x80.
 */
    .section .multiboot, "a"
    .align 4
    .long 0x1badb002
    .long 0
    .long -0x1badb002

    .text
    .globl _start
_start:
    cli
    movl $stack_top, %esp
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    call guest_main
2:  hlt
    jmp 2b

/*
 * An application processor's entry: guest.c copies ap_trampoline ..
 * ap_trampoline_end to TCG_GUEST_AP_START and sends the SIPI, so it runs
 * in real mode at CS = 0x800, IP = 0, and must address its data from CS.
 */
    .code16
    .globl ap_trampoline, ap_trampoline_end
ap_trampoline:
    cli
    lgdtl %cs:(ap_gdt_desc - ap_trampoline)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $ap_entry32
ap_gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
ap_trampoline_end:
    .code32
ap_entry32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $ap_stack_top, %esp
    call ap_main
4:  hlt
    jmp 4b

    .globl gdt_load_tss
gdt_load_tss:
    movw $0x28, %ax
    ltr %ax
    ret

/* --------------------------------------------------------- interrupts */

/* Page fault: error code, EIP, CS, EFLAGS (ESP, SS from ring 3) */
    .globl pf_entry
pf_entry:
    pushal
    movl %cr2, %eax
    movl %eax, pf_addr
    incl pf_count
    movl 40(%esp), %eax             /* CS */
    testl $3, %eax
    jnz user_back                   /* from ring 3: abandon the user frame */
    movl fixup, %eax
    testl %eax, %eax
    jz 3f
    movl %eax, 36(%esp)             /* resume at the fixup */
    movl $0, fixup
    popal
    addl $4, %esp                   /* error code */
    iret
3:  /* an unexpected kernel fault: give up */
    movl $0xdead0000, unexpected
    cli
5:  hlt
    jmp 5b

/* Any other exception: record the vector and stop. */
    .globl other_entry
other_entry:
    movl $0xdead0001, unexpected
    cli
6:  hlt
    jmp 6b

/* ------------------------------------------------------ kernel accesses */

/* uint32_t k_read32(uint32_t va): ~0 if it faults */
    .globl k_read32
k_read32:
    movl 4(%esp), %edx
    movl $-1, %eax
    movl $7f, fixup
    movl (%edx), %eax
    movl $0, fixup
7:  ret

/* void k_write32(uint32_t va, uint32_t val) */
    .globl k_write32
k_write32:
    movl 4(%esp), %edx
    movl 8(%esp), %eax
    movl $8f, fixup
    movl %eax, (%edx)
    movl $0, fixup
8:  ret

/* void k_exec(uint32_t va): call va (an instruction fetch) */
    .globl k_exec
k_exec:
    pushl %ebp
    movl %esp, %ebp
    movl 8(%ebp), %edx
    movl $9f, fixup
    call *%edx
9:  movl $0, fixup
    movl %ebp, %esp                 /* a fault left the call's push */
    popl %ebp
    ret

/* ---------------------------------------------------------- ring 3 */

/* uint32_t u_read32(uint32_t va): the read in ring 3; ~0 if it faults */
    .globl u_read32
u_read32:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, kern_esp
    movl 20(%esp), %eax
    movl $-1, user_result
    pushl $0x23                     /* SS: ring 3 data */
    pushl $user_stack_top
    pushfl
    pushl $0x1b                     /* CS: ring 3 code */
    pushl $user_stub
    movw $0x23, %bx
    movw %bx, %ds
    movw %bx, %es
    iret
user_stub:
    movl (%eax), %ecx
    int $0x80
    .globl int80_entry
int80_entry:
    movl %ecx, user_result
user_back:
    movw $0x10, %bx
    movw %bx, %ds
    movw %bx, %es
    movl kern_esp, %esp
    popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    movl user_result, %eax
    ret

    .data
    .align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        /* 0x08 code, ring 0 */
    .quad 0x00cf92000000ffff        /* 0x10 data, ring 0 */
    .quad 0x00cffa000000ffff        /* 0x18 code, ring 3 */
    .quad 0x00cff2000000ffff        /* 0x20 data, ring 3 */
    .globl gdt_tss
gdt_tss:
    .quad 0                         /* 0x28 TSS, filled by guest.c */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .globl fixup, pf_count, pf_addr, unexpected
fixup:      .long 0
pf_count:   .long 0
pf_addr:    .long 0
unexpected: .long 0
kern_esp:   .long 0
user_result: .long 0

    .bss
    .align 16
    .space 16384
    .globl stack_top
stack_top:
    .space 8192
ap_stack_top:
    .space 4096
user_stack_top:
