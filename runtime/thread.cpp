#include "thread.h"

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "sync.h"

namespace cohook {

namespace {
enum : int { kJoinable = 0, kDetached = 1, kJoining = 2 };

std::atomic<size_t> g_live{0};
Mutex g_live_mu;
CondVar g_live_cv;

void thread_ended() {
  if (g_live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    g_live_mu.lock();
    g_live_cv.notify_all();
    g_live_mu.unlock();
  }
}

// The words glibc's pthread_cleanup_push macro leaves in its buffer
// (__pthread_unwind_buf_t): the jmp_buf first, then priv.data.prev.
struct CleanupBuf {
  struct {
    __jmp_buf jmp;
    int mask_was_saved;
  } jb[1];
  void* prev;
  void* pad[3];
};

// A catch (...) that swallows the unwinding and returns: glibc aborts with
// this message too ("FATAL: exception not rethrown").
void exception_not_rethrown(_Unwind_Reason_Code, _Unwind_Exception*) {
  static const char msg[] = "cohook: FATAL: thread exit unwinding was caught and not rethrown\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  std::abort();
}

void init_exception(_Unwind_Exception& e) {
  std::memset(&e, 0, sizeof e);
  e.exception_class = 0x474e5543464f5200ULL;  // "GNUCFOR\0": forced unwind
  e.exception_cleanup = &exception_not_rethrown;
}

void (*g_main_rites)() = nullptr;

// Called for every frame while a thread's stack is unwound for exit.
_Unwind_Reason_Code exit_stop(int, _Unwind_Action actions, _Unwind_Exception_Class, _Unwind_Exception*,
                              _Unwind_Context* ctx, void* param) {
  auto* t = static_cast<Thread*>(param);
  bool end = actions & _UA_END_OF_STACK;
  if (t && t->cleanup_top) {
    // A C cleanup buffer lives in a frame we are about to leave: jump into
    // the pthread_cleanup_push code, which runs the handler and calls
    // __pthread_unwind_next (Thread::continue_unwind).
    auto* buf = static_cast<CleanupBuf*>(t->cleanup_top);
    if (end || reinterpret_cast<uintptr_t>(buf) < _Unwind_GetCFA(ctx)) {
      t->cleanup_top = buf->prev;
      longjmp(reinterpret_cast<__jmp_buf_tag*>(buf->jb), 1);
    }
  }
  if (end) {
    if (t) t->finish_exit();
    g_main_rites();
  }
  return _URC_NO_REASON;
}
}  // namespace

// ---- thread-specific data -------------------------------------------------------

class ThreadSpecific {
 public:
  static constexpr unsigned kBlock = 32;
  struct Value {
    uint64_t seq;
    void* value;
  };
  Value* blocks[PTHREAD_KEYS_MAX / kBlock] = {};
  ~ThreadSpecific() {
    for (Value* b : blocks) std::free(b);
  }
};

namespace {
struct Key {
  std::atomic<uint64_t> seq{0};  // odd while the key exists
  std::atomic<void (*)(void*)> dtor{nullptr};
};
Key g_keys[PTHREAD_KEYS_MAX];

// OS threads (main, native threads) keep theirs here; destructors run when
// the thread exits, as glibc runs its own.
struct OsSpecific {
  ThreadSpecific* tsd = nullptr;
  ~OsSpecific() {
    if (tsd) tsd::run_destructors();
  }
};
thread_local OsSpecific t_os;

ThreadSpecific*& context_tsd() {
  if (Thread* t = Thread::current()) return t->specific();
  return t_os.tsd;
}
}  // namespace

namespace tsd {

int key_create(unsigned* key, void (*dtor)(void*)) {
  for (unsigned k = 0; k < PTHREAD_KEYS_MAX; ++k) {
    uint64_t s = g_keys[k].seq.load(std::memory_order_relaxed);
    if (s & 1) continue;
    g_keys[k].dtor.store(dtor, std::memory_order_relaxed);
    if (g_keys[k].seq.compare_exchange_strong(s, s + 1, std::memory_order_acq_rel)) {
      *key = k;
      return 0;
    }
  }
  return EAGAIN;
}

int key_delete(unsigned key) {
  if (key >= PTHREAD_KEYS_MAX) return EINVAL;
  uint64_t s = g_keys[key].seq.load(std::memory_order_relaxed);
  // Values stay where they are; the new sequence number hides them.
  if (!(s & 1) || !g_keys[key].seq.compare_exchange_strong(s, s + 1)) return EINVAL;
  return 0;
}

void* get(unsigned key) {
  if (key >= PTHREAD_KEYS_MAX) return nullptr;
  ThreadSpecific* t = context_tsd();
  if (!t) return nullptr;
  ThreadSpecific::Value* b = t->blocks[key / ThreadSpecific::kBlock];
  if (!b) return nullptr;
  const auto& v = b[key % ThreadSpecific::kBlock];
  return v.seq == g_keys[key].seq.load(std::memory_order_relaxed) ? v.value : nullptr;
}

int set(unsigned key, const void* value) {
  if (key >= PTHREAD_KEYS_MAX) return EINVAL;
  uint64_t s = g_keys[key].seq.load(std::memory_order_relaxed);
  if (!(s & 1)) return EINVAL;
  ThreadSpecific*& t = context_tsd();
  if (!t && !(t = new (std::nothrow) ThreadSpecific)) return ENOMEM;
  ThreadSpecific::Value*& b = t->blocks[key / ThreadSpecific::kBlock];
  if (!b && !(b = static_cast<ThreadSpecific::Value*>(std::calloc(ThreadSpecific::kBlock, sizeof *b)))) return ENOMEM;
  b[key % ThreadSpecific::kBlock] = {s, const_cast<void*>(value)};
  return 0;
}

void run_destructors() {
  ThreadSpecific*& t = context_tsd();
  for (int round = 0; t && round < PTHREAD_DESTRUCTOR_ITERATIONS; ++round) {
    bool any = false;
    for (unsigned k = 0; k < PTHREAD_KEYS_MAX; ++k) {
      ThreadSpecific::Value* b = t->blocks[k / ThreadSpecific::kBlock];
      if (!b) {
        k += ThreadSpecific::kBlock - 1;
        continue;
      }
      auto& v = b[k % ThreadSpecific::kBlock];
      if (!v.value || v.seq != g_keys[k].seq.load(std::memory_order_relaxed)) continue;
      auto dtor = g_keys[k].dtor.load(std::memory_order_relaxed);
      if (!dtor) continue;
      void* value = v.value;
      v.value = nullptr;
      dtor(value);
      any = true;
    }
    if (!any) break;
  }
  // Detach first: free() may itself ask for TSD (ASan's, jemalloc's do).
  ThreadSpecific* done = t;
  t = nullptr;
  delete done;
}

}  // namespace tsd

// ---- threads --------------------------------------------------------------------

Thread* Thread::current() {
  Coroutine* co = Coroutine::current();
  return co ? static_cast<Thread*>(co->user()) : nullptr;
}

Scheduler* Thread::home() const { return co_ ? co_->home() : nullptr; }

Thread::~Thread() {
  magic_ = 0;
  self_ = nullptr;
  delete tsd_;
}

void Thread::free_record(void* self) { delete static_cast<Thread*>(self); }

int Thread::create(Scheduler* where, Start fn, void* arg, size_t stack_size, bool detached, const char* name,
                   uintptr_t* handle) {
  auto* t = new (std::nothrow) Thread;
  if (!t) return EAGAIN;
  t->start_ = fn;
  t->arg_ = arg;
  if (detached) t->join_state_.store(kDetached, std::memory_order_relaxed);
  init_exception(t->exc_);
  Scheduler::SpawnOptions o;
  o.stack_size = stack_size;
  o.detached = detached;
  o.publish = &t->co_;
  o.user = t;
  o.user_free = &Thread::free_record;
  o.name = name;
  *handle = t->handle();  // natively the handle is stored before the thread runs
  g_live.fetch_add(1, std::memory_order_relaxed);
  if (!where->spawn(&Thread::entry, t, o)) {
    g_live.fetch_sub(1, std::memory_order_relaxed);
    delete t;
    return EAGAIN;
  }
  return 0;
}

void Thread::entry(void* self) {
  auto* t = static_cast<Thread*>(self);
  t->retval_ = t->start_(t->arg_);
  tsd::run_destructors();
  thread_ended();
  // After fork() a child's only thread is the adopted context: returning
  // from its start routine is the last thread exiting.
  if (Coroutine::current()->is_thread_main()) std::exit(0);
}

void Thread::finish_exit() {
  tsd::run_destructors();
  thread_ended();
  if (Coroutine::current()->is_thread_main()) std::exit(0);
  Coroutine::exit_current();
}

void Thread::unwind() {
  init_exception(exc_);
  _Unwind_ForcedUnwind(&exc_, &exit_stop, this);
  // Unwinding could not run to the end (a frame without unwind information):
  // end the thread without the remaining cleanups.
  finish_exit();
}

void Thread::exit(void* ret, void (*last_rites)()) {
  if (Thread* t = current()) {
    t->retval_ = ret;
    t->cancel_enabled = false;  // a cleanup handler's wait must not cancel again
    t->unwind();
  }
  // A thread's own stack (the main thread): unwind to its first frame.
  g_main_rites = last_rites;
  static _Unwind_Exception e;
  init_exception(e);
  _Unwind_ForcedUnwind(&e, &exit_stop, nullptr);
  last_rites();
  std::abort();
}

int Thread::join(void** ret, Deadline deadline, bool try_only) {
  if (current() == this) return EDEADLK;
  int expected = kJoinable;
  if (!join_state_.compare_exchange_strong(expected, kJoining)) return EINVAL;
  bool done = try_only ? Scheduler::has_exited(co_) : Scheduler::wait_exit(co_, deadline, &cancel_requested);
  if (!done) {
    join_state_.store(kJoinable);
    test_cancel();  // a joiner cancelled while it waited leaves the target joinable
    return try_only ? EBUSY : ETIMEDOUT;
  }
  if (ret) *ret = retval_;
  Scheduler::destroy(co_);  // frees this record too
  return 0;
}

int Thread::detach() {
  int expected = kJoinable;
  if (join_state_.compare_exchange_strong(expected, kDetached)) {
    Scheduler::detach(co_);  // frees both now if it already finished
    return 0;
  }
  return expected == kDetached ? EINVAL : 0;  // being joined: glibc leaves it joinable
}

size_t Thread::live() { return g_live.load(std::memory_order_acquire); }

void Thread::wait_until_none_live() {
  g_live_mu.lock();
  while (g_live.load(std::memory_order_acquire) > 0) g_live_cv.wait(g_live_mu);
  g_live_mu.unlock();
}

void Thread::reset_after_fork(bool caller_is_thread) {
  g_live.store(caller_is_thread ? 1 : 0);
  new (&g_live_mu) Mutex;  // another carrier may have held them at the fork
  new (&g_live_cv) CondVar;
}

int Thread::cancel() {
  cancel_.store(true, std::memory_order_release);
  interrupt_wait(false);  // it acts on the request where it waits
  return 0;
}

void Thread::interrupt_wait(bool restartable) {
  if (co_ && !Scheduler::has_exited(co_)) {
    co_->parker().mark_interrupted(restartable);
    co_->parker().unpark();
  }
}

void Thread::push_cleanup(void* buf) {
  static_cast<CleanupBuf*>(buf)->prev = cleanup_top;
  cleanup_top = buf;
}

void Thread::pop_cleanup(void* buf) { cleanup_top = static_cast<CleanupBuf*>(buf)->prev; }

bool Thread::cancel_requested() {
  Thread* t = current();
  return t && t->cancel_enabled && t->cancel_pending();
}

void Thread::test_cancel() {
  Thread* t = current();
  if (t && t->cancel_enabled && t->cancel_pending()) exit(PTHREAD_CANCELED, nullptr);
}

}  // namespace cohook
