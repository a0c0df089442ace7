// blocking_io: how a blocking call is made of non-blocking attempts.
//
// This is the runtime half of "what happens when a legacy server calls
// read()"; the shim half (shim/io.cpp, shim/socket.cpp) only translates libc's
// arguments into an attempt and back.
//
//   1. sample the fd's readiness epoch for the direction;
//   2. unless the fd is known drained at exactly that epoch, make one
//      non-blocking attempt (recv with MSG_DONTWAIT, preadv2 RWF_NOWAIT...);
//      anything but EAGAIN is the answer;
//   3. park until an edge-triggered event moves the epoch, the deadline passes
//      (-> EAGAIN, what SO_RCVTIMEO gives natively) or the fd is closed by
//      another thread (-> EBADF, see docs/architecture.md); go to 1.
//
// The "drained" hint is what keeps the request/response hot path free of
// wasted syscalls: a short read from a TCP socket means its buffer is now
// empty (the shim offers the hint for TCP only), so the next read goes straight to the wait instead of making a read
// that fails with EAGAIN -- the same bookkeeping a hand-written epoll server
// does. The hint is keyed by epoch, so any event since makes it stale, and it
// is ignored once the fd reported a hang-up (EOF can follow the last data
// within one edge -- nginx's pending_eof).
#pragma once
#include <sys/types.h>

#include <cerrno>
#include <cstdint>

#include "poller.h"
#include "scheduler.h"
#include "thread.h"

namespace cohook {

struct BlockingCall {
  int fd;
  IoDir dir;
  Deadline deadline = kForever;
  // Optional per-fd hint slot: epoch + 1 at which the fd was seen drained.
  std::atomic<uint64_t>* drained = nullptr;
  // With `drained`: a result in [0, short_below) counts as a short transfer.
  size_t short_below = 0;
  // May a signal handler installed with SA_RESTART restart this call? (No
  // for sockets with SO_RCVTIMEO/SO_SNDTIMEO, as signal(7) says.)
  bool restartable = true;
};

// What stopped the wait, for callers that must tell timeouts apart.
struct BlockingOutcome {
  WaitResult last = WaitResult::Ready;
  unsigned waits = 0;   // how many times it parked
  unsigned wasted = 0;  // attempts that failed with EAGAIN (the syscalls the
                        // drained hint exists to avoid)
  IoDir dir = IoDir::Read;  // what it waited for (the park's reason)
};

// attempt(): one non-blocking try, returning >= 0 or -1 with errno set.
// fallback(): the native blocking call, for fds epoll refuses.
template <class Attempt, class Fallback>
ssize_t run_blocking(const BlockingCall& c, Attempt&& attempt, Fallback&& fallback,
                     BlockingOutcome* out = nullptr) {
  const int caller_errno = errno;  // a call that succeeds leaves errno alone,
                                   // whatever EAGAIN the attempts before saw
  for (;;) {
    uint64_t epoch = fd_epoch(c.fd, c.dir);
    bool skip = c.drained && !(epoch & kEpochFinal) && c.drained->load(std::memory_order_relaxed) == epoch + 1;
    if (!skip) {
      ssize_t r = attempt();
      if (r >= 0) {
        if (c.drained && size_t(r) < c.short_below) c.drained->store(epoch + 1, std::memory_order_relaxed);
        errno = caller_errno;
        return r;
      }
      if (errno != EAGAIN) return r;
      if (out) out->wasted++;
      if (c.drained) c.drained->store(epoch + 1, std::memory_order_relaxed);
    }
    Thread::test_cancel();  // a blocking call is a cancellation point
    Scheduler* s = Scheduler::ensure();  // a carrier is made on the first wait only
    WaitResult w = s ? wait_fd(s->poller(), c.fd, c.dir, epoch, c.deadline) : WaitResult::NotPollable;
    if (out) {
      out->last = w;
      out->waits++;
      out->dir = c.dir;
    }
    switch (w) {
      case WaitResult::Ready:
        continue;
      case WaitResult::TimedOut:
        errno = EAGAIN;
        return -1;
      case WaitResult::Closed:
        errno = EBADF;
        return -1;
      case WaitResult::NotPollable:
        return fallback();
      case WaitResult::Restart:
        if (c.restartable) continue;
        [[fallthrough]];
      case WaitResult::Interrupted:
        Thread::test_cancel();  // pthread_cancel interrupts the wait
        errno = EINTR;
        return -1;
    }
  }
}

}  // namespace cohook
