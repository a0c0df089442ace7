/*
 * cohook context switch, AArch64 AAPCS64, ELF, GNU as.
 *
 * A suspended context is nothing but a stack pointer. Everything the ABI
 * says a callee must preserve is stored on the suspended stack itself, in
 * one 176-byte (0xb0) block, 16-byte aligned like every AArch64 sp:
 *
 *   offset  contents (sp of a suspended context points at offset 0)
 *   ------  ---------------------------------------------------------
 *   0x00    d8            0x08    d9
 *   0x10    d10           0x18    d11
 *   0x20    d12           0x28    d13
 *   0x30    d14           0x38    d15
 *   0x40    x19           0x48    x20
 *   0x50    x21           0x58    x22
 *   0x60    x23           0x68    x24
 *   0x70    x25           0x78    x26
 *   0x80    x27           0x88    x28
 *   0x90    x29 (fp)      0x98    x30 (lr) = resume address
 *   0xa0    FPCR          0xa8    pad (0)
 *
 * void *cohook_switch(void **save_sp, void *load_sp, void *transfer)
 *   Saves the caller's context, stores its sp in *save_sp, loads the
 *   context at load_sp and continues there; that side sees `transfer` as
 *   the return value of its own cohook_switch call (or, for a new context,
 *   as the first argument of its entry function). x0 carries both.
 *
 * Why it is correct (see docs/architecture.md, "The switch"):
 *  - AAPCS64 5.1.1/5.1.2: x19-x28, x29, sp and the low 64 bits (d8-d15) of
 *    v8-v15 are callee-saved; FPCR (rounding, flush-to-zero...) is the
 *    control part of the FP state and belongs to the thread of execution,
 *    so it is part of a context. FPSR (cumulative exception flags) is
 *    status, not preserved by calls, and is deliberately not switched.
 *    Everything else (x0-x18, x30 as a register, v0-v7, v16-v31, the upper
 *    halves of v8-v15, NZCV) is caller-saved: the compiler already assumes
 *    a call destroys it. x18 (platform register) is not touched: on Linux
 *    it is an ordinary temporary.
 *  - sp only ever points into a valid stack and stays 16-byte aligned: the
 *    frame is allocated by one pre-indexed stp, sp moves from the old stack
 *    to the new one in a single `mov sp, x1`, and the frame is released by
 *    one post-indexed ldp. A signal at any instruction runs on a real stack
 *    and never sees live data below sp.
 *  - The resume is a `ret` (through x30), not `br`: with BTI, a `br` to the
 *    instruction after some `bl` (the resume address of a suspended
 *    context) would fault, because only `ret` is exempt from landing-pad
 *    checks. The price is a return-stack-buffer mispredict per switch,
 *    which `br` would pay as well on most cores (indirect predictor) while
 *    also unbalancing the return stack.
 *  - FPCR is reloaded only when it differs: msr fpcr is serialising on
 *    many cores and almost every context uses the default.
 *  - BTI: every function starts with `bti c` (written `hint #34` so old
 *    assemblers accept it); cohook_context_start, reached by `ret` on the
 *    first switch, also carries `bti jc` so that any indirect jump may
 *    target it. The file is BTI-clean and says so in .note.gnu.property;
 *    the linker drops the mark unless every other object has it too.
 *  - PAC: nothing is signed here. The lr we store is the plain address
 *    `bl` wrote; a pac-ret caller signs and authenticates its own lr in its
 *    own frame, with its own sp as modifier, which is the same sp on both
 *    sides of a switch, so such callers work unchanged. The unsigned resume
 *    address on a suspended stack is the same exposure as on x86-64.
 */
        .text
        .globl  cohook_switch
        .hidden cohook_switch
        .type   cohook_switch, %function
        .p2align 4
cohook_switch:
        .cfi_startproc
        hint    #34                     /* bti c                           */
        stp     d8,  d9,  [sp, #-0xb0]! /* allocate the frame: one insn    */
        .cfi_def_cfa_offset 0xb0
        stp     d10, d11, [sp, #0x10]
        stp     d12, d13, [sp, #0x20]
        stp     d14, d15, [sp, #0x30]
        stp     x19, x20, [sp, #0x40]
        stp     x21, x22, [sp, #0x50]
        stp     x23, x24, [sp, #0x60]
        stp     x25, x26, [sp, #0x70]
        stp     x27, x28, [sp, #0x80]
        stp     x29, x30, [sp, #0x90]
        .cfi_offset d8,  -0xb0
        .cfi_offset d9,  -0xa8
        .cfi_offset d10, -0xa0
        .cfi_offset d11, -0x98
        .cfi_offset d12, -0x90
        .cfi_offset d13, -0x88
        .cfi_offset d14, -0x80
        .cfi_offset d15, -0x78
        .cfi_offset x19, -0x70
        .cfi_offset x20, -0x68
        .cfi_offset x21, -0x60
        .cfi_offset x22, -0x58
        .cfi_offset x23, -0x50
        .cfi_offset x24, -0x48
        .cfi_offset x25, -0x40
        .cfi_offset x26, -0x38
        .cfi_offset x27, -0x30
        .cfi_offset x28, -0x28
        .cfi_offset x29, -0x20
        .cfi_offset x30, -0x18
        mrs     x9, fpcr
        str     x9, [sp, #0xa0]         /* pad at 0xa8 is never read       */

        mov     x10, sp
        str     x10, [x0]               /* publish the suspended context   */
        mov     sp, x1                  /* one instruction: stack to stack */
        /* Both frames have the same layout, so the CFI above stays true. */

        ldr     x10, [sp, #0xa0]
        cmp     x9, x10
        b.ne    .Lload_fpcr
.Lrestore:
        .cfi_remember_state
        ldp     x19, x20, [sp, #0x40]
        ldp     x21, x22, [sp, #0x50]
        ldp     x23, x24, [sp, #0x60]
        ldp     x25, x26, [sp, #0x70]
        ldp     x27, x28, [sp, #0x80]
        ldp     x29, x30, [sp, #0x90]
        ldp     d10, d11, [sp, #0x10]
        ldp     d12, d13, [sp, #0x20]
        ldp     d14, d15, [sp, #0x30]
        ldp     d8,  d9,  [sp], #0xb0   /* release the frame: one insn     */
        .cfi_def_cfa_offset 0
        .cfi_restore d8
        .cfi_restore d9
        .cfi_restore d10
        .cfi_restore d11
        .cfi_restore d12
        .cfi_restore d13
        .cfi_restore d14
        .cfi_restore d15
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x21
        .cfi_restore x22
        .cfi_restore x23
        .cfi_restore x24
        .cfi_restore x25
        .cfi_restore x26
        .cfi_restore x27
        .cfi_restore x28
        .cfi_restore x29
        .cfi_restore x30
        mov     x0, x2                  /* transfer: return value, and the */
                                        /* first argument for new contexts */
        ret                             /* to x30, the resume address      */
        .cfi_restore_state
.Lload_fpcr:
        msr     fpcr, x10
        b       .Lrestore
        .cfi_endproc
        .size   cohook_switch, .-cohook_switch

/*
 * void *cohook_make_context(void *stack_top, void (*entry)(void *transfer, void *arg), void *arg)
 *   Builds a suspended context at the top of a fresh stack (rounded down to
 *   16 bytes). The first switch into it "returns" to cohook_context_start
 *   with x19 = entry, x20 = arg, x29 = 0 and sp = the aligned top, which
 *   calls entry(transfer, arg). FPCR is copied from the creator. Returns
 *   the new context's sp.
 */
        .globl  cohook_make_context
        .hidden cohook_make_context
        .type   cohook_make_context, %function
        .p2align 4
cohook_make_context:
        .cfi_startproc
        hint    #34                     /* bti c                           */
        and     x9, x0, #-16            /* 16-byte aligned top             */
        sub     x9, x9, #0xb0
        stp     xzr, xzr, [x9, #0x00]   /* d8-d15 = 0                      */
        stp     xzr, xzr, [x9, #0x10]
        stp     xzr, xzr, [x9, #0x20]
        stp     xzr, xzr, [x9, #0x30]
        stp     x1,  x2,  [x9, #0x40]   /* x19 = entry, x20 = arg          */
        stp     xzr, xzr, [x9, #0x50]
        stp     xzr, xzr, [x9, #0x60]
        stp     xzr, xzr, [x9, #0x70]
        stp     xzr, xzr, [x9, #0x80]
        adr     x10, cohook_context_start
        stp     xzr, x10, [x9, #0x90]   /* x29 = 0: end of the frame chain */
        mrs     x11, fpcr
        stp     x11, xzr, [x9, #0xa0]
        mov     x0, x9
        ret
        .cfi_endproc
        .size   cohook_make_context, .-cohook_make_context

/*
 * First frame of every context. Its CFI marks the return address as
 * undefined, which is how gdb, libgcc's unwinder and backtrace() learn that
 * the stack ends here instead of walking into whatever lies above it; x29 = 0
 * ends frame-pointer walks the same way.
 */
        .globl  cohook_context_start
        .hidden cohook_context_start
        .type   cohook_context_start, %function
        .p2align 4
cohook_context_start:
        .cfi_startproc
        .cfi_undefined x30
        hint    #38                     /* bti jc: any indirect branch ok  */
        mov     x29, #0
        /* x0 = transfer (set by cohook_switch) */
        mov     x1, x20
        blr     x19
        brk     #0x3c                   /* entry functions never return    */
        .cfi_endproc
        .size   cohook_context_start, .-cohook_context_start

/* Every function above is BTI-clean: mark the object BTI-compatible. */
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .word   4                       /* n_namesz                        */
        .word   16                      /* n_descsz                        */
        .word   5                       /* NT_GNU_PROPERTY_TYPE_0          */
        .asciz  "GNU"
        .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .word   4                       /* pr_datasz                       */
        .word   1                       /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
        .word   0                       /* pad to 8                        */
        .popsection

        .section .note.GNU-stack,"",%progbits
