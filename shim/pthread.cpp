// pthread on the runtime: with COHOOK_THREADS=coroutine (the default),
// pthread_create makes a coroutine (a cohook::Thread) on one of the carriers
// instead of a kernel thread, and every pthread call that takes a pthread_t
// or acts on "the calling thread" is answered for it here. Real pthread_t
// values (the main thread, threads libc made before us or natively) still go
// to libc. The synchronisation objects are in pthread_sync.cpp.
//
// Decisions (docs/architecture.md, "Threads"):
//  - pthread_exit and cancellation unwind the coroutine's stack as glibc
//    unwinds a thread's (C++ destructors, pthread_cleanup handlers), then run
//    TSD destructors.
//  - Cancellation is deferred only: it acts at a blocking call (read, accept,
//    sleep, cond wait, join...) or pthread_testcancel. PTHREAD_CANCEL_ASYNCHRONOUS
//    is recorded and treated as deferred.
//  - pthread_kill(coroutine, sig): the handler runs on the main thread
//    (carrier 0, where process signals go); a blocking call the target is
//    parked in ends with EINTR (or restarts under SA_RESTART), as natively.
//  - Affinity, scheduling parameters and the CPU-time clock of a coroutine
//    are its carrier's.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/single_threaded.h>

#include <cstring>

#include "carrier_set.h"
#include "hook.h"
#include "native_thread_exit.h"
#include "native_threads.h"
#include "sync.h"
#include "thread.h"

using namespace cohook;
using namespace cohook::shim;

// glibc's C cleanup-buffer entry points; <pthread.h> declares them only for
// C (C++ with exceptions uses a class instead).
extern "C" {
void __pthread_register_cancel(void* buf);
void __pthread_unregister_cancel(void* buf);
[[noreturn]] void __pthread_unwind_next(void* buf);
}

namespace {

// The next definitions, resolved on first use.
#define COHOOK_PTHREAD_REALS(X)                                                                   \
  X(pthread_create) X(pthread_join) X(pthread_tryjoin_np) X(pthread_timedjoin_np)                 \
  X(pthread_clockjoin_np) X(pthread_detach) X(pthread_exit) X(pthread_self) X(sched_yield)        \
  X(pthread_getattr_np) X(pthread_setname_np) X(pthread_getname_np) X(pthread_once)               \
  X(pthread_cancel) X(pthread_testcancel) X(pthread_setcancelstate) X(pthread_setcanceltype)      \
  X(pthread_kill) X(pthread_setaffinity_np) X(pthread_getaffinity_np) X(pthread_getschedparam)    \
  X(pthread_setschedparam) X(pthread_setschedprio) X(pthread_getcpuclockid)                      \
  X(__pthread_register_cancel) X(__pthread_unregister_cancel) X(__pthread_unwind_next)
#define COHOOK_SLOT(name) std::atomic<void*> slot_##name{nullptr};
COHOOK_PTHREAD_REALS(COHOOK_SLOT)
#undef COHOOK_SLOT

void* next_symbol(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_relaxed);
  if (!p) {
    p = real::lookup_symbol(name);
    slot.store(p, std::memory_order_relaxed);
  }
  return p;
}
#define NEXT(name) (reinterpret_cast<decltype(&::name)>(next_symbol(slot_##name, #name)))

bool threads_are_coroutines() { return active() && g_config.threads == ThreadMode::Coroutine; }

// Where a new thread goes: the carrier set, once the caller has one itself
// when it is the main thread (carrier 0).
Scheduler* place() {
  if (is_main_thread() && !carrier()) return nullptr;
  return carriers().pick();
}

// A stack size the program set in the attr: honoured above COHOOK_STACK_SIZE,
// up to COHOOK_STACK_MAX. 0 = the pool's default.
size_t stack_size_for(const pthread_attr_t* attr) {
  if (!attr) return 0;
  size_t want = 0;
  if (pthread_attr_getstacksize(attr, &want) != 0) return 0;
  static const size_t libc_default = [] {
    pthread_attr_t d;
    size_t sz = 0;
    if (pthread_getattr_default_np(&d) == 0) {
      pthread_attr_getstacksize(&d, &sz);
      pthread_attr_destroy(&d);
    }
    return sz;
  }();
  if (want == libc_default || want <= g_config.stack_size) return 0;
  return want < g_config.stack_max ? want : g_config.stack_max;
}

bool valid_timespec(const timespec* ts) { return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000; }

// Absolute time on `clock` as a runtime deadline (a later clock jump is not
// followed).
Deadline deadline_on(clockid_t clock, const timespec* ts) {
  timespec now;
  clock_gettime(clock, &now);
  int64_t delta = (int64_t(ts->tv_sec) - now.tv_sec) * 1000000000 + (ts->tv_nsec - now.tv_nsec);
  return deadline_after(delta < 0 ? 0 : delta);
}

// The name a new thread starts with: its creator's, as natively. An OS
// thread's own name costs a read of /proc/self/task/TID/comm, so it is kept
// per OS thread until a pthread_setname_np on any OS thread.
thread_local char t_os_name[16];
thread_local uint64_t t_os_name_gen = 0;  // 0: not read yet
std::atomic<uint64_t> g_os_name_gen{1};

void creator_name(char out[16]) {
  const char* from;
  if (Thread* t = Thread::current()) {
    from = t->coroutine()->name();
  } else {
    uint64_t gen = g_os_name_gen.load(std::memory_order_acquire);
    if (t_os_name_gen != gen) {
      t_os_name[0] = 0;
      NEXT(pthread_getname_np)(NEXT(pthread_self)(), t_os_name, sizeof t_os_name);
      t_os_name_gen = gen;
    }
    from = t_os_name;
  }
  size_t len = strnlen(from, 15);
  std::memcpy(out, from, len);
  out[len] = 0;
}

// pthread_exit in the main thread: the process lives on until its last
// thread ends, then exits with status 0 (POSIX).
void main_thread_last_rites() {
  tsd::run_destructors();
  Thread::wait_until_none_live();
  std::exit(0);
}

Mutex g_once_mu;
CondVar g_once_cv;

// A join of an OS thread kept native by COHOOK_NATIVE_THREADS, from a
// context that parks (a coroutine, a carrier's main thread): park until its
// start routine is done or the deadline passes. Done: glibc's blocking join,
// which then waits only for the thread's last steps (TLS destructors, exit);
// not done (a deadline, tryjoin): glibc's own call `real` gives the result.
// Other handles go straight to `real`.
template <class RealJoin>
int join_os_thread(pthread_t th, void** ret, Deadline deadline, RealJoin real) {
  native_exit::Record* r = can_park() && th != NEXT(pthread_self)() ? native_exit::find(th) : nullptr;
  if (!r) return real();
  bool done = deadline != 0 && native_exit::wait_done(r, deadline);  // 0: tryjoin
  if (!done && Thread::cancel_requested()) {
    native_exit::release(r);
    Thread::test_cancel();  // the target stays joinable, as natively
  }
  int rc = done ? NEXT(pthread_join)(th, ret) : real();
  if (rc == 0) native_exit::forget(r);
  native_exit::release(r);
  return rc;
}

}  // namespace

// ---- creation and ending --------------------------------------------------------

COHOOK_HOOK int pthread_create(pthread_t* out, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) noexcept {
  if (!threads_are_coroutines()) return NEXT(pthread_create)(out, attr, fn, arg);
  if (native_threads_selected()) {
    char why[256];
    if (stays_native(fn, arg, __builtin_return_address(0), why, sizeof why)) {
      char name[16];
      creator_name(name);
      return native_exit::create(NEXT(pthread_create), out, attr, fn, arg, Thread::current() ? name : nullptr, why);
    }
  }
  Scheduler* where = place();
  if (!where) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) log(LogLevel::Warn, "no carrier available: pthread_create makes OS threads");
    return NEXT(pthread_create)(out, attr, fn, arg);
  }
  // glibc clears this in its pthread_create; libstdc++ reads it to skip
  // atomics and hand-offs "nobody else could see" (std::stop_token's
  // callback semaphore, shared_ptr counts). The program has threads now.
  __libc_single_threaded = 0;
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr) pthread_attr_getdetachstate(attr, &detach);
  char name[16];
  creator_name(name);
  g_stats.threads_created.fetch_add(1, std::memory_order_relaxed);
  return Thread::create(where, fn, arg, stack_size_for(attr), detach == PTHREAD_CREATE_DETACHED, name, out);
}

COHOOK_HOOK void pthread_exit(void* ret) {
  if (Thread::current()) Thread::exit(ret, nullptr);
  if (threads_are_coroutines() && is_main_thread()) Thread::exit(ret, &main_thread_last_rites);
  NEXT(pthread_exit)(ret);
  __builtin_unreachable();
}

COHOOK_HOOK int pthread_join(pthread_t th, void** ret) {
  Thread* t = Thread::from_handle(th);
  if (!t) {
    Thread::test_cancel();
    return join_os_thread(th, ret, kForever, [&] { return NEXT(pthread_join)(th, ret); });
  }
  Thread::test_cancel();
  return t->join(ret, kForever, false);
}

COHOOK_HOOK int pthread_tryjoin_np(pthread_t th, void** ret) noexcept {
  Thread* t = Thread::from_handle(th);
  if (!t) return join_os_thread(th, ret, 0, [&] { return NEXT(pthread_tryjoin_np)(th, ret); });
  return t->join(ret, 0, true);
}

COHOOK_HOOK int pthread_clockjoin_np(pthread_t th, void** ret, clockid_t clock, const timespec* abstime) {
  Thread* t = Thread::from_handle(th);
  if (!t) {
    if (abstime && valid_timespec(abstime) && (clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC)) {
      Thread::test_cancel();
      return join_os_thread(th, ret, deadline_on(clock, abstime),
                            [&] { return NEXT(pthread_clockjoin_np)(th, ret, clock, abstime); });
    }
    return NEXT(pthread_clockjoin_np)(th, ret, clock, abstime);
  }
  if (abstime && (!valid_timespec(abstime) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)))
    return EINVAL;
  Thread::test_cancel();
  return t->join(ret, abstime ? deadline_on(clock, abstime) : kForever, false);
}

COHOOK_HOOK int pthread_timedjoin_np(pthread_t th, void** ret, const timespec* abstime) {
  if (!Thread::from_handle(th)) {
    if (abstime && valid_timespec(abstime)) {
      Thread::test_cancel();
      return join_os_thread(th, ret, deadline_on(CLOCK_REALTIME, abstime),
                            [&] { return NEXT(pthread_timedjoin_np)(th, ret, abstime); });
    }
    return NEXT(pthread_timedjoin_np)(th, ret, abstime);
  }
  return pthread_clockjoin_np(th, ret, CLOCK_REALTIME, abstime);
}

COHOOK_HOOK int pthread_detach(pthread_t th) noexcept {
  if (Thread* t = Thread::from_handle(th)) return t->detach();
  native_exit::Record* r = native_exit::find(th);
  int rc = NEXT(pthread_detach)(th);
  if (r) {
    if (rc == 0) native_exit::forget(r);
    native_exit::release(r);
  }
  return rc;
}

// ---- identity -------------------------------------------------------------------

COHOOK_HOOK pthread_t pthread_self() noexcept {
  if (Thread* t = Thread::current()) return t->handle();
  return NEXT(pthread_self)();
}

COHOOK_HOOK int sched_yield() noexcept {
  Scheduler* s = Scheduler::current();
  Coroutine* co = Coroutine::current();
  if (active() && s && co && co->home() == s && !Scheduler::is_dispatcher(co)) {
    Scheduler::yield();
    return 0;
  }
  return NEXT(sched_yield)();
}

// Old binaries call pthread_yield; newer headers redirect it to sched_yield.
extern "C" __attribute__((visibility("default"))) int cohook_pthread_yield() noexcept __asm__("pthread_yield");
int cohook_pthread_yield() noexcept { return sched_yield(); }

COHOOK_HOOK int pthread_getattr_np(pthread_t th, pthread_attr_t* attr) noexcept {
  Thread* t = Thread::from_handle(th);
  if (!t) return NEXT(pthread_getattr_np)(th, attr);
  int r = pthread_attr_init(attr);
  if (r) return r;
  // The coroutine's own stack (a shared-stack slot while it runs there).
  const Stack& st = t->coroutine()->stack();
  pthread_attr_setstack(attr, st.limit(), st.usable());
  pthread_attr_setguardsize(attr, st.guard);
  if (t->detached()) pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
  return 0;
}

COHOOK_HOOK int pthread_setname_np(pthread_t th, const char* name) noexcept {
  Thread* t = Thread::from_handle(th);
  if (!t) {
    int r = NEXT(pthread_setname_np)(th, name);
    g_os_name_gen.fetch_add(1, std::memory_order_acq_rel);
    return r;
  }
  if (std::strlen(name) > 15) return ERANGE;
  t->coroutine()->set_name(name);
  return 0;
}

COHOOK_HOOK int pthread_getname_np(pthread_t th, char* buf, size_t len) noexcept {
  Thread* t = Thread::from_handle(th);
  if (!t) return NEXT(pthread_getname_np)(th, buf, len);
  size_t n = std::strlen(t->coroutine()->name());
  if (len < n + 1) return ERANGE;
  std::memcpy(buf, t->coroutine()->name(), n + 1);
  return 0;
}

// ---- thread-specific data and once ------------------------------------------------
// Keys are always the runtime's, in every mode: a key made before the shim
// knew its mode must stay valid afterwards.

COHOOK_HOOK int pthread_key_create(pthread_key_t* key, void (*dtor)(void*)) noexcept {
  return tsd::key_create(key, dtor);
}
COHOOK_HOOK int pthread_key_delete(pthread_key_t key) noexcept { return tsd::key_delete(key); }
COHOOK_HOOK void* pthread_getspecific(pthread_key_t key) noexcept { return tsd::get(key); }
// glibc declares `value` access(none); gcc then warns about passing it on.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
COHOOK_HOOK int pthread_setspecific(pthread_key_t key, const void* value) noexcept { return tsd::set(key, value); }
#pragma GCC diagnostic pop

// glibc's states: 0 not run, bit 0 running, 2 done -- compatible with a
// once_control libc itself completed.
COHOOK_HOOK int pthread_once(pthread_once_t* once, void (*init)()) {
  if (g_mode.load(std::memory_order_relaxed) == Mode::Disabled) return NEXT(pthread_once)(once, init);
  if (__atomic_load_n(once, __ATOMIC_ACQUIRE) == 2) return 0;
  g_once_mu.lock();
  for (;;) {
    int v = __atomic_load_n(once, __ATOMIC_ACQUIRE);
    if (v == 2) break;
    if (v == 0) {
      __atomic_store_n(once, 1, __ATOMIC_RELAXED);
      g_once_mu.unlock();
      // If init throws or the thread is cancelled, the next caller runs it.
      struct Reset {
        pthread_once_t* once;
        bool done = false;
        ~Reset() {
          g_once_mu.lock();
          __atomic_store_n(once, done ? 2 : 0, __ATOMIC_RELEASE);
          g_once_cv.notify_all();
          g_once_mu.unlock();
        }
      } reset{once};
      init();
      reset.done = true;
      return 0;
    }
    g_once_cv.wait(g_once_mu);
  }
  g_once_mu.unlock();
  return 0;
}

// ---- cancellation -------------------------------------------------------------------

COHOOK_HOOK int pthread_cancel(pthread_t th) noexcept {
  Thread* t = Thread::from_handle(th);
  return t ? t->cancel() : NEXT(pthread_cancel)(th);
}

COHOOK_HOOK void pthread_testcancel() {
  if (Thread::current()) Thread::test_cancel();
  else NEXT(pthread_testcancel)();
}

COHOOK_HOOK int pthread_setcancelstate(int state, int* old) noexcept {
  Thread* t = Thread::current();
  if (!t) return NEXT(pthread_setcancelstate)(state, old);
  if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE) return EINVAL;
  if (old) *old = t->cancel_enabled ? PTHREAD_CANCEL_ENABLE : PTHREAD_CANCEL_DISABLE;
  t->cancel_enabled = state == PTHREAD_CANCEL_ENABLE;
  return 0;
}

COHOOK_HOOK int pthread_setcanceltype(int type, int* old) noexcept {
  Thread* t = Thread::current();
  if (!t) return NEXT(pthread_setcanceltype)(type, old);
  if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS) return EINVAL;
  if (old) *old = t->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
  t->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
  return 0;
}

// C pthread_cleanup_push/pop: the buffer chain is the coroutine's own.
COHOOK_HOOK void __pthread_register_cancel(void* buf) {
  Thread* t = Thread::current();
  if (!t) return NEXT(__pthread_register_cancel)(buf);
  t->push_cleanup(buf);
}

COHOOK_HOOK void __pthread_unregister_cancel(void* buf) {
  Thread* t = Thread::current();
  if (!t) return NEXT(__pthread_unregister_cancel)(buf);
  t->pop_cleanup(buf);
}

COHOOK_HOOK void __pthread_unwind_next(void* buf) {
  if (Thread* t = Thread::current()) t->continue_unwind();
  NEXT(__pthread_unwind_next)(buf);
  __builtin_unreachable();
}

// ---- signals and the carrier's own properties ----------------------------------------

COHOOK_HOOK int pthread_kill(pthread_t th, int sig) noexcept {
  Thread* t = Thread::from_handle(th);
  if (!t) return NEXT(pthread_kill)(th, sig);
  if (sig < 0 || sig >= NSIG) return EINVAL;
  if (sig == 0) return 0;  // it exists (joinable or running)
  t->interrupt_wait(signal_restarts(sig));
  route_next_signal(sig);
  return NEXT(pthread_kill)(main_thread_handle(), sig);
}

COHOOK_HOOK int pthread_setaffinity_np(pthread_t th, size_t n, const cpu_set_t* set) noexcept {
  return NEXT(pthread_setaffinity_np)(os_thread_of(th), n, set);
}
COHOOK_HOOK int pthread_getaffinity_np(pthread_t th, size_t n, cpu_set_t* set) noexcept {
  return NEXT(pthread_getaffinity_np)(os_thread_of(th), n, set);
}
COHOOK_HOOK int pthread_getschedparam(pthread_t th, int* policy, sched_param* p) noexcept {
  return NEXT(pthread_getschedparam)(os_thread_of(th), policy, p);
}
COHOOK_HOOK int pthread_setschedparam(pthread_t th, int policy, const sched_param* p) noexcept {
  return NEXT(pthread_setschedparam)(os_thread_of(th), policy, p);
}
COHOOK_HOOK int pthread_setschedprio(pthread_t th, int prio) noexcept {
  return NEXT(pthread_setschedprio)(os_thread_of(th), prio);
}
COHOOK_HOOK int pthread_getcpuclockid(pthread_t th, clockid_t* clock) noexcept {
  return NEXT(pthread_getcpuclockid)(os_thread_of(th), clock);
}
