// Stall watchdog: notices a carrier that has not come back to its dispatcher
// for longer than a threshold (COHOOK_STALL_MS) -- a coroutine that computes,
// spins, or blocks its OS thread in a call the shim cannot see -- and reports
// it once per call site with a backtrace taken on that carrier.
//
// Each Scheduler publishes a Heartbeat: two relaxed stores per switch (how
// many runs it started, which coroutine runs now; nullptr in the dispatcher)
// and a flag around its blocking epoll wait. A monitor thread (a real OS
// thread, never a carrier) reads them: a carrier whose run count has not
// moved while a coroutine runs, for more than the threshold, is stalled --
// provided another coroutine lives on it (a lone coroutine that computes
// delays nobody).
//
// Idle costs nothing: while every carrier sleeps in epoll the monitor sleeps
// on a futex with no timeout. A carrier leaving a blocking epoll wait, and a
// new carrier, wake it (one load of a flag when it is awake). While any
// carrier is awake the monitor looks every threshold/2.
//
// The backtrace: the monitor sends kSampleSignal (SIGRTMAX-1) to the stalled
// carrier's tid with tgkill; the handler, running on that carrier in the
// middle of whatever it does, records backtrace() frames, the coroutine and
// its start routine into the carrier's Heartbeat::Sample. glibc keeps the
// bottom of the kernel's real-time range for itself (SIGCANCEL, SIGSETXID:
// SIGRTMIN starts above them) and programs allocate from SIGRTMIN up, so the
// watchdog takes one from the top. If the program installs its own disposition for it, or
// blocks it on that carrier, no signal is sent: the report says so and has
// no frames.
#pragma once
#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cohook {

class CarrierSet;

namespace watchdog {
// Set while the monitor sleeps without a timeout; anyone that may have made a
// carrier busy checks it (see kick()).
extern std::atomic<uint32_t> g_monitor_asleep;
void wake_monitor();
}  // namespace watchdog

// What a carrier publishes for the watchdog. Written by its own thread only.
struct Heartbeat {
  static constexpr int kFrames = 32;
  std::atomic<uint64_t> runs{0};              // coroutine runs started
  std::atomic<const void*> running{nullptr};  // the Coroutine running; nullptr in the dispatcher
  std::atomic<bool> blocked{false};           // in a blocking epoll wait
  int tid = 0;

  // A backtrace taken on this carrier by the watchdog's signal.
  struct Sample {
    std::atomic<uint32_t> asked{0};  // request number, from the monitor
    std::atomic<uint32_t> taken{0};  // the request the handler answered
    uint64_t expect_runs = 0;        // the run the monitor saw stalled
    void* frames[kFrames];
    int count = 0;
    uint64_t runs = 0;                 // runs when it was taken (same stall?)
    const void* coroutine = nullptr;
    bool is_main = false;              // the carrier thread's own context
    void* start_routine = nullptr;     // the Thread's, if it is one
    char name[16] = {};
  } sample;

  void enter(const void* co) {
    runs.store(runs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    running.store(co, std::memory_order_relaxed);
  }
  void leave() { running.store(nullptr, std::memory_order_relaxed); }
  // Around a blocking epoll wait (not the non-blocking looks while busy).
  void begin_blocking_wait() { blocked.store(true, std::memory_order_seq_cst); }
  void end_blocking_wait() {
    blocked.store(false, std::memory_order_seq_cst);
    if (watchdog::g_monitor_asleep.load(std::memory_order_seq_cst)) watchdog::wake_monitor();
  }
};

namespace watchdog {

constexpr int kMaxReportedSites = 256;

struct Options {
  unsigned stall_ms = 100;
  CarrierSet* carriers = nullptr;
  // Carrier 0 is the program's main thread: main, parked there while another
  // thread runs, is one more thread kept waiting.
  bool carrier0_is_main = false;
  // Start fn(arg) on a new detached OS thread; 0 or an errno value.
  int (*start_thread)(void* (*fn)(void*), void* arg) = nullptr;
  // libc's sigaction (in the shim, `sigaction` is the hook).
  int (*sigaction)(int, const struct sigaction*, struct sigaction*) = nullptr;
  // One report, several lines, each ending in '\n'.
  void (*emit)(const char* text, size_t n) = nullptr;
  // Every stall episode, reported or not (g_stats.stalls).
  void (*counted)() = nullptr;
};

// The signal the backtrace request uses.
int sample_signal();

// Install the signal handler and start the monitor thread, once per process
// (again in a forked child after reset_after_fork). False when off
// (stall_ms == 0) or the thread could not be made.
bool start(const Options& o);
// start(o) at the first spawn from now on (note_spawn): a stall needs a
// second thread on the carrier, and a process that never makes one (a
// forked child that counts its threads, then execs) sees no extra thread.
// false: the monitor could not be made (the caller may say so).
void arm(const Options& o);
extern std::atomic<bool> g_armed;
bool start_armed();
inline void note_spawn() {
  if (g_armed.load(std::memory_order_relaxed)) start_armed();
}
bool running();
// Child after fork: the monitor thread does not exist here; forget it and
// the stalls seen (start() makes a new one).
void reset_after_fork();
// A carrier may have gone from idle to busy (a new carrier).
void kick();
// On a new carrier thread: make sure the sample signal can reach it
// (carriers block process signals).
void prepare_carrier_thread();
// Is the calling thread the monitor? (It must never become a carrier.)
bool on_monitor_thread();
// Is the monitor asleep without a timeout now? (Tests: idle costs nothing.)
bool monitor_asleep();
// Stall episodes seen and reports printed since start().
uint64_t stalls_seen();
uint64_t reports_printed();

// What a stall is, for its hint: from the kernel's state letter for the
// carrier thread ('R' on a CPU: it computes; 'S'/'D': it sleeps in a call;
// 0 unknown) and its symbolized frames, innermost first, each marked when it
// is in the program rather than libc, the loader or libcohook.
enum class Cause { Spin, Stdio, Uring, NativeLock, Unknown };
Cause classify(const char* const* function_names, const bool* in_program, int n, char state);
const char* cause_name(Cause c);

}  // namespace watchdog
}  // namespace cohook
