// The pthread synchronisation objects on the runtime: mutexes, condition
// variables, rwlocks, barriers and unnamed semaphores park the caller (a
// coroutine, or a plain thread through its futex parker) instead of blocking
// a carrier in a futex.
//
// The runtime objects (PosixMutex, PosixCond, RwLock, Barrier, Semaphore)
// are laid over the program's own pthread_*_t / sem_t storage; nothing is
// allocated. All-zero storage (PTHREAD_MUTEX_INITIALIZER, _COND_, _RWLOCK_)
// is a valid object of ours, and the fields glibc's static initializers set
// (the mutex __kind, the rwlock __flags) are read where glibc keeps them.
//
// What stays with glibc (every call goes to the next definition):
//  - mutexes glibc initialised as process-shared, robust or priority
//    inheriting/protecting: their __kind has one of glibc's bits 16 (robust),
//    32 (PI), 64 (PP), 128 (pshared); our kinds are 0..3;
//  - process-shared conds: glibc sets bit 0 of __wrefs, ours never do;
//  - process-shared rwlocks: glibc's __shared is non-zero, ours is 0;
//  - barriers and semaphores without our magic word (glibc's barrier
//    `shared` and sem `private` fields are 0 or 128 where we keep it):
//    process-shared ones, sem_open's named semaphores.
// Our *_init hands exactly those attributes to glibc's init, so an object is
// glibc's or ours for its whole life. These live in shared memory across
// fork (apache's accept mutex) and block their thread natively. One of our
// conds works with a glibc mutex (released and retaken through glibc); a
// glibc cond with one of our mutexes is refused (EINVAL).
//
// Absolute timeouts are converted to the monotonic clock when the call
// starts (abs_time.h): a realtime clock jump during the wait is not followed.
//
// COHOOK_DISABLE=1: every call goes to glibc. Before the shim's constructor
// has run (Starting) the runtime objects are used already: they work on
// plain threads, and an unlocked one looks like glibc's own.
#include <pthread.h>
#include <semaphore.h>
#include <dlfcn.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "abs_time.h"
#include "cancel.h"
#include "hook.h"
#include "posix_barrier.h"
#include "posix_cond.h"
#include "posix_mutex.h"
#include "posix_rwlock.h"
#include "posix_sem.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

// ---- glibc's definitions ---------------------------------------------------------------

#define COHOOK_SYNC_REALS(X)                                                                     \
  X(pthread_mutex_init) X(pthread_mutex_destroy) X(pthread_mutex_lock) X(pthread_mutex_trylock) \
  X(pthread_mutex_timedlock) X(pthread_mutex_clocklock) X(pthread_mutex_unlock)                 \
  X(pthread_mutex_consistent) X(pthread_cond_init) X(pthread_cond_destroy) X(pthread_cond_wait)  \
  X(pthread_cond_timedwait) X(pthread_cond_clockwait) X(pthread_cond_signal)                     \
  X(pthread_cond_broadcast) X(pthread_rwlock_init) X(pthread_rwlock_destroy)                     \
  X(pthread_rwlock_rdlock) X(pthread_rwlock_tryrdlock) X(pthread_rwlock_timedrdlock)             \
  X(pthread_rwlock_clockrdlock) X(pthread_rwlock_wrlock) X(pthread_rwlock_trywrlock)             \
  X(pthread_rwlock_timedwrlock) X(pthread_rwlock_clockwrlock) X(pthread_rwlock_unlock)           \
  X(pthread_barrier_init) X(pthread_barrier_destroy) X(pthread_barrier_wait) X(sem_init)         \
  X(sem_destroy) X(sem_wait) X(sem_trywait) X(sem_timedwait) X(sem_clockwait) X(sem_post)        \
  X(sem_getvalue)
#define COHOOK_SLOT(name) std::atomic<void*> slot_##name{nullptr};
COHOOK_SYNC_REALS(COHOOK_SLOT)
#undef COHOOK_SLOT

bool in_ourselves(void* p) {
  Dl_info me, it;
  return dladdr(reinterpret_cast<void*>(&in_ourselves), &me) && dladdr(p, &it) && me.dli_fbase == it.dli_fbase;
}

void* resolve(const char* name) {
  // pthread_cond_* exist twice in x86-64 glibc: GLIBC_2.2.5 (the old
  // condvar, for binaries of that time) and GLIBC_2.3.2, the default that
  // programs link against and whose layout we share. Ask for that one by
  // name; where there is no such version (aarch64: one version) take the
  // default.
  if (std::strncmp(name, "pthread_cond_", 13) == 0) {
    void* p = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
    if (p && !in_ourselves(p)) return p;
  }
  return real::lookup_symbol(name);
}

void* next_symbol(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_relaxed);
  if (__builtin_expect(!p, 0)) {
    p = resolve(name);
    slot.store(p, std::memory_order_relaxed);
  }
  return p;
}
#define GLIBC(name) (reinterpret_cast<decltype(&::name)>(next_symbol(slot_##name, #name)))

inline bool disabled() { return g_mode.load(std::memory_order_relaxed) == Mode::Disabled; }

// ---- which objects are ours ---------------------------------------------------------------

// glibc's __kind flag bits (nptl/pthreadP.h): robust, PI, PP, pshared.
constexpr int kGlibcMutexBits = 16 | 32 | 64 | 128;
constexpr int kGlibcCondShared = 1;  // __wrefs bit 0 (__PTHREAD_COND_SHARED_MASK)

static_assert(sizeof(pthread_mutex_t) >= sizeof(PosixMutex) && alignof(pthread_mutex_t) >= alignof(PosixMutex));
static_assert(offsetof(pthread_mutex_t, __data.__kind) == PosixMutex::kKindOffset);
static_assert(sizeof(pthread_cond_t) == sizeof(PosixCond) && alignof(pthread_cond_t) >= alignof(PosixCond));
static_assert(offsetof(pthread_cond_t, __data.__wrefs) == PosixCond::kFlagsOffset);
static_assert(sizeof(pthread_rwlock_t) == sizeof(RwLock) && alignof(pthread_rwlock_t) >= alignof(RwLock));
static_assert(offsetof(pthread_rwlock_t, __data.__shared) == RwLock::kSharedOffset);
static_assert(offsetof(pthread_rwlock_t, __data.__flags) == RwLock::kFlagsOffset);
static_assert(sizeof(pthread_barrier_t) == sizeof(Barrier) && alignof(pthread_barrier_t) >= alignof(Barrier));
static_assert(sizeof(sem_t) == sizeof(Semaphore) && alignof(sem_t) >= alignof(Semaphore));
#if defined(__x86_64__)
static_assert(sizeof(pthread_mutex_t) == 40);
#elif defined(__aarch64__)
static_assert(sizeof(pthread_mutex_t) == 48);
#endif

int load_int(const void* p) { return __atomic_load_n(static_cast<const int*>(p), __ATOMIC_RELAXED); }

PosixMutex* our_mutex(pthread_mutex_t* m) {
  if (load_int(&m->__data.__kind) & kGlibcMutexBits) return nullptr;
  return reinterpret_cast<PosixMutex*>(m);
}
PosixCond* our_cond(pthread_cond_t* c) {
  if (load_int(&c->__data.__wrefs) & kGlibcCondShared) return nullptr;
  return reinterpret_cast<PosixCond*>(c);
}
RwLock* our_rwlock(pthread_rwlock_t* rw) {
  if (load_int(&rw->__data.__shared) != 0) return nullptr;
  return reinterpret_cast<RwLock*>(rw);
}
Barrier* our_barrier(pthread_barrier_t* b) {
  return Barrier::is_ours(b) ? reinterpret_cast<Barrier*>(b) : nullptr;
}
Semaphore* our_sem(sem_t* s) { return Semaphore::is_ours(s) ? reinterpret_cast<Semaphore*>(s) : nullptr; }

int set_errno(int e) {
  if (!e) return 0;
  errno = e;
  return -1;
}

// A glibc mutex (robust, PI...) under one of our conds.
struct GlibcMutex {
  pthread_mutex_t* m;
  int release_for_wait(uint32_t&) { return GLIBC(pthread_mutex_unlock)(m); }
  int reacquire(uint32_t) {
    int r = GLIBC(pthread_mutex_lock)(m);
    return r == EOWNERDEAD || r == ENOTRECOVERABLE ? r : 0;  // as glibc's cond wait reports
  }
};

// The cancellation points: once before the wait (a request already
// pending), once after (one that ended the wait: Thread::cancel marks the
// waiter's Parker, which makes the wait return as a spurious wake-up with
// the mutex held again -- where POSIX wants it for the cleanup handlers).
// Stale interrupt marks are cleared first, so none that arrives in between
// is lost.
int cond_wait(PosixCond* c, pthread_mutex_t* m, Deadline deadline) {
  Parker::current()->begin_interruptible();
  cancellation_point();
  int r;
  if (PosixMutex* pm = our_mutex(m)) {
    r = c->wait_until(*pm, deadline);
  } else {
    GlibcMutex gm{m};
    r = c->wait_until(gm, deadline);
  }
  cancellation_point();
  return r;
}

// sem_wait: the same two points; a wait a cancellation request interrupted
// returns EINTR unless the second one acts.
int sem_wait_until(Semaphore* os, Deadline deadline) {
  Parker::current()->begin_interruptible();
  cancellation_point();
  if (os->try_wait()) return 0;
  int r = os->wait_until(deadline);
  if (r == EINTR) cancellation_point();
  return set_errno(r);
}

}  // namespace

// ---- mutex ---------------------------------------------------------------------------

COHOOK_HOOK int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* attr) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_init)(m, attr);
  int type = PTHREAD_MUTEX_NORMAL;
  if (attr) {
    int pshared = PTHREAD_PROCESS_PRIVATE, robust = PTHREAD_MUTEX_STALLED, protocol = PTHREAD_PRIO_NONE;
    pthread_mutexattr_getpshared(attr, &pshared);
    pthread_mutexattr_getrobust(attr, &robust);
    pthread_mutexattr_getprotocol(attr, &protocol);
    if (pshared != PTHREAD_PROCESS_PRIVATE || robust != PTHREAD_MUTEX_STALLED || protocol != PTHREAD_PRIO_NONE)
      return GLIBC(pthread_mutex_init)(m, attr);
    pthread_mutexattr_gettype(attr, &type);
  }
  std::memset(static_cast<void*>(m), 0, sizeof *m);
  PosixMutex::init_at(m, type & PosixMutex::kKindMask);
  return 0;
}

COHOOK_HOOK int pthread_mutex_destroy(pthread_mutex_t* m) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_destroy)(m);
  PosixMutex* pm = our_mutex(m);
  return pm ? pm->destroy() : GLIBC(pthread_mutex_destroy)(m);
}

COHOOK_HOOK int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_lock)(m);
  PosixMutex* pm = our_mutex(m);
  return pm ? pm->lock() : GLIBC(pthread_mutex_lock)(m);
}

COHOOK_HOOK int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_trylock)(m);
  PosixMutex* pm = our_mutex(m);
  return pm ? pm->try_lock() : GLIBC(pthread_mutex_trylock)(m);
}

namespace {
// glibc's order: the errorcheck owner's EDEADLK, then the lock if it is free
// (the time is not looked at), then EINVAL for a bad tv_nsec.
int mutex_timed(PosixMutex* pm, clockid_t clock, const timespec* abs) {
  if (pm->kind() == PosixMutex::kErrorCheck && pm->held_by_caller()) return EDEADLK;
  int r = pm->try_lock();
  if (r != EBUSY) return r;
  if (!valid_timespec_nsec(*abs)) return EINVAL;
  return pm->lock_until(deadline_from_abs(clock, *abs));
}
}  // namespace

COHOOK_HOOK int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_timedlock)(m, abs);
  PosixMutex* pm = our_mutex(m);
  return pm ? mutex_timed(pm, CLOCK_REALTIME, abs) : GLIBC(pthread_mutex_timedlock)(m, abs);
}

COHOOK_HOOK int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_clocklock)(m, clock, abs);
  PosixMutex* pm = our_mutex(m);
  if (!pm) return GLIBC(pthread_mutex_clocklock)(m, clock, abs);
  if (!supported_wait_clock(clock)) return EINVAL;
  return mutex_timed(pm, clock, abs);
}

COHOOK_HOOK int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  if (disabled()) return GLIBC(pthread_mutex_unlock)(m);
  PosixMutex* pm = our_mutex(m);
  return pm ? pm->unlock() : GLIBC(pthread_mutex_unlock)(m);
}

// Only robust mutexes (glibc's) can be inconsistent; for ours glibc's
// answer, EINVAL, is right and it only reads __kind.
COHOOK_HOOK int pthread_mutex_consistent(pthread_mutex_t* m) noexcept { return GLIBC(pthread_mutex_consistent)(m); }

// ---- condition variable ------------------------------------------------------------------

COHOOK_HOOK int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* attr) noexcept {
  if (disabled()) return GLIBC(pthread_cond_init)(c, attr);
  clockid_t clock = CLOCK_REALTIME;
  if (attr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_condattr_getpshared(attr, &pshared);
    if (pshared != PTHREAD_PROCESS_PRIVATE) return GLIBC(pthread_cond_init)(c, attr);
    pthread_condattr_getclock(attr, &clock);
  }
  PosixCond::init_at(c, clock);
  return 0;
}

COHOOK_HOOK int pthread_cond_destroy(pthread_cond_t* c) noexcept {
  if (disabled()) return GLIBC(pthread_cond_destroy)(c);
  PosixCond* pc = our_cond(c);
  return pc ? pc->destroy() : GLIBC(pthread_cond_destroy)(c);
}

namespace {
// A glibc (process-shared) cond works only with a glibc mutex: glibc's wait
// unlocks the mutex itself, and would corrupt ours. A process-shared cond
// with a process-private mutex (of no use across processes anyway) is
// refused with EINVAL.
bool mismatched(pthread_mutex_t* m) {
  if (!our_mutex(m)) return false;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    log(LogLevel::Warn, "pthread_cond_*wait: a process-shared cond with a process-private mutex: EINVAL");
  return true;
}
}  // namespace

COHOOK_HOOK int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  if (disabled()) return GLIBC(pthread_cond_wait)(c, m);
  PosixCond* pc = our_cond(c);
  if (!pc) return mismatched(m) ? EINVAL : GLIBC(pthread_cond_wait)(c, m);
  return cond_wait(pc, m, kForever);
}

COHOOK_HOOK int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  if (disabled()) return GLIBC(pthread_cond_timedwait)(c, m, abs);
  PosixCond* pc = our_cond(c);
  if (!pc) return mismatched(m) ? EINVAL : GLIBC(pthread_cond_timedwait)(c, m, abs);
  if (!valid_timespec_nsec(*abs)) return EINVAL;
  return cond_wait(pc, m, deadline_from_abs(pc->clock(), *abs));  // the clock of the condattr
}

COHOOK_HOOK int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                       const timespec* abs) {
  if (disabled()) return GLIBC(pthread_cond_clockwait)(c, m, clock, abs);
  PosixCond* pc = our_cond(c);
  if (!pc) return mismatched(m) ? EINVAL : GLIBC(pthread_cond_clockwait)(c, m, clock, abs);
  if (!valid_timespec_nsec(*abs) || !supported_wait_clock(clock)) return EINVAL;
  return cond_wait(pc, m, deadline_from_abs(clock, *abs));
}

COHOOK_HOOK int pthread_cond_signal(pthread_cond_t* c) noexcept {
  if (disabled()) return GLIBC(pthread_cond_signal)(c);
  PosixCond* pc = our_cond(c);
  if (!pc) return GLIBC(pthread_cond_signal)(c);
  pc->signal();
  return 0;
}

COHOOK_HOOK int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  if (disabled()) return GLIBC(pthread_cond_broadcast)(c);
  PosixCond* pc = our_cond(c);
  if (!pc) return GLIBC(pthread_cond_broadcast)(c);
  pc->broadcast();
  return 0;
}

// ---- rwlock ------------------------------------------------------------------------

COHOOK_HOOK int pthread_rwlock_init(pthread_rwlock_t* rw, const pthread_rwlockattr_t* attr) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_init)(rw, attr);
  int kind = PTHREAD_RWLOCK_DEFAULT_NP;
  if (attr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_rwlockattr_getpshared(attr, &pshared);
    if (pshared != PTHREAD_PROCESS_PRIVATE) return GLIBC(pthread_rwlock_init)(rw, attr);
    pthread_rwlockattr_getkind_np(attr, &kind);
  }
  RwLock::init_at(rw, uint32_t(kind));
  return 0;
}

COHOOK_HOOK int pthread_rwlock_destroy(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_destroy)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->destroy() : GLIBC(pthread_rwlock_destroy)(rw);
}

COHOOK_HOOK int pthread_rwlock_rdlock(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_rdlock)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->rdlock() : GLIBC(pthread_rwlock_rdlock)(rw);
}

COHOOK_HOOK int pthread_rwlock_tryrdlock(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_tryrdlock)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->try_rdlock() : GLIBC(pthread_rwlock_tryrdlock)(rw);
}

COHOOK_HOOK int pthread_rwlock_wrlock(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_wrlock)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->wrlock() : GLIBC(pthread_rwlock_wrlock)(rw);
}

COHOOK_HOOK int pthread_rwlock_trywrlock(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_trywrlock)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->try_wrlock() : GLIBC(pthread_rwlock_trywrlock)(rw);
}

namespace {
// glibc checks the clock and tv_nsec first, before even trying the lock.
int rwlock_timed(RwLock* l, bool writer, clockid_t clock, const timespec* abs) {
  if (!supported_wait_clock(clock) || !valid_timespec_nsec(*abs)) return EINVAL;
  Deadline d = deadline_from_abs(clock, *abs);
  return writer ? l->wrlock_until(d) : l->rdlock_until(d);
}
}  // namespace

COHOOK_HOOK int pthread_rwlock_timedrdlock(pthread_rwlock_t* rw, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_timedrdlock)(rw, abs);
  RwLock* l = our_rwlock(rw);
  return l ? rwlock_timed(l, false, CLOCK_REALTIME, abs) : GLIBC(pthread_rwlock_timedrdlock)(rw, abs);
}

COHOOK_HOOK int pthread_rwlock_clockrdlock(pthread_rwlock_t* rw, clockid_t clock, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_clockrdlock)(rw, clock, abs);
  RwLock* l = our_rwlock(rw);
  return l ? rwlock_timed(l, false, clock, abs) : GLIBC(pthread_rwlock_clockrdlock)(rw, clock, abs);
}

COHOOK_HOOK int pthread_rwlock_timedwrlock(pthread_rwlock_t* rw, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_timedwrlock)(rw, abs);
  RwLock* l = our_rwlock(rw);
  return l ? rwlock_timed(l, true, CLOCK_REALTIME, abs) : GLIBC(pthread_rwlock_timedwrlock)(rw, abs);
}

COHOOK_HOOK int pthread_rwlock_clockwrlock(pthread_rwlock_t* rw, clockid_t clock, const timespec* abs) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_clockwrlock)(rw, clock, abs);
  RwLock* l = our_rwlock(rw);
  return l ? rwlock_timed(l, true, clock, abs) : GLIBC(pthread_rwlock_clockwrlock)(rw, clock, abs);
}

COHOOK_HOOK int pthread_rwlock_unlock(pthread_rwlock_t* rw) noexcept {
  if (disabled()) return GLIBC(pthread_rwlock_unlock)(rw);
  RwLock* l = our_rwlock(rw);
  return l ? l->unlock() : GLIBC(pthread_rwlock_unlock)(rw);
}

// ---- barrier -----------------------------------------------------------------------

COHOOK_HOOK int pthread_barrier_init(pthread_barrier_t* b, const pthread_barrierattr_t* attr,
                                     unsigned count) noexcept {
  if (disabled()) return GLIBC(pthread_barrier_init)(b, attr, count);
  if (attr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_barrierattr_getpshared(attr, &pshared);
    // glibc's init overwrites our magic (its `shared` field) in any case.
    if (pshared != PTHREAD_PROCESS_PRIVATE) return GLIBC(pthread_barrier_init)(b, attr, count);
  }
  return Barrier::init_at(b, count);
}

COHOOK_HOOK int pthread_barrier_destroy(pthread_barrier_t* b) noexcept {
  if (disabled()) return GLIBC(pthread_barrier_destroy)(b);
  Barrier* ob = our_barrier(b);
  return ob ? ob->destroy() : GLIBC(pthread_barrier_destroy)(b);
}

COHOOK_HOOK int pthread_barrier_wait(pthread_barrier_t* b) noexcept {
  if (disabled()) return GLIBC(pthread_barrier_wait)(b);
  Barrier* ob = our_barrier(b);
  return ob ? ob->wait() : GLIBC(pthread_barrier_wait)(b);
}

// ---- unnamed semaphores -------------------------------------------------------------------
// These return -1 and set errno, as the sem_* functions do.

COHOOK_HOOK int sem_init(sem_t* s, int pshared, unsigned value) noexcept {
  if (disabled() || pshared) return GLIBC(sem_init)(s, pshared, value);  // glibc overwrites our magic
  return set_errno(Semaphore::init_at(s, value));
}

COHOOK_HOOK int sem_destroy(sem_t* s) noexcept {
  if (disabled()) return GLIBC(sem_destroy)(s);
  Semaphore* os = our_sem(s);
  if (!os) return GLIBC(sem_destroy)(s);
  os->destroy();
  return 0;
}

COHOOK_HOOK int sem_wait(sem_t* s) {
  if (disabled()) return GLIBC(sem_wait)(s);
  Semaphore* os = our_sem(s);
  if (!os) return GLIBC(sem_wait)(s);
  return sem_wait_until(os, kForever);
}

COHOOK_HOOK int sem_trywait(sem_t* s) noexcept {
  if (disabled()) return GLIBC(sem_trywait)(s);
  Semaphore* os = our_sem(s);
  if (!os) return GLIBC(sem_trywait)(s);
  return os->try_wait() ? 0 : set_errno(EAGAIN);
}

namespace {
// glibc: EINVAL for the time before anything else, then the cancellation
// point, then the value if there is one.
int sem_timed(Semaphore* os, clockid_t clock, const timespec* abs) {
  if (!valid_timespec_nsec(*abs)) return set_errno(EINVAL);
  return sem_wait_until(os, deadline_from_abs(clock, *abs));
}
}  // namespace

COHOOK_HOOK int sem_timedwait(sem_t* s, const timespec* abs) {
  if (disabled()) return GLIBC(sem_timedwait)(s, abs);
  Semaphore* os = our_sem(s);
  return os ? sem_timed(os, CLOCK_REALTIME, abs) : GLIBC(sem_timedwait)(s, abs);
}

COHOOK_HOOK int sem_clockwait(sem_t* s, clockid_t clock, const timespec* abs) {
  if (disabled()) return GLIBC(sem_clockwait)(s, clock, abs);
  Semaphore* os = our_sem(s);
  if (!os) return GLIBC(sem_clockwait)(s, clock, abs);
  if (!supported_wait_clock(clock)) return set_errno(EINVAL);
  return sem_timed(os, clock, abs);
}

COHOOK_HOOK int sem_post(sem_t* s) noexcept {
  if (disabled()) return GLIBC(sem_post)(s);
  Semaphore* os = our_sem(s);
  return os ? set_errno(os->post()) : GLIBC(sem_post)(s);
}

COHOOK_HOOK int sem_getvalue(sem_t* s, int* value) noexcept {
  if (disabled()) return GLIBC(sem_getvalue)(s, value);
  Semaphore* os = our_sem(s);
  if (!os) return GLIBC(sem_getvalue)(s, value);
  *value = os->value();
  return 0;
}
