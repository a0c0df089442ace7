// Completion waits of asynchronous I/O, as they reach libc's syscall():
//
//  - io_getevents / io_pgetevents (Linux AIO). Debian's libaio (0.3.113)
//    enters the kernel through libc's syscall(), so its io_getevents() comes
//    here without an io_getevents hook of our own (which would also have to
//    tell its LIBAIO_0.1 and LIBAIO_0.4 versions apart). An AIO context has
//    no fd to park on: what is already complete is reaped at once, and a
//    wait for more runs on the offload pool (the context belongs to the
//    process, so any thread may reap it) while the caller parks.
//  - io_uring_enter with IORING_ENTER_GETEVENTS: submit first, then wait.
//    The ring fd polls readable while a completion is queued, so a wait for
//    one parks on it and stays on the caller's own thread. How many are
//    queued only the ring's memory tells (the kernel's answer to a zero
//    timeout is "success" as soon as the ring is non-empty), so a wait for
//    several runs on the offload pool.
//    liburing (2.3, Debian 12) makes its system calls with an inline
//    `syscall` instruction: io_uring_wait_cqe() & co. never reach this file
//    and block their carrier (docs/compatibility.md).
#include "aio.h"

#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include <poll.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "hook.h"
#include "offloaded.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

using syscall_t = long (*)(long, ...);
syscall_t real_syscall() {
  static auto f = next<syscall_t>("syscall");
  return f;
}

// io_pgetevents' last argument (struct __aio_sigset, not in every header).
struct AioSigset {
  const sigset_t* mask;
  size_t size;
};

// A sigmask for io_pgetevents, by value (the caller's may be on a copy stack).
struct MaskCopy {
  bool given = false;
  AioSigset set{};
  sigset_t mask{};
  bool copy(const AioSigset* from) {
    if (!from) return true;
    given = true;
    set = *from;
    if (set.mask) {
      if (set.size > sizeof mask) return false;  // let the kernel say EINVAL
      std::memcpy(&mask, set.mask, set.size);
    }
    return true;
  }
};

long getevents(long number, const long* a) {
  auto ctx = aio_context_t(a[0]);
  long min_nr = a[1], nr = a[2];
  auto* events = reinterpret_cast<io_event*>(a[3]);
  auto* ts = reinterpret_cast<const timespec*>(a[4]);
  auto* sig = number == SYS_io_pgetevents ? reinterpret_cast<const AioSigset*>(a[5]) : nullptr;
  auto native = [&] { return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]); };
  if (min_nr <= 0 || nr < min_nr || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !may_offload())
    return native();
  // What is complete already, without waiting.
  timespec zero{};
  long got = real_syscall()(number, a[0], 0L, nr, a[3], long(&zero), a[5]);
  if (got < 0 || got >= min_nr) return got;
  MaskCopy m;
  if (!m.copy(sig)) return native();
  bool timed = ts != nullptr;
  timespec t = timed ? *ts : timespec{};
  long want_min = min_nr - got, want = nr - got;
  io_event* into = events + got;
  io_event* heap = nullptr;
  if (on_copy_stack(into, sizeof(io_event) * size_t(want))) {
    heap = static_cast<io_event*>(malloc(sizeof(io_event) * size_t(want)));
    if (!heap) return native();
  }
  io_event* target = heap ? heap : into;
  long r = offloaded([=]() mutable {
    AioSigset s = m.set;
    if (s.mask) s.mask = &m.mask;
    return real_syscall()(number, long(ctx), want_min, want, long(target), timed ? long(&t) : 0L,
                          m.given ? long(&s) : 0L);
  });
  int e = errno;
  if (heap) {
    if (r > 0) std::memcpy(into, heap, sizeof(io_event) * size_t(r));
    free(heap);
  }
  errno = e;
  if (r < 0) return got > 0 ? got : r;  // what was reaped is returned, as natively
  return got + r;
}

long uring_enter(const long* a) {
  int fd = int(a[0]);
  auto to_submit = unsigned(a[1]), min_complete = unsigned(a[2]), flags = unsigned(a[3]);
  auto enter = [=](unsigned submit, unsigned f) {
    return real_syscall()(SYS_io_uring_enter, fd, long(submit), long(min_complete), long(f), a[4], a[5]);
  };
  // A program's own EXT_ARG (timeout, sigmask) or a registered ring index:
  // left to the kernel.
  if (!(flags & IORING_ENTER_GETEVENTS) || min_complete == 0 ||
      (flags & (IORING_ENTER_EXT_ARG | IORING_ENTER_REGISTERED_RING)))
    return enter(to_submit, flags);
  FdInfo* fi = parkable(fd);
  if (!fi) return enter(to_submit, flags);
  long submitted = 0;
  if (to_submit) {
    submitted = enter(to_submit, flags & ~IORING_ENTER_GETEVENTS);
    // The kernel waits only once everything was submitted.
    if (submitted < 0 || unsigned(submitted) != to_submit) return submitted;
  }
  flags &= ~IORING_ENTER_SQ_WAKEUP;
  long r;
  if (min_complete == 1) {
    // The ring fd polls readable while a completion is queued: park on it,
    // then enter, which finds one and returns at once.
    BlockingCall c{fd, IoDir::Read};
    c.restartable = false;  // an interrupted io_uring_enter says EINTR
    BlockingOutcome out;
    r = run_blocking(
        c,
        [&]() -> ssize_t {
          // min_complete 0 never waits: it makes the kernel's checks (not
          // a ring: EOPNOTSUPP) and runs deferred completion work.
          long x = real_syscall()(SYS_io_uring_enter, fd, 0L, 0L, long(flags), a[4], a[5]);
          if (x < 0) return x;
          pollfd p{fd, POLLIN, 0};
          if (REAL(poll)(&p, 1, 0) == 0) return errno = EAGAIN, -1;
          return enter(0, flags);
        },
        [&]() -> ssize_t {
          note_native_block(fd);
          return enter(0, flags);
        },
        &out);
    count_outcome(out);
  } else if (may_offload()) {
    // Readiness says "at least one", not how many: a wait for several runs
    // on the offload pool. Rings that only their own thread may wait on
    // (IORING_SETUP_DEFER_TASKRUN) refuse it: then the wait is made here.
    r = offloaded([=] { return enter(0, flags); });
    if (r < 0 && errno == EEXIST) {
      note_native_block(fd);
      r = enter(0, flags);
    }
  } else {
    r = enter(0, flags);
  }
  if (r < 0) return submitted ? submitted : -1;
  return submitted;
}

}  // namespace

bool cohook::shim::is_completion_wait(long number) {
  return number == SYS_io_getevents || number == SYS_io_pgetevents || number == SYS_io_uring_enter;
}

long cohook::shim::completion_wait(long number, const long* a) {
  if (!can_park()) return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  return number == SYS_io_uring_enter ? uring_enter(a) : getevents(number, a);
}
