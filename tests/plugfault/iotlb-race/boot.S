/*
 * plugfault: multiboot entry of the iotlb-race guest (see guest.c)
 *
 * Copyright (c) 2026 plugfault developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QEMU's multiboot loader (-kernel) enters here in flat 32-bit protected
 * mode with paging off, the multiboot information in %ebx; we only need a
 * stack.
 */
    .section .multiboot, "a"
    .align 4
    .long 0x1badb002            /* magic */
    .long 0                     /* flags: plain ELF */
    .long -0x1badb002           /* checksum */

    .text
    .globl _start
_start:
    cli
    movl $stack_top, %esp
    pushl %ebx                  /* guest_main(multiboot info) */
    call guest_main
1:  hlt
    jmp 1b

    .bss
    .align 16
    .space 16384
stack_top:
