// Readiness waits over the program's own fds: poll, ppoll, select, pselect,
// epoll_wait, epoll_pwait, epoll_pwait2.
//
// The pattern is the same for all: sample the readiness epochs, ask the
// kernel with a zero timeout (so revents, the fd_sets and the epoll events
// are exactly what the kernel reports), and only if nothing is ready park
// until an event on one of the fds or the deadline. A program's own epoll
// instance is itself a pollable fd: we wait for it to become readable.
//
// A call that installs a signal mask for the wait (ppoll, pselect,
// epoll_pwait with a non-null mask) parks with the carrier's mask replaced
// for the duration (masked_wait.h).
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>

#include <memory>
#include <new>

#include "hook.h"
#include "masked_wait.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

Deadline ms_deadline(int timeout_ms) {
  if (timeout_ms < 0) return kForever;
  return deadline_after(int64_t(timeout_ms) * 1000000);
}

Deadline ts_deadline(const timespec* ts) {
  if (!ts) return kForever;
  return deadline_after(int64_t(ts->tv_sec) * 1000000000 + ts->tv_nsec);
}

// An event loop that finds events every time it looks never parks, so the
// other threads on its carrier would wait until its work runs out (natively
// the kernel time-slices them; memcached's workers under load showed 100 ms
// stalls). Every 64th wait that returns at once gives the carrier away once:
// a yield, and the dispatcher looks at epoll for the others.
void share_carrier() {
  static thread_local unsigned t_waits_without_park = 0;  // per carrier
  if (++t_waits_without_park < 64) return;
  t_waits_without_park = 0;
  if (Scheduler* s = Scheduler::current(); s && s->live() > 0) Scheduler::yield();
}

// poll(2) semantics over a pollfd array, parking between zero-timeout polls.
int park_poll(pollfd* fds, nfds_t n, Deadline deadline) {
  std::unique_ptr<FdInterest[]> set(new (std::nothrow) FdInterest[n ? n : 1]);
  Scheduler* carrier = Scheduler::ensure();
  if (!set || !carrier) {  // no memory or fds for a carrier: block natively
    note_native_block(n ? fds[0].fd : -1);
    return REAL(poll)(fds, n, deadline == kForever ? -1 : int((deadline - now_ns() + 999999) / 1000000));
  }
  Poller& poller = carrier->poller();
  std::unique_ptr<nfds_t[]> slot_of(new (std::nothrow) nfds_t[n ? n : 1]);  // set index -> fds index
  if (!slot_of) return REAL(poll)(fds, n, deadline == kForever ? -1 : 0);
  bool parked = false;
  for (;;) {
    size_t k = 0;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].fd < 0) continue;
      slot_of[k] = i;
      FdInterest& x = set[k++];
      x.fd = fds[i].fd;
      // Hang-ups and errors are always reported: wait for reads at least.
      x.write = fds[i].events & (POLLOUT | POLLWRNORM | POLLWRBAND);
      x.read = !x.write || (fds[i].events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP));
      x.read_epoch = fd_epoch(x.fd, IoDir::Read);
      x.write_epoch = fd_epoch(x.fd, IoDir::Write);
    }
    int r = REAL(poll)(fds, n, 0);
    if (r > 0 && !parked) share_carrier();
    if (r != 0) return r;
    if (now_ns() >= deadline) return 0;
    if (!parked) count_park(ParkReason::Poll);
    parked = true;
    size_t closed = 0;
    WaitResult w = wait_any(poller, set.get(), k, deadline, &closed);
    if (w == WaitResult::TimedOut) return REAL(poll)(fds, n, 0);
    if (w == WaitResult::Closed) {
      // Another thread closed an fd of the set while we waited. Its number
      // may already name a new file: report the one we watched as not open
      // (what poll says for it now) instead of asking the kernel about the
      // number again.
      for (nfds_t i = 0; i < n; ++i) fds[i].revents = 0;
      fds[slot_of[closed]].revents = POLLNVAL;
      return 1;
    }
    if (w == WaitResult::Interrupted || w == WaitResult::Restart) {  // never restarted
      errno = EINTR;
      return -1;
    }
  }
}

int do_poll(pollfd* fds, nfds_t n, int timeout_ms) {
  if (timeout_ms == 0 || !can_park()) return REAL(poll)(fds, n, timeout_ms);
  return park_poll(fds, n, ms_deadline(timeout_ms));
}

int do_ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  if ((ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !can_park()) return REAL(ppoll)(fds, n, ts, mask);
  if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) return REAL(ppoll)(fds, n, ts, mask);
  Deadline d = ts_deadline(ts);
  if (!mask) return park_poll(fds, n, d);
  int r;
  if (with_mask(mask, r, [&] { return park_poll(fds, n, d); })) return r;
  return REAL(ppoll)(fds, n, ts, mask);
}

// select(2) on top of park_poll: fd_sets in, fd_sets out, the same count.
int park_select(int nfds, fd_set* r, fd_set* w, fd_set* e, Deadline deadline) {
  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  pollfd p[FD_SETSIZE];
  nfds_t n = 0;
  for (int fd = 0; fd < nfds; ++fd) {
    short ev = 0;
    if (r && FD_ISSET(fd, r)) ev |= POLLIN;
    if (w && FD_ISSET(fd, w)) ev |= POLLOUT;
    if (e && FD_ISSET(fd, e)) ev |= POLLPRI;
    if (ev) p[n++] = pollfd{fd, ev, 0};
  }
  int k = park_poll(p, n, deadline);
  if (k < 0) return k;
  for (nfds_t i = 0; i < n; ++i)
    if (p[i].revents & POLLNVAL) {
      errno = EBADF;  // select reports a closed fd in the set as EBADF
      return -1;
    }
  if (r) FD_ZERO(r);
  if (w) FD_ZERO(w);
  if (e) FD_ZERO(e);
  int count = 0;
  for (nfds_t i = 0; i < n; ++i) {
    short re = p[i].revents;
    // The kernel's select maps POLLHUP/POLLERR to readable and writable.
    if (r && (p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
      FD_SET(p[i].fd, r);
      ++count;
    }
    if (w && (p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR))) {
      FD_SET(p[i].fd, w);
      ++count;
    }
    if (e && (p[i].events & POLLPRI) && (re & POLLPRI)) {
      FD_SET(p[i].fd, e);
      ++count;
    }
  }
  return count;
}

int park_epoll(int epfd, epoll_event* ev, int max, Deadline deadline) {
  Scheduler* carrier = Scheduler::ensure();
  if (!carrier) {
    note_native_block(epfd);
    return REAL(epoll_wait)(epfd, ev, max, deadline == kForever ? -1 : int((deadline - now_ns() + 999999) / 1000000));
  }
  Poller& poller = carrier->poller();
  bool parked = false;
  for (;;) {
    uint64_t epoch = fd_epoch(epfd, IoDir::Read);
    int r = REAL(epoll_wait)(epfd, ev, max, 0);
    if (r > 0 && !parked) share_carrier();
    if (r != 0) return r;
    if (now_ns() >= deadline) return 0;
    if (!parked) count_park(ParkReason::Poll);
    parked = true;
    WaitResult w = wait_fd(poller, epfd, IoDir::Read, epoch, deadline);
    if (w == WaitResult::TimedOut) return REAL(epoll_wait)(epfd, ev, max, 0);
    if (w == WaitResult::Closed) {
      errno = EBADF;
      return -1;
    }
    if (w == WaitResult::Interrupted || w == WaitResult::Restart) {  // never restarted
      errno = EINTR;
      return -1;
    }
  }
}

bool epoll_args_ok(int max) { return max > 0; }



}  // namespace

COHOOK_HOOK int poll(pollfd* fds, nfds_t n, int timeout) noexcept { return do_poll(fds, n, timeout); }

COHOOK_HOOK int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) noexcept {
  return do_ppoll(fds, n, ts, mask);
}

COHOOK_HOOK int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) noexcept {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return do_poll(fds, n, timeout);
}

COHOOK_HOOK int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask,
                            size_t fdslen) noexcept {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return do_ppoll(fds, n, ts, mask);
}

COHOOK_HOOK int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* tv) noexcept {
  if (!can_park() || (tv && tv->tv_sec == 0 && tv->tv_usec == 0)) return REAL(select)(nfds, r, w, e, tv);
  if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) return REAL(select)(nfds, r, w, e, tv);  // EINVAL
  Deadline d = tv ? deadline_after(int64_t(tv->tv_sec) * 1000000000 + int64_t(tv->tv_usec) * 1000) : kForever;
  int k = park_select(nfds, r, w, e, d);
  if (tv && k >= 0) {  // Linux select() writes back the time not slept
    Nanos left = std::max<Nanos>(0, d - now_ns());
    tv->tv_sec = left / 1000000000;
    tv->tv_usec = (left % 1000000000) / 1000;
  }
  return k;
}

COHOOK_HOOK int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* ts,
                        const sigset_t* mask) noexcept {
  if (!can_park() || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) ||
      (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)))
    return REAL(pselect)(nfds, r, w, e, ts, mask);
  Deadline d = ts_deadline(ts);  // glibc leaves *ts unchanged
  if (!mask) return park_select(nfds, r, w, e, d);
  int k;
  if (with_mask(mask, k, [&] { return park_select(nfds, r, w, e, d); })) return k;
  return REAL(pselect)(nfds, r, w, e, ts, mask);
}

COHOOK_HOOK int epoll_wait(int epfd, epoll_event* ev, int max, int timeout) noexcept {
  if (timeout == 0 || !epoll_args_ok(max) || !can_park()) return REAL(epoll_wait)(epfd, ev, max, timeout);
  return park_epoll(epfd, ev, max, ms_deadline(timeout));
}

COHOOK_HOOK int epoll_pwait(int epfd, epoll_event* ev, int max, int timeout, const sigset_t* mask) noexcept {
  if (timeout == 0 || !epoll_args_ok(max) || !can_park()) return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
  Deadline d = ms_deadline(timeout);
  if (!mask) return park_epoll(epfd, ev, max, d);
  int r;
  if (with_mask(mask, r, [&] { return park_epoll(epfd, ev, max, d); })) return r;
  return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
}

COHOOK_HOOK int epoll_pwait2(int epfd, epoll_event* ev, int max, const timespec* ts, const sigset_t* mask) noexcept {
  if (!REAL(epoll_pwait2)) {
    errno = ENOSYS;
    return -1;
  }
  if ((ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !epoll_args_ok(max) || !can_park() ||
      (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)))
    return REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
  Deadline d = ts_deadline(ts);
  if (!mask) return park_epoll(epfd, ev, max, d);
  int r;
  if (with_mask(mask, r, [&] { return park_epoll(epfd, ev, max, d); })) return r;
  return REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
}
