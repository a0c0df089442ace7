/*
 * cohook context switch, x86-64 System V ABI, ELF, GNU as.
 *
 * A suspended context is nothing but a stack pointer. Everything the ABI
 * says a callee must preserve is pushed onto the suspended stack itself:
 *
 *   offset  contents (sp of a suspended context points at offset 0)
 *   ------  ---------------------------------------------------------
 *   0x00    MXCSR (4 bytes) | x87 control word (2 bytes) | pad (2)
 *   0x08    r12
 *   0x10    r13
 *   0x18    r14
 *   0x20    r15
 *   0x28    rbx
 *   0x30    rbp
 *   0x38    resume address (the return address of the switch call)
 *
 * void *cohook_switch(void **save_sp, void *load_sp, void *transfer)
 *   Saves the caller's context, stores its sp in *save_sp, loads the
 *   context at load_sp and continues there; that side sees `transfer` as
 *   the return value of its own cohook_switch call (or, for a new context,
 *   as the first argument of its entry function).
 *
 * Why it is correct (see docs/architecture.md, "The switch"):
 *  - rbx, rbp, r12-r15, rsp are the integer callee-saved registers; MXCSR
 *    control bits and the x87 control word are the callee-saved parts of
 *    the FP state. Everything else is caller-saved: the compiler already
 *    assumes a call destroys it.
 *  - rsp only ever points into a valid stack: it moves from the old stack
 *    to the new one in a single mov, so a signal at any instruction runs
 *    on a real stack (libco's regs-array trick does not have this property).
 *  - We return with an indirect jmp to the popped address instead of `ret`:
 *    a `ret` into another stack always mispredicts the return-stack buffer.
 *    (Consequences: not CET-compatible -- the resume jmp lands after a call
 *    site, which is neither a shadow-stack return (SHSTK) nor an endbr64
 *    target (IBT). We emit no CET property note, so the linked library is
 *    not marked CET-ready and a CET-enforcing loader will not enable it.)
 *  - MXCSR: always reloaded. Comparing first means reading back the word
 *    stmxcsr just stored, and that store-forwarding stall cost more than the
 *    ldmxcsr it saves (measured by cohook-bench on Zen 4: 6.9 ns per switch
 *    with the compare, 5.3 ns without). The x87 CW is compared (fnstcw
 *    forwards cheaply) and fldcw, which is slow, skipped when equal.
 */
        .text
        .globl  cohook_switch
        .hidden cohook_switch
        .type   cohook_switch, @function
        .p2align 4
cohook_switch:
        .cfi_startproc
        endbr64
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        leaq    -8(%rsp), %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)

        movq    %rsp, (%rdi)            /* publish the suspended context   */
        movq    %rsp, %rcx              /* keep the old frame for compare  */
        movq    %rsi, %rsp              /* one instruction: stack to stack */

        ldmxcsr (%rsp)                  /* see "MXCSR" above              */
        movzwl  4(%rsp), %eax
        cmpw    4(%rcx), %ax
        jne     .Lload_cw
.Lrestore:
        movq    8(%rsp), %r12
        movq    16(%rsp), %r13
        movq    24(%rsp), %r14
        movq    32(%rsp), %r15
        movq    40(%rsp), %rbx
        movq    48(%rsp), %rbp
        movq    56(%rsp), %rcx
        leaq    64(%rsp), %rsp
        movq    %rdx, %rax              /* transfer value                  */
        movq    %rdx, %rdi              /* ... and first arg for new ones  */
        jmp     *%rcx
.Lload_cw:
        fldcw   4(%rsp)
        jmp     .Lrestore
        .cfi_endproc
        .size   cohook_switch, .-cohook_switch

/*
 * void *cohook_make_context(void *stack_top, void (*entry)(void *transfer, void *arg), void *arg)
 *   Builds a suspended context at the top of a fresh stack. The first switch
 *   into it starts cohook_context_start, which calls entry(transfer, arg).
 *   The FP control state is copied from the creator. Returns its sp.
 */
        .globl  cohook_make_context
        .hidden cohook_make_context
        .type   cohook_make_context, @function
        .p2align 4
cohook_make_context:
        .cfi_startproc
        endbr64
        movq    %rdi, %rax
        andq    $-16, %rax              /* 16-byte aligned top             */
        /* After the switch pops the frame (0x40 bytes) rsp must be 16-aligned
           so that the `call` in cohook_context_start meets the ABI. */
        leaq    -0x50(%rax), %rax
        stmxcsr (%rax)
        fnstcw  4(%rax)
        movw    $0, 6(%rax)
        movq    %rsi, 8(%rax)           /* r12 = entry                     */
        movq    %rdx, 16(%rax)          /* r13 = arg                       */
        movq    $0, 24(%rax)
        movq    $0, 32(%rax)
        movq    $0, 40(%rax)
        movq    $0, 48(%rax)            /* rbp = 0: end of frame chain     */
        leaq    cohook_context_start(%rip), %rcx
        movq    %rcx, 56(%rax)
        movq    $0, 64(%rax)
        movq    $0, 72(%rax)
        ret
        .cfi_endproc
        .size   cohook_make_context, .-cohook_make_context

/*
 * First frame of every context. Its CFI marks the return address as
 * undefined, which is how gdb, libgcc's unwinder and backtrace() learn that
 * the stack ends here instead of walking into whatever lies above it.
 */
        .globl  cohook_context_start
        .hidden cohook_context_start
        .type   cohook_context_start, @function
        .p2align 4
cohook_context_start:
        .cfi_startproc
        .cfi_undefined rip
        endbr64
        xorl    %ebp, %ebp
        /* rdi = transfer (set by cohook_switch) */
        movq    %r13, %rsi
        call    *%r12
        ud2                             /* entry functions never return    */
        .cfi_endproc
        .size   cohook_context_start, .-cohook_context_start

        .section .note.GNU-stack,"",%progbits
