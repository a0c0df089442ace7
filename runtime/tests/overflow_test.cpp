#include <gtest/gtest.h>

#include <csignal>

#include "sanitizers.h"
#include "scheduler.h"

using namespace cohook;

static int recurse(int n) {
  volatile char pad[512];
  pad[0] = char(n);
  return n == 0 ? pad[0] : recurse(n - 1) + pad[0];
}

TEST(OverflowDeathTest, GuardPageHitPrintsOneLineAndAborts) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  EXPECT_DEATH(
      {
        Scheduler s(Scheduler::Options{.stack_size = 32 * 1024});
        Coroutine* co = s.spawn([](void*) { recurse(100000); }, nullptr, {.name = "deep"});
        Scheduler::join(co);
      },
      "cohook: stack overflow in coroutine [0-9]+ \"deep\" \\(stack 32 KiB\\); raise it with "
      "COHOOK_STACK_SIZE, e.g. COHOOK_STACK_SIZE=64k");
}

static volatile int* opaque_null() {
  static volatile uintptr_t zero = 0;
  return reinterpret_cast<volatile int*>(zero + 16);
}

// What a SIGSEGV we do not claim ends in: the default action (killed by the
// signal), or under ASan its own SEGV report (exit code 1). Either way, not
// our overflow line.
#ifdef COHOOK_ASAN
static const auto kPassedOn = testing::ExitedWithCode(1);
static const char* const kPassedOnText = "AddressSanitizer: SEGV";
#elif defined(COHOOK_UNDER_QEMU)
static const auto kPassedOn = testing::KilledBySignal(SIGSEGV);
static const char* const kPassedOnText = "^qemu: uncaught target signal 11";
#else
static const auto kPassedOn = testing::KilledBySignal(SIGSEGV);
static const char* const kPassedOnText = "^$";
#endif

TEST(OverflowDeathTest, OtherSegvsAreNotReportedAsOverflow) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  EXPECT_EXIT(
      {
        Scheduler s;
        Coroutine* co = s.spawn([](void*) { *opaque_null() = 1; }, nullptr);
        Scheduler::join(co);
      },
      kPassedOn, kPassedOnText);
}

TEST(OverflowDeathTest, KillSentSegvStillKills) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  EXPECT_EXIT(
      {
        Scheduler s;
        Coroutine* co = s.spawn([](void*) { raise(SIGSEGV); }, nullptr);
        Scheduler::join(co);
      },
      kPassedOn, kPassedOnText);
}
