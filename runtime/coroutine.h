// Coroutine: one context with its own (or a shared) stack.
//
// Low level and scheduler-free: resume() runs a coroutine until it yields or
// finishes and then returns to whoever resumed it. Each coroutine remembers its
// own resumer, so nesting depth is unlimited (libco keeps a 128-entry array).
// The Scheduler builds parking, timers and I/O waits on top of this.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "park.h"
#include "sanitizers.h"
#include "spinlock.h"
#include "stack_pool.h"

namespace cohook {

class Scheduler;

enum class CoState : uint8_t {
  Created,   // has a stack, never ran
  Ready,     // in a ready queue
  Running,   // on a carrier now
  Parked,    // waiting for unpark (I/O, timer, lock, join...)
  Finished,  // entry returned; stack released or about to be
};
const char* to_string(CoState s);

// A copy-stack slot (libco's "shared stack"): many coroutines run on the same
// memory; the one being swapped out has its used part copied to a buffer sized
// to what it actually uses. Caveat: a pointer into a coroutine's stack is only
// valid while that coroutine owns the slot.
struct SharedStack {
  Stack stack;
  class Coroutine* owner = nullptr;
};

class Coroutine {
 public:
  using Entry = void (*)(void* arg);

  Coroutine(Entry entry, void* arg);
  ~Coroutine();
  Coroutine(const Coroutine&) = delete;
  Coroutine& operator=(const Coroutine&) = delete;

  // Give the coroutine a private stack from `pool` (size 0 = pool default).
  // false + errno=EAGAIN when no stack can be mapped.
  bool use_private_stack(StackPool& pool, size_t size = 0);
  // Run on a copy-stack slot instead.
  void use_shared_stack(SharedStack* slot);
  // Give the private stack back (only once Finished).
  void release_stack(StackPool& pool);

  // Run until it yields or finishes; returns to the caller then.
  void resume();
  // From inside the running coroutine: back to whoever resumed it.
  static void yield();
  // From inside the running coroutine: finish it now, as if its entry had
  // returned (pthread_exit after unwinding). Never for a thread's main.
  [[noreturn]] static void exit_current();
  // The coroutine running on this thread (nullptr on a plain thread stack
  // or in a scheduler's dispatcher).
  static Coroutine* current();

  CoState state() const { return state_; }
  bool finished() const { return state_ == CoState::Finished; }
  uint64_t id() const { return id_; }
  const char* name() const { return name_; }
  void set_name(const char* n);
  size_t stack_size() const;
  bool on_shared_stack() const { return shared_ != nullptr; }
  // Bytes held in the save buffer while swapped out of a shared slot.
  size_t saved_bytes() const { return saved_size_; }
  // Private stack (or the shared slot's), for overflow reports.
  const Stack& stack() const { return shared_ ? shared_->stack : stack_; }
  Parker& parker() { return parker_; }
  Scheduler* home() const { return home_; }
  bool is_thread_main() const { return is_thread_main_; }

  // The owner's record (the shim's pthread), freed with the coroutine by
  // `free_fn` unless that is null.
  void* user() const { return user_; }
  void set_user(void* u, void (*free_fn)(void*)) {
    user_ = u;
    user_free_ = free_fn;
  }

 private:
  friend class Scheduler;
  struct MainTag {};
  // The context a thread already runs on (its own stack) seen as a coroutine.
  explicit Coroutine(MainTag);

  [[noreturn]] static void start(void* transfer, void* arg);
  void swap_into_shared_slot();
  void save_shared_slot();
  StackBounds bounds() const;

  Entry entry_ = nullptr;
  void* arg_ = nullptr;
  uint64_t id_;
  CoState state_ = CoState::Created;
  bool is_thread_main_ = false;
  char name_[16] = {};

  void* sp_ = nullptr;          // saved stack pointer while not running
  void* resumer_sp_ = nullptr;  // where yield() goes
  StackBounds resumer_bounds_;
  void* asan_fake_ = nullptr;

  Stack stack_;
  SharedStack* shared_ = nullptr;
  char* saved_ = nullptr;  // copy of the used part of a shared slot
  size_t saved_size_ = 0, saved_cap_ = 0;

  Parker parker_;
  void* user_ = nullptr;
  void (*user_free_)(void*) = nullptr;

  // Scheduler bookkeeping (touched only by the Scheduler).
  Scheduler* home_ = nullptr;
  Coroutine* next_ready_ = nullptr;
  Coroutine* next_inbox_ = nullptr;
  SpinLock join_lock_;
  bool exited_ = false;      // stack released, safe to delete
  bool detached_ = false;
  Parker* joiner_ = nullptr;
  Coroutine* all_prev_ = nullptr;  // the home scheduler's list of every coroutine
  Coroutine* all_next_ = nullptr;

  static void set_current(Coroutine* co);
};

}  // namespace cohook
