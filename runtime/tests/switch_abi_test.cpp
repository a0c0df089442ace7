// ABI-level tests of the machine context switch (asm/switch_*.S), on x86-64 and
// AArch64. They use nothing of the runtime but runtime/context.h: stacks are
// plain mmap'd buffers, and the register-level probe is a small per-arch
// assembly helper below.

#include <execinfo.h>
#include <fenv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

#include "../context.h"

using cohook::cohook_make_context;
using cohook::cohook_switch;

extern "C" void cohook_context_start();  // asm/switch_*.S: first frame of a context

// uint64_t cohook_test_probe(void **save_sp, void *load_sp, void *transfer,
//                            uint64_t seed, void **out_transfer)
//   Loads seed+1, seed+2, ... into every callee-saved register (GPRs, and
//   d8-d15 on AArch64), calls cohook_switch(save_sp, load_sp, transfer),
//   stores its return value in *out_transfer, and returns a bitmask with bit
//   k-1 set when the register that held seed+k came back different. The
//   caller's own callee-saved registers are preserved, as the ABI requires.
extern "C" uint64_t cohook_test_probe(void** save_sp, void* load_sp, void* transfer,
                                      uint64_t seed, void** out_transfer);

#if defined(__x86_64__)
// rbx rbp r12 r13 r14 r15 -> bits 0..5
constexpr uint64_t kAllRegsMask = (1u << 6) - 1;
asm(R"(
        .text
        .macro  COHOOK_TEST_CHECK reg, k
        leaq    \k(%rcx), %rdx
        cmpq    %rdx, \reg
        setne   %dl
        movzbl  %dl, %edx
        shll    $(\k-1), %edx
        orl     %edx, %eax
        .endm

        .globl  cohook_test_probe
        .hidden cohook_test_probe
        .type   cohook_test_probe, @function
        .p2align 4
cohook_test_probe:
        endbr64
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $24, %rsp               /* 6 pushes + 24 + ret addr: 16-aligned */
        movq    %rcx, 0(%rsp)           /* seed                             */
        movq    %r8, 8(%rsp)            /* out_transfer                     */
        leaq    1(%rcx), %rbx
        leaq    2(%rcx), %rbp
        leaq    3(%rcx), %r12
        leaq    4(%rcx), %r13
        leaq    5(%rcx), %r14
        leaq    6(%rcx), %r15
        call    cohook_switch           /* rdi, rsi, rdx passed through     */
        movq    8(%rsp), %rcx
        movq    %rax, (%rcx)
        movq    0(%rsp), %rcx
        xorl    %eax, %eax
        COHOOK_TEST_CHECK %rbx, 1
        COHOOK_TEST_CHECK %rbp, 2
        COHOOK_TEST_CHECK %r12, 3
        COHOOK_TEST_CHECK %r13, 4
        COHOOK_TEST_CHECK %r14, 5
        COHOOK_TEST_CHECK %r15, 6
        addq    $24, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   cohook_test_probe, .-cohook_test_probe
        .purgem COHOOK_TEST_CHECK
)");
#elif defined(__aarch64__)
// x19..x28 -> bits 0..9, d8..d15 -> bits 10..17, x29 -> bit 18
constexpr uint64_t kAllRegsMask = (1u << 19) - 1;
asm(R"(
        .text
        .macro  COHOOK_TEST_CHECK_X reg, k
        add     x9, x3, #\k
        cmp     \reg, x9
        cset    x10, ne
        orr     x0, x0, x10, lsl #(\k-1)
        .endm
        .macro  COHOOK_TEST_CHECK_D reg, k
        fmov    x11, \reg
        add     x9, x3, #\k
        cmp     x11, x9
        cset    x10, ne
        orr     x0, x0, x10, lsl #(\k-1)
        .endm
        .macro  COHOOK_TEST_LOAD_D reg, k
        add     x9, x3, #\k
        fmov    \reg, x9
        .endm

        .globl  cohook_test_probe
        .hidden cohook_test_probe
        .type   cohook_test_probe, %function
        .p2align 4
cohook_test_probe:
        hint    #34                     /* bti c */
        stp     x29, x30, [sp, #-176]!
        mov     x29, sp
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        stp     d8,  d9,  [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        stp     x3,  x4,  [sp, #160]    /* seed, out_transfer               */
        add     x19, x3, #1
        add     x20, x3, #2
        add     x21, x3, #3
        add     x22, x3, #4
        add     x23, x3, #5
        add     x24, x3, #6
        add     x25, x3, #7
        add     x26, x3, #8
        add     x27, x3, #9
        add     x28, x3, #10
        COHOOK_TEST_LOAD_D d8,  11
        COHOOK_TEST_LOAD_D d9,  12
        COHOOK_TEST_LOAD_D d10, 13
        COHOOK_TEST_LOAD_D d11, 14
        COHOOK_TEST_LOAD_D d12, 15
        COHOOK_TEST_LOAD_D d13, 16
        COHOOK_TEST_LOAD_D d14, 17
        COHOOK_TEST_LOAD_D d15, 18
        add     x29, x3, #19            /* fp too: the switch must keep it  */
        bl      cohook_switch           /* x0, x1, x2 passed through        */
        ldp     x3, x4, [sp, #160]
        str     x0, [x4]
        mov     x0, #0
        COHOOK_TEST_CHECK_X x19, 1
        COHOOK_TEST_CHECK_X x20, 2
        COHOOK_TEST_CHECK_X x21, 3
        COHOOK_TEST_CHECK_X x22, 4
        COHOOK_TEST_CHECK_X x23, 5
        COHOOK_TEST_CHECK_X x24, 6
        COHOOK_TEST_CHECK_X x25, 7
        COHOOK_TEST_CHECK_X x26, 8
        COHOOK_TEST_CHECK_X x27, 9
        COHOOK_TEST_CHECK_X x28, 10
        COHOOK_TEST_CHECK_D d8,  11
        COHOOK_TEST_CHECK_D d9,  12
        COHOOK_TEST_CHECK_D d10, 13
        COHOOK_TEST_CHECK_D d11, 14
        COHOOK_TEST_CHECK_D d12, 15
        COHOOK_TEST_CHECK_D d13, 16
        COHOOK_TEST_CHECK_D d14, 17
        COHOOK_TEST_CHECK_D d15, 18
        COHOOK_TEST_CHECK_X x29, 19
        ldp     d8,  d9,  [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        ldp     x19, x20, [sp, #16]
        ldp     x21, x22, [sp, #32]
        ldp     x23, x24, [sp, #48]
        ldp     x25, x26, [sp, #64]
        ldp     x27, x28, [sp, #80]
        ldp     x29, x30, [sp], #176
        ret
        .size   cohook_test_probe, .-cohook_test_probe
        .purgem COHOOK_TEST_CHECK_X
        .purgem COHOOK_TEST_CHECK_D
        .purgem COHOOK_TEST_LOAD_D
)");
#else
#error "switch_abi_test: unsupported architecture"
#endif

namespace {

constexpr unsigned char kStackFill = 0xA5;

// An mmap'd stack with a PROT_NONE guard page below it, pre-filled with a
// pattern so a test can see how deep it was used.
class TestStack {
 public:
  explicit TestStack(size_t size = 256 * 1024) : size_(size) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, size_ + page_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    base_ = static_cast<unsigned char*>(p);
    mprotect(base_, page_, PROT_NONE);
    memset(lo(), kStackFill, size_);
  }
  ~TestStack() { munmap(base_, size_ + page_); }
  TestStack(const TestStack&) = delete;
  TestStack& operator=(const TestStack&) = delete;

  unsigned char* lo() const { return base_ + page_; }
  unsigned char* top() const { return base_ + page_ + size_; }
  // Bytes below top() that were ever written (the fill pattern is gone).
  size_t used() const {
    size_t i = 0;
    while (i < size_ && lo()[i] == kStackFill) ++i;
    return size_ - i;
  }

 private:
  size_t size_;
  size_t page_;
  unsigned char* base_;
};

// Restores the test thread's whole FP environment when a test ends.
class FenvGuard {
 public:
  FenvGuard() { fegetenv(&env_); }
  ~FenvGuard() { fesetenv(&env_); }

 private:
  fenv_t env_;
};

// The FP control state a context owns (rounding, precision, flush-to-zero...),
// without the sticky exception flags.
struct FpControl {
#if defined(__x86_64__)
  uint32_t mxcsr;
  uint16_t x87_cw;
#else
  uint64_t fpcr;
#endif
  bool operator==(const FpControl&) const = default;
};

FpControl read_fp_control() {
  FpControl c{};
#if defined(__x86_64__)
  uint32_t m;
  uint16_t cw;
  asm volatile("stmxcsr %0" : "=m"(m));
  asm volatile("fnstcw %0" : "=m"(cw));
  c.mxcsr = m & ~0x3fu;  // drop the exception flags
  c.x87_cw = cw;
#else
  uint64_t v;
  asm volatile("mrs %0, fpcr" : "=r"(v));
  c.fpcr = v;
#endif
  return c;
}

// Variant 0 and 1 differ in every control we can set: rounding mode and, on
// x86, x87 precision control and MXCSR FTZ/DAZ; on AArch64, FZ and DN.
void set_fp_variant(int variant) {
  fesetround(variant == 0 ? FE_UPWARD : FE_DOWNWARD);
#if defined(__x86_64__)
  uint16_t cw;
  asm volatile("fnstcw %0" : "=m"(cw));
  cw = static_cast<uint16_t>((cw & ~0x300u) | (variant == 0 ? 0x000u : 0x200u));  // PC: 24 / 53 bit
  asm volatile("fldcw %0" : : "m"(cw));
  uint32_t m;
  asm volatile("stmxcsr %0" : "=m"(m));
  m &= ~(0x8000u | 0x40u);
  m |= variant == 0 ? 0x8000u : 0x40u;  // FTZ / DAZ
  asm volatile("ldmxcsr %0" : : "m"(m));
#else
  uint64_t v;
  asm volatile("mrs %0, fpcr" : "=r"(v));
  v &= ~((1ull << 24) | (1ull << 25));
  v |= variant == 0 ? (1ull << 24) : (1ull << 25);  // FZ / DN
  asm volatile("msr fpcr, %0" : : "r"(v));
#endif
}

double one_third() {
  volatile double one = 1.0, three = 3.0;
  return one / three;
}

// ---------------------------------------------------------------- (a) ------

struct ProbeState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  uint64_t ctx_mask = 0;  // OR of the masks the context side saw
  uint64_t rounds = 0;
};

constexpr uint64_t kSeedMain = 0x5a5a'1111'0000'0000ull;
constexpr uint64_t kSeedCtx = 0xc3c3'2222'0000'0000ull;

void probe_entry(void* transfer, void* arg) {
  auto* s = static_cast<ProbeState*>(arg);
  void* t = transfer;
  for (uint64_t i = 0;; ++i) {
    void* got = nullptr;
    s->ctx_mask |= cohook_test_probe(&s->ctx_sp, s->main_sp, t, kSeedCtx ^ (i << 8), &got);
    s->rounds = i + 1;
    t = got;
  }
}

TEST(SwitchAbi, CalleeSavedRegistersSurviveRoundTrips) {
  TestStack stack;
  ProbeState s;
  s.ctx_sp = cohook_make_context(stack.top(), probe_entry, &s);
  constexpr uint64_t kRounds = 1000;
  uint64_t main_mask = 0;
  int64_t first_bad = -1;
  for (uint64_t i = 0; i < kRounds; ++i) {
    void* got = nullptr;
    uint64_t m = cohook_test_probe(&s.main_sp, s.ctx_sp, nullptr, kSeedMain ^ (i << 8), &got);
    if (m != 0 && first_bad < 0) first_bad = static_cast<int64_t>(i);
    main_mask |= m;
  }
  EXPECT_EQ(main_mask, 0u) << "main-side registers clobbered (bit k = k-th register of the "
                           << "probe), mask 0x" << std::hex << main_mask << std::dec
                           << ", first in round " << first_bad;
  EXPECT_EQ(main_mask & ~kAllRegsMask, 0u);
  EXPECT_EQ(s.rounds, kRounds - 1);  // the first switch started the context
  EXPECT_EQ(s.ctx_mask, 0u) << "context-side registers clobbered, mask 0x" << std::hex << s.ctx_mask;
}

// ---------------------------------------------------------------- (b) ------

struct FpState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  FpControl ctx_expected{};
  int ctx_bad = 0;
  double ctx_third = 0;
  int ctx_bad_third = 0;
};

void fp_entry(void*, void* arg) {
  auto* s = static_cast<FpState*>(arg);
  set_fp_variant(1);
  s->ctx_expected = read_fp_control();
  s->ctx_third = one_third();
  for (;;) {
    cohook_switch(&s->ctx_sp, s->main_sp, nullptr);
    if (!(read_fp_control() == s->ctx_expected)) ++s->ctx_bad;
    if (one_third() != s->ctx_third) ++s->ctx_bad_third;
  }
}

TEST(SwitchAbi, FpControlStateIsPerContext) {
  FenvGuard guard;
  TestStack stack;
  FpState s;
  s.ctx_sp = cohook_make_context(stack.top(), fp_entry, &s);
  set_fp_variant(0);
  const FpControl mine = read_fp_control();
  const double my_third = one_third();
  int bad = 0, bad_third = 0;
  for (int i = 0; i < 10000; ++i) {
    cohook_switch(&s.main_sp, s.ctx_sp, nullptr);
    if (!(read_fp_control() == mine)) ++bad;
    if (one_third() != my_third) ++bad_third;
  }
  fesetround(FE_TONEAREST);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(bad_third, 0);
  EXPECT_EQ(s.ctx_bad, 0);
  EXPECT_EQ(s.ctx_bad_third, 0);
  EXPECT_FALSE(mine == s.ctx_expected);
  EXPECT_GT(my_third, s.ctx_third);  // rounded up vs rounded down
}

struct InheritState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  int round = -1;
  FpControl seen{};
};

void inherit_entry(void*, void* arg) {
  auto* s = static_cast<InheritState*>(arg);
  s->round = fegetround();
  s->seen = read_fp_control();
  for (;;) cohook_switch(&s->ctx_sp, s->main_sp, nullptr);
}

TEST(SwitchAbi, NewContextInheritsCreatorsFpControl) {
  FenvGuard guard;
  TestStack stack;
  InheritState s;
  set_fp_variant(1);
  const FpControl creator = read_fp_control();
  s.ctx_sp = cohook_make_context(stack.top(), inherit_entry, &s);
  fesetround(FE_TONEAREST);
  const FpControl mine = read_fp_control();
  cohook_switch(&s.main_sp, s.ctx_sp, nullptr);
  EXPECT_EQ(s.round, FE_DOWNWARD);
  EXPECT_TRUE(s.seen == creator);
  EXPECT_EQ(fegetround(), FE_TONEAREST);
  EXPECT_TRUE(read_fp_control() == mine);
}

// ---------------------------------------------------------------- (c) ------

struct TransferState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  uintptr_t first = 0;
  int ctx_bad = 0;
};

void transfer_entry(void* transfer, void* arg) {
  auto* s = static_cast<TransferState*>(arg);
  s->first = reinterpret_cast<uintptr_t>(transfer);
  uintptr_t expect = s->first;
  for (;;) {
    void* r = cohook_switch(&s->ctx_sp, s->main_sp, reinterpret_cast<void*>(~expect));
    if (reinterpret_cast<uintptr_t>(r) != expect + 1) ++s->ctx_bad;
    expect = reinterpret_cast<uintptr_t>(r);
  }
}

TEST(SwitchAbi, TransferValuePassesBothWays) {
  TestStack stack;
  TransferState s;
  s.ctx_sp = cohook_make_context(stack.top(), transfer_entry, &s);
  constexpr uintptr_t kBase = 0xfeed'0000'0000ull;
  int bad = 0;
  for (uintptr_t i = 0; i < 1000; ++i) {
    void* r = cohook_switch(&s.main_sp, s.ctx_sp, reinterpret_cast<void*>(kBase + i));
    if (reinterpret_cast<uintptr_t>(r) != ~(kBase + i)) ++bad;
  }
  EXPECT_EQ(s.first, kBase);  // a new context gets transfer as its first argument
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(s.ctx_bad, 0);
}

// ---------------------------------------------------------------- (d) ------

struct StartState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  uintptr_t local_addr = 1;
  uintptr_t frame_addr = 1;
  int depth = -1;
  uintptr_t last_pc = 0;
  bool saw_start = false;
};

__attribute__((noinline)) void take_backtrace(StartState* s) {
  void* pcs[64];
  int n = backtrace(pcs, 64);
  s->depth = n;
  const auto start = reinterpret_cast<uintptr_t>(&cohook_context_start);
  for (int i = 0; i < n; ++i) {
    auto pc = reinterpret_cast<uintptr_t>(pcs[i]);
    if (pc > start && pc <= start + 32) s->saw_start = true;
  }
  if (n > 0) s->last_pc = reinterpret_cast<uintptr_t>(pcs[n - 1]);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void start_entry(void*, void* arg) {
  auto* s = static_cast<StartState*>(arg);
  alignas(16) volatile char local[16] = {};
  s->local_addr = reinterpret_cast<uintptr_t>(&local[0]);
  s->frame_addr = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  take_backtrace(s);
  for (;;) cohook_switch(&s->ctx_sp, s->main_sp, nullptr);
}

TEST(SwitchAbi, NewContextStackIsAlignedAndBacktraceEnds) {
  const auto start = reinterpret_cast<uintptr_t>(&cohook_context_start);
  for (size_t skew : {0u, 1u, 8u, 15u}) {
    SCOPED_TRACE(testing::Message() << "stack_top skew " << skew);
    TestStack stack;
    StartState s;
    s.ctx_sp = cohook_make_context(stack.top() - skew, start_entry, &s);
    const auto sp = reinterpret_cast<uintptr_t>(s.ctx_sp);
    EXPECT_EQ(sp % 16, 0u);
    EXPECT_GE(sp, reinterpret_cast<uintptr_t>(stack.lo()));
    EXPECT_LT(sp, reinterpret_cast<uintptr_t>(stack.top() - skew));
    cohook_switch(&s.main_sp, s.ctx_sp, nullptr);
    EXPECT_EQ(s.local_addr % 16, 0u);
    // x86-64: the frame address is rsp at entry minus the pushed rbp, so it
    // is 16-aligned iff the entry saw rsp = 8 (mod 16) as the ABI demands;
    // AArch64: fp is set from sp, which must be 16-aligned at all times.
    EXPECT_EQ(s.frame_addr % 16, 0u);
    EXPECT_GT(s.frame_addr, reinterpret_cast<uintptr_t>(stack.lo()));
    EXPECT_LT(s.frame_addr, reinterpret_cast<uintptr_t>(stack.top()));
    // backtrace, take_backtrace, start_entry, cohook_context_start: then the
    // unwinder must stop (the garbage above the start frame is never read).
    EXPECT_GE(s.depth, 3);
    EXPECT_LE(s.depth, 6);
    EXPECT_TRUE(s.saw_start);
    EXPECT_GT(s.last_pc, start);
    EXPECT_LE(s.last_pc, start + 32);
  }
}

// ---------------------------------------------------------------- (e) ------

struct PingPongState {
  void* main_sp = nullptr;
  void* ctx_sp = nullptr;
  void* main_sp_first = nullptr;
  uint64_t ctx_bad = 0;
};

void pingpong_entry(void*, void* arg) {
  auto* s = static_cast<PingPongState*>(arg);
  s->main_sp_first = s->main_sp;
  for (;;) {
    cohook_switch(&s->ctx_sp, s->main_sp, nullptr);
    if (s->main_sp != s->main_sp_first) ++s->ctx_bad;
  }
}

TEST(SwitchAbi, TenMillionSwitchesDoNotGrowTheStack) {
  TestStack stack;
  PingPongState s;
  s.ctx_sp = cohook_make_context(stack.top(), pingpong_entry, &s);
  cohook_switch(&s.main_sp, s.ctx_sp, nullptr);
  void* const ctx_first = s.ctx_sp;
  const size_t used_first = stack.used();
  uint64_t bad = 0;
  constexpr uint64_t kRoundTrips = 5'000'000;  // 10 million switches
  for (uint64_t i = 0; i < kRoundTrips; ++i) {
    cohook_switch(&s.main_sp, s.ctx_sp, nullptr);
    if (s.ctx_sp != ctx_first) ++bad;
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(s.ctx_bad, 0u);
  EXPECT_EQ(stack.used(), used_first);
  EXPECT_LT(stack.used(), 1024u);
}

}  // namespace
