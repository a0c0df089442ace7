// Stall watchdog: a coroutine that spins while another waits on the same
// carrier is reported once per call site with its own frames and the spin
// hint; a lone spinner delays nobody; an idle carrier lets the monitor sleep
// without a timeout; a carrier that blocks the sample signal is reported
// without frames; classify() names the cause from frame names.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "carrier_set.h"
#include "clock.h"
#include "scheduler.h"
#include "watchdog.h"

using namespace cohook;

namespace {
std::mutex g_out_mu;
std::string g_out;
std::atomic<int> g_counted{0};

void emit(const char* text, size_t n) {
  std::lock_guard<std::mutex> g(g_out_mu);
  g_out.append(text, n);
}
void counted() { g_counted++; }
std::string take_output() {
  std::lock_guard<std::mutex> g(g_out_mu);
  std::string s;
  s.swap(g_out);
  return s;
}
int start_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  int r = pthread_create(&t, nullptr, fn, arg);
  if (r == 0) pthread_detach(t);
  return r;
}

// One carrier for the whole test program (the monitor keeps reading it).
Scheduler* carrier() {
  static Scheduler* s = [] {
    auto* s = new Scheduler;
    static CarrierSet set;
    set.configure(1, &start_thread, nullptr);
    set.set_first(s);
    watchdog::Options o;
    o.stall_ms = 100;
    o.carriers = &set;
    o.start_thread = &start_thread;
    o.sigaction = &::sigaction;
    o.emit = &emit;
    o.counted = &counted;
    EXPECT_TRUE(watchdog::start(o));
    return s;
  }();
  return s;
}

void run_for_ms(int ms) {
  Deadline end = deadline_after(Nanos(ms) * 1000000);
  while (now_ns() < end) asm volatile("" ::: "memory");
}
}  // namespace

extern "C" __attribute__((noinline)) void watchdog_test_spin(int ms) {
  run_for_ms(ms);
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
}
extern "C" __attribute__((noinline)) void watchdog_test_spin_blocked(int ms) {
  run_for_ms(ms);
  asm volatile("" ::: "memory");
}

namespace {
struct Pair {
  std::atomic<bool> done{false};
  int spin_ms = 400;
  bool block_signal = false;
};

void spinner(void* p) {
  auto* c = static_cast<Pair*>(p);
  if (c->block_signal) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, watchdog::sample_signal());
    pthread_sigmask(SIG_BLOCK, &one, nullptr);
    watchdog_test_spin_blocked(c->spin_ms);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  } else {
    watchdog_test_spin(c->spin_ms);
  }
  c->done = true;
}

void waiter(void* p) {
  auto* c = static_cast<Pair*>(p);
  while (!c->done) Scheduler::sleep_for(5 * 1000 * 1000);
}

// A spinner and a coroutine that wants to run every 5 ms, on one carrier.
void spin_next_to_a_waiter(Pair& c) {
  Scheduler* s = carrier();
  Coroutine* w = s->spawn(&waiter, &c);
  Coroutine* sp = s->spawn(&spinner, &c);
  Scheduler::join(sp);
  Scheduler::join(w);
}
}  // namespace

// The tests that read a sampled report skip under qemu-user, where the
// report came without frames (CI): the emulated signal delivery is not the
// kernel's. Natively and under ASan they run.
#if defined(COHOOK_UNDER_QEMU)
#define SKIP_IF_SAMPLING_IS_EMULATED() GTEST_SKIP() << "qemu-user: the sample signal's report has no frames"
#else
#define SKIP_IF_SAMPLING_IS_EMULATED() static_cast<void>(0)
#endif

TEST(Watchdog, SpinNextToAWaiterIsReportedOncePerSite) {
  SKIP_IF_SAMPLING_IS_EMULATED();
  carrier();
  take_output();
  int before = g_counted;
  Pair c;
  spin_next_to_a_waiter(c);
  std::string out = take_output();
  EXPECT_EQ(g_counted - before, 1) << out;
  EXPECT_NE(out.find("stall: carrier 0 (tid "), std::string::npos) << out;
  EXPECT_NE(out.find("  #0 "), std::string::npos) << out;
  EXPECT_NE(out.find(" watchdog_test_spin+0x"), std::string::npos) << out;
  EXPECT_NE(out.find("(watchdog_test)"), std::string::npos) << out;
  EXPECT_NE(out.find("hint: a computation or spin loop"), std::string::npos) << out;
  EXPECT_NE(out.find("(1 other thread(s) live there)"), std::string::npos) << out;
  size_t at = out.find("for at least ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_GE(atoi(out.c_str() + at + 13), 100) << out;

  // The same site again: counted, not printed.
  Pair again;
  spin_next_to_a_waiter(again);
  EXPECT_EQ(g_counted - before, 2);
  EXPECT_EQ(take_output(), "");
}

TEST(Watchdog, LoneSpinnerDelaysNobody) {
  Scheduler* s = carrier();
  int before = g_counted;
  Pair c;
  Coroutine* sp = s->spawn(&spinner, &c);
  Scheduler::join(sp);  // main parks: nobody else can run here
  EXPECT_EQ(g_counted - before, 0);
  EXPECT_EQ(take_output(), "");
}

TEST(Watchdog, IdleCarrierLetsTheMonitorSleepWithoutTimeout) {
  Scheduler* s = carrier();
  std::atomic<bool> saw_asleep{false};
  std::atomic<bool> stop{false};
  std::thread observer([&] {
    while (!stop) {
      if (watchdog::monitor_asleep()) saw_asleep = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  Coroutine* sleeper = s->spawn([](void*) { Scheduler::sleep_for(500 * 1000 * 1000); }, nullptr);
  Scheduler::join(sleeper);
  stop = true;
  observer.join();
  EXPECT_TRUE(saw_asleep);
}

TEST(Watchdog, BlockedSampleSignalIsReportedWithoutFrames) {
  SKIP_IF_SAMPLING_IS_EMULATED();
  carrier();
  take_output();
  int before = g_counted;
  Pair c;
  c.block_signal = true;
  spin_next_to_a_waiter(c);
  std::string out = take_output();
  EXPECT_EQ(g_counted - before, 1) << out;
  EXPECT_NE(out.find("no backtrace: the watchdog's signal is blocked on that carrier"), std::string::npos) << out;
  EXPECT_EQ(out.find("#0 "), std::string::npos) << out;
}

TEST(Watchdog, ClassifiesFromFrameNames) {
  using watchdog::Cause;
  const char* spin[] = {"compute", "worker_main"};
  bool spin_prog[] = {true, true};
  EXPECT_EQ(watchdog::classify(spin, spin_prog, 2, 0), Cause::Spin);
  // On a CPU inside libc (clock_gettime in a timing loop) is still a spin.
  const char* busy[] = {"clock_gettime", "compute"};
  bool busy_prog[] = {false, true};
  EXPECT_EQ(watchdog::classify(busy, busy_prog, 2, 'R'), Cause::Spin);
  EXPECT_EQ(watchdog::classify(busy, busy_prog, 2, 'S'), Cause::Unknown);
  const char* stdio[] = {"read", "_IO_file_underflow", "_IO_getline", "fgets", "worker_main"};
  bool stdio_prog[] = {false, false, false, false, true};
  EXPECT_EQ(watchdog::classify(stdio, stdio_prog, 5, 'S'), Cause::Stdio);
  const char* lock[] = {"", "pthread_mutex_lock", "pthread_mutex_lock", "worker_main"};
  bool lock_prog[] = {false, false, false, true};
  EXPECT_EQ(watchdog::classify(lock, lock_prog, 4, 'S'), Cause::NativeLock);
  const char* uring[] = {"", "io_uring_submit_and_wait", "worker_main"};
  bool uring_prog[] = {false, false, true};
  EXPECT_EQ(watchdog::classify(uring, uring_prog, 3, 'S'), Cause::Uring);
  const char* other[] = {"nanosleep", "worker_main"};
  bool other_prog[] = {false, true};
  EXPECT_EQ(watchdog::classify(other, other_prog, 2, 'S'), Cause::Unknown);
  EXPECT_EQ(watchdog::classify(nullptr, nullptr, 0, 0), Cause::Unknown);
}
