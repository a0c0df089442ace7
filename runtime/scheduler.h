// Scheduler: one per carrier thread. The opening essay of the runtime.
//
// Glossary
//   carrier     an OS thread that runs coroutines; it owns one Scheduler.
//   main        the context the carrier thread was already running when the
//               Scheduler was made (its own stack), seen as a coroutine, so
//               the thread's original code can park like any coroutine.
//   dispatcher  a context on its own small stack that runs the loop below.
//               Every switch goes coroutine -> dispatcher -> coroutine; that
//               keeps shared-stack copies off the stacks being copied and
//               gives one place where "what runs next" is decided.
//   ready queue coroutines of this carrier that can run (FIFO, intrusive).
//   inbox       a lock-free MPSC stack where other threads push coroutines of
//               this carrier they woke, plus the Poller's eventfd to wake the
//               carrier if it sleeps in epoll.
//   Parker      how anything blocks (park.h); wait queues hold Parkers.
//
// The dispatcher loop
//   1. move the inbox into the ready queue;
//   2. run the coroutines that are ready now, each until it parks, yields or
//      finishes (a finished one has its stack released, then its joiner woken);
//   3. if nothing is ready, epoll_wait exactly until the earliest timer -- no
//      tick, so an idle carrier makes zero wake-ups; if something is ready,
//      look at epoll without sleeping at most every 100 us so I/O is not
//      starved by coroutines that keep yielding;
//   4. fire expired timers.
//
// Migration: a coroutine runs only on its home carrier, for life. errno,
// __thread variables and TLS addresses the compiler cached stay valid.
//
// Rejected: a global run queue with work stealing (it would migrate running
// coroutines, which breaks TLS caching in code compiled for threads); a 1 ms
// tick (libco: CPU burnt while idle); per-wait epoll ADD/DEL (libco: two
// syscalls per blocking call).
#pragma once
#include <atomic>
#include <csignal>
#include <cstddef>
#include <memory>
#include <vector>

#include "clock.h"
#include "coroutine.h"
#include "poller.h"
#include "scheduler_counters.h"
#include "stack_pool.h"
#include "timer_heap.h"
#include "watchdog.h"

namespace cohook {

class Scheduler {
 public:
  struct Options {
    size_t stack_size = 128 * 1024;       // private stack per coroutine
    size_t stack_hot_cache = 64;          // see StackPool
    size_t stack_cold_cache = 1024;
    unsigned shared_stacks = 0;           // >0: copy-stack mode with N slots
    size_t shared_stack_size = 128 * 1024;
    size_t dispatcher_stack_size = 256 * 1024;
  };
  struct SpawnOptions {
    size_t stack_size = 0;   // 0 = Options::stack_size (ignored on shared stacks)
    bool detached = false;   // freed when it finishes; nobody joins it
    const char* name = nullptr;
    // Set before the coroutine can run (on another carrier it may run at once).
    Coroutine** publish = nullptr;
    void* user = nullptr;            // Coroutine::user(), freed with it by user_free
    void (*user_free)(void*) = nullptr;
  };
  struct Stats {
    uint64_t switches = 0;   // dispatcher -> coroutine switches
    uint64_t polls = 0;      // epoll waits
    uint64_t remote_wakes = 0;
    size_t live = 0;         // spawned, not yet finished
  };

  // Makes the calling thread a carrier: its current context becomes `main`.
  // One Scheduler per thread at a time. Check ok(): without fds or memory for
  // its epoll, eventfd and dispatcher stack a scheduler cannot work.
  Scheduler() : Scheduler(Options{}) {}
  explicit Scheduler(Options o);
  bool ok() const { return ok_; }
  // new + ok(), or nullptr (errno set) -- what a library should use.
  static Scheduler* try_create(Options o);
  // On the same thread, from main. Coroutines that never finished are freed
  // without being run to completion.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // This thread's scheduler, or nullptr.
  static Scheduler* current();
  // This thread's scheduler, made by the installed factory if there is none
  // yet (the shim makes carriers lazily, on the first wait); nullptr if none.
  static Scheduler* ensure();
  using Factory = Scheduler* (*)();
  static void set_factory(Factory f);
  // True for the dispatcher context (which must never park).
  static bool is_dispatcher(const Coroutine* co);

  // Start entry(arg) on this carrier, from any thread (a coroutine created
  // from another carrier is handed over through the inbox and runs here for
  // life). nullptr + errno (EAGAIN) when no stack. A non-detached coroutine
  // must be joined.
  Coroutine* spawn(Coroutine::Entry entry, void* arg, const SpawnOptions& o);
  Coroutine* spawn(Coroutine::Entry entry, void* arg) { return spawn(entry, arg, SpawnOptions{}); }

  // Wait for co to finish, then free it. From any coroutine, any carrier's
  // main, or a plain thread.
  static void join(Coroutine* co);
  // Like join, but gives up at the deadline (false; co stays joinable).
  static bool join_until(Coroutine* co, Deadline deadline);
  // join in two steps, for a joiner that reads the result in between: wait
  // until co has finished (false at the deadline), then free it.
  // `give_up` (optional) is asked after every wake-up: true ends the wait
  // early with false (a cancellation request for the joiner).
  static bool wait_exit(Coroutine* co, Deadline deadline, bool (*give_up)() = nullptr);
  static bool has_exited(Coroutine* co);
  static void destroy(Coroutine* co);
  // Never joined: freed as soon as it finishes.
  static void detach(Coroutine* co);

  // From main: run until every coroutine spawned here has finished.
  void run();
  // Coroutines spawned here and not finished yet (any thread may ask).
  size_t live() const { return live_.load(std::memory_order_relaxed); }

  // In a child after fork(): this thread's scheduler belongs to the parent's
  // world (other carriers, coroutines that do not exist here). Forget it
  // without freeing anything -- the caller may be running on one of its
  // stacks -- so that a fresh Scheduler can adopt the running context as its
  // main.
  static void abandon_after_fork();

  // For the running coroutine (or main):
  static void yield();                      // to the back of the ready queue
  // false if a signal handler interrupted the sleep (see note_signal).
  static bool sleep_until(Deadline d);
  static bool sleep_for(Nanos d) { return sleep_until(deadline_after(d)); }

  // From a signal handler (async-signal-safe): a handler is running on this
  // thread. The carrier's main coroutine stands for the OS thread the kernel
  // chose: if it is parked -- as a thread would be blocked in a system call --
  // its interruptible wait ends with Interrupted (or Restart when every such
  // handler had SA_RESTART), whatever other coroutine the handler happened to
  // interrupt. If main itself was running, nothing is interrupted, as natively.
  static void note_signal(bool restartable);
  // Around a program's signal handler (async-signal-safe): wake-ups it makes
  // go through the inbox, never the ready queue it may have interrupted.
  static void handler_enter();
  static void handler_exit();
  // While a coroutine waits with its own signal mask applied to the carrier
  // (ppoll, pselect, epoll_pwait), signals are meant for it, not for main.
  // One at a time: false if another coroutine's masked wait is active.
  bool claim_signal_target(Coroutine* co) {
    if (signal_target_ && signal_target_ != co) return false;
    signal_target_ = co;
    return true;
  }
  void release_signal_target() { signal_target_ = nullptr; }

  // The carrier's OS thread (its pthread_t), as the owner recorded it.
  void set_os_thread(unsigned long h) { os_thread_ = h; }
  unsigned long os_thread() const { return os_thread_; }

  Poller& poller() { return poller_; }
  TimerHeap& timers() { return timers_; }
  StackPool& stack_pool() { return pool_; }
  Stats stats() const;
  Coroutine* main_coroutine() { return main_.get(); }
  // What the stall watchdog reads (watchdog.h); any thread may read it.
  Heartbeat& heartbeat() { return heartbeat_; }
  // Every coroutine of this carrier with its state, for debugging dumps.
  template <class F>
  void for_each_coroutine(F&& f) {
    for (Coroutine* c = all_; c; c = c->all_next_) f(*c);
  }

 private:
  friend class Parker;
  static bool park_coroutine(Coroutine* co, Deadline deadline);
  static void unpark_coroutine(Coroutine* co);
 public:
  static void note_timer_fired(Parker* p);  // for the timer callback only
 private:

  static void dispatcher_entry(void* self);
  void dispatch_loop();
  void run_one(Coroutine* co);
  void on_finished(Coroutine* co);
  void make_ready_local(Coroutine* co);
  void push_inbox(Coroutine* co);
  void drain_inbox();
  void switch_to_dispatcher(Coroutine* self);
  void deliver_signal_interrupt();

  bool ok_ = false;
  unsigned long os_thread_ = 0;
  Options opt_;
  StackPool pool_;
  Poller poller_;
  TimerHeap timers_;
  std::vector<SharedStack> shared_;  // slots mapped on first use
  unsigned next_shared_ = 0;

  std::unique_ptr<Coroutine> main_;
  std::unique_ptr<Coroutine> dispatcher_;

  Coroutine* ready_head_ = nullptr;
  Coroutine* ready_tail_ = nullptr;
  std::atomic<Coroutine*> inbox_{nullptr};
  std::atomic<bool> sleeping_{false};
  volatile sig_atomic_t signal_seen_ = 0;      // set by note_signal
  volatile sig_atomic_t signal_restart_ = 1;
  uint32_t signal_park_seq_ = 0;               // the wait the signal found
  Coroutine* signal_victim_ = nullptr;         // whose wait that is
  Coroutine* signal_target_ = nullptr;         // see claim_signal_target

  // spawn() may come from other threads: the stack pool, the shared slots
  // and the list of all coroutines are guarded by this lock.
  SpinLock spawn_lock_;
  Coroutine* all_ = nullptr;
  std::atomic<size_t> live_{0};
  Parker* run_waiter_ = nullptr;  // main, parked in run()
  Nanos last_poll_ = 0;
  unsigned busy_passes_ = 0;
  // Process-wide counters (COHOOK_STATS); this scheduler's own are the
  // difference from where its slot stood when it was made.
  CarrierCounters* counters_ = CarrierCounters::claim();
  uint64_t switches_base_ = counters_->switches.load(std::memory_order_relaxed);
  uint64_t polls_base_ = counters_->polls.load(std::memory_order_relaxed);
  std::atomic<uint64_t> remote_wakes_{0};
  Heartbeat heartbeat_;
};

}  // namespace cohook
