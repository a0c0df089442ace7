// Thread: what a program's pthread is under the shim -- a coroutine plus the
// state POSIX gives a thread: start routine and result, detach state,
// thread-specific data (keys), name, cancellation, cleanup buffers.
//
// The pthread_t the program sees is the Thread's address. Real pthread_t
// values (the main thread, carriers, threads made natively) stay libc's; a
// handle is recognised as ours by two words at its start (magic, self).
//
// Ending a thread (pthread_exit, cancellation) unwinds its stack the way
// glibc does: _Unwind_ForcedUnwind runs C++ destructors and pthread_cleanup
// handlers (the C ones through their jmp_buf, as glibc's unwinder does) up to
// the coroutine's first frame, whose CFI ends the stack; then TSD destructors
// run and the coroutine finishes.
#pragma once
#include <unwind.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "clock.h"
#include "scheduler.h"

namespace cohook {

class ThreadSpecific;

class Thread {
 public:
  using Start = void* (*)(void*);
  static constexpr uint64_t kMagic = 0x6b6f6f686f6374ULL;

  // The running coroutine's Thread, or nullptr (a thread's own stack).
  static Thread* current();
  // The Thread behind a pthread_t value, or nullptr if it is libc's.
  static Thread* from_handle(uintptr_t h) {
    auto* t = reinterpret_cast<Thread*>(h);
    return t && t->magic_ == kMagic && t->self_ == t ? t : nullptr;
  }
  uintptr_t handle() const { return reinterpret_cast<uintptr_t>(this); }

  // Start fn(arg) as a coroutine on `where`; *handle is set before it can
  // run (natively too). 0 or EAGAIN.
  static int create(Scheduler* where, Start fn, void* arg, size_t stack_size, bool detached, const char* name,
                    uintptr_t* handle);

  // pthread_join / tryjoin (deadline 0) / timedjoin. 0, EBUSY, ETIMEDOUT,
  // EINVAL (detached, or someone else joins), EDEADLK (self).
  int join(void** ret, Deadline deadline, bool try_only);
  int detach();  // 0 or EINVAL
  bool detached() const { return join_state_.load(std::memory_order_relaxed) == 1; }

  // pthread_exit from the calling context. For a Thread: unwind, TSD
  // destructors, finish. For a thread's own main context: unwind, then
  // `last_rites` (the shim: wait for the other threads, exit(0)).
  [[noreturn]] static void exit(void* ret, void (*last_rites)());

  // Threads created and not yet finished, process-wide; and a wait for 0.
  static size_t live();
  static void wait_until_none_live();
  // Child after fork: the only thread left is the caller (counted if it is
  // one of ours).
  static void reset_after_fork(bool caller_is_thread);

  Coroutine* coroutine() const { return co_; }
  // What pthread_create was given to run (the stall watchdog names it).
  Start start_routine() const { return start_; }
  Scheduler* home() const;
  ThreadSpecific*& specific() { return tsd_; }

  // Cancellation (deferred only). request: 0 or ESRCH.
  int cancel();
  bool cancel_enabled = true;
  bool cancel_async = false;  // recorded; acted on at cancellation points only
  bool cancel_pending() const { return cancel_.load(std::memory_order_acquire); }
  // At a cancellation point: exit with PTHREAD_CANCELED if asked and enabled.
  static void test_cancel();
  // Would test_cancel() exit? (For waits that must tidy up first.)
  static bool cancel_requested();

  // A signal for this thread (pthread_kill): a wait it is parked in ends
  // as a system call would (EINTR, or restart when `restartable`).
  void interrupt_wait(bool restartable);

  // C pthread_cleanup_push buffers (glibc's __pthread_unwind_buf_t), newest
  // first, linked through the buffer's own `prev` word.
  void push_cleanup(void* buf);
  void pop_cleanup(void* buf);
  void* cleanup_top = nullptr;
  [[noreturn]] void continue_unwind() { unwind(); }  // __pthread_unwind_next
  // The end of an exit: TSD destructors, then the coroutine finishes.
  [[noreturn]] void finish_exit();

  ~Thread();

 private:
  Thread() = default;
  static void entry(void* self);
  static void free_record(void* self);
  [[noreturn]] void unwind();

  uint64_t magic_ = kMagic;
  Thread* self_ = this;
  Coroutine* co_ = nullptr;
  Start start_ = nullptr;
  void* arg_ = nullptr;
  void* retval_ = nullptr;
  std::atomic<int> join_state_{0};  // kJoinable, kDetached, kJoining
  std::atomic<bool> cancel_{false};
  ThreadSpecific* tsd_ = nullptr;
  void (*last_rites_)() = nullptr;
  _Unwind_Exception exc_{};
};

// Thread-specific data: pthread_key_* for coroutines and OS threads alike
// (glibc keeps TSD per OS thread, which coroutines on one carrier share).
namespace tsd {
int key_create(unsigned* key, void (*dtor)(void*));
int key_delete(unsigned key);
void* get(unsigned key);
int set(unsigned key, const void* value);
// Run destructors of the calling context's values (thread exit), as POSIX
// says: repeated up to PTHREAD_DESTRUCTOR_ITERATIONS rounds.
void run_destructors();
}  // namespace tsd

}  // namespace cohook
