// Signal waits: pause, sigsuspend, sigwait, sigwaitinfo, sigtimedwait.
//
// Many daemons' main thread spends its life in one of these while worker
// threads serve. Under the shim the workers may share its carrier, so these
// park instead of blocking it.
//  - pause and sigsuspend wait for a handler to run: the caller becomes its
//    carrier's signal target (Scheduler::claim_signal_target) and parks in an
//    interruptible wait; a handler the signal runs ends it with EINTR.
//    sigsuspend's mask is the carrier's for the wait (masked_wait.h). pause
//    parks only on the main thread's carrier, where process signals arrive
//    (other carriers block them); elsewhere it blocks natively.
//  - sigwait & co. consume a pending signal of the set: they wait on a
//    signalfd for the set (which reads the process's pending signals as
//    sigwait would) and read one signal from it.
#include <signal.h>
#include <sys/signalfd.h>

#include <cstring>

#include "hook.h"
#include "masked_wait.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

using pause_t = int (*)();
using sigsuspend_t = int (*)(const sigset_t*);
using sigwait_t = int (*)(const sigset_t*, int*);
using sigwaitinfo_t = int (*)(const sigset_t*, siginfo_t*);
using sigtimedwait_t = int (*)(const sigset_t*, siginfo_t*, const timespec*);

using real::next;

// Park until a signal handler interrupts this wait. Always -1 EINTR.
int park_until_handler() {
  Parker* me = Parker::current();
  me->begin_interruptible();
  while (me->take_interrupt() == Parker::Interrupt::None) {
    Thread::test_cancel();
    me->park();
  }
  errno = EINTR;
  return -1;
}

bool on_main_carrier() {
  Scheduler* s = Scheduler::current();
  return s && s == carriers().first();
}

void to_siginfo(const signalfd_siginfo& s, siginfo_t* info) {
  std::memset(info, 0, sizeof *info);
  info->si_signo = int(s.ssi_signo);
  info->si_errno = s.ssi_errno;
  info->si_code = s.ssi_code;
  info->si_pid = pid_t(s.ssi_pid);
  info->si_uid = uid_t(s.ssi_uid);
  info->si_status = s.ssi_status;
  info->si_value.sival_ptr = reinterpret_cast<void*>(s.ssi_ptr);
  info->si_value.sival_int = s.ssi_int;
}

// sigtimedwait on a signalfd: the signal number, or -1 with errno (EAGAIN at
// the deadline, EINTR when a handler for another signal ran). `handled` is
// false when the wait cannot park here (the caller falls back to libc).
int signalfd_wait(const sigset_t* set, siginfo_t* info, Deadline deadline, bool& handled) {
  handled = false;
  Scheduler* s = Scheduler::ensure();
  if (!s || !can_park()) return -1;
  Thread::test_cancel();  // before the fd exists: cancellation unwinds past us
  int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return -1;
  fd = move_to_reserved_fd_band(fd);  // not the program's: keep it out of its way
  Poller::own(fd, true);
  handled = true;
  Parker::current()->begin_interruptible();
  int result;
  for (;;) {
    uint64_t epoch = fd_epoch(fd, IoDir::Read);
    signalfd_siginfo si;
    ssize_t n = REAL(read)(fd, &si, sizeof si);
    if (n == ssize_t(sizeof si)) {
      if (info) to_siginfo(si, info);
      result = int(si.ssi_signo);
      break;
    }
    WaitResult w = wait_fd(s->poller(), fd, IoDir::Read, epoch, deadline);
    if (w == WaitResult::TimedOut) {
      errno = EAGAIN;
      result = -1;
      break;
    }
    if (w == WaitResult::Interrupted || w == WaitResult::Restart) {
      errno = EINTR;
      result = -1;
      break;
    }
  }
  int e = errno;
  forget_fd(fd);
  Poller::own(fd, false);
  REAL(close)(fd);
  errno = e;
  return result;
}

}  // namespace

COHOOK_HOOK int pause() noexcept {
  static auto real_pause = next<pause_t>("pause");
  Scheduler* s = Scheduler::current();
  Coroutine* me = Coroutine::current();
  if (!can_park() || !on_main_carrier() || !me || !s->claim_signal_target(me)) return real_pause();
  int r = park_until_handler();
  s->release_signal_target();
  return r;
}

COHOOK_HOOK int sigsuspend(const sigset_t* mask) noexcept {
  static auto real_sigsuspend = next<sigsuspend_t>("sigsuspend");
  int r;
  if (can_park() && with_mask(mask, r, [] { return park_until_handler(); })) return r;
  return real_sigsuspend(mask);
}

COHOOK_HOOK int sigtimedwait(const sigset_t* set, siginfo_t* info, const timespec* ts) noexcept {
  static auto real_sigtimedwait = next<sigtimedwait_t>("sigtimedwait");
  if (!can_park() || (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000 || ts->tv_sec < 0)))
    return real_sigtimedwait(set, info, ts);
  Deadline d = ts ? deadline_after(int64_t(ts->tv_sec) * 1000000000 + ts->tv_nsec) : kForever;
  bool handled;
  int r = signalfd_wait(set, info, d, handled);
  return handled ? r : real_sigtimedwait(set, info, ts);
}

COHOOK_HOOK int sigwaitinfo(const sigset_t* set, siginfo_t* info) noexcept {
  static auto real_sigwaitinfo = next<sigwaitinfo_t>("sigwaitinfo");
  if (!can_park()) return real_sigwaitinfo(set, info);
  bool handled;
  int r = signalfd_wait(set, info, kForever, handled);
  return handled ? r : real_sigwaitinfo(set, info);
}

// sigwait returns an error number; glibc's restarts after a handler ran.
COHOOK_HOOK int sigwait(const sigset_t* set, int* sig) noexcept {
  static auto real_sigwait = next<sigwait_t>("sigwait");
  if (!can_park()) return real_sigwait(set, sig);
  for (;;) {
    bool handled;
    int r = signalfd_wait(set, nullptr, kForever, handled);
    if (!handled) return real_sigwait(set, sig);
    if (r > 0) {
      *sig = r;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}
