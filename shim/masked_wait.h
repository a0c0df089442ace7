// with_mask: run a parking wait under a signal mask, as ppoll, pselect,
// epoll_pwait and sigsuspend install one atomically for their wait.
#pragma once
#include <pthread.h>
#include <signal.h>

#include "hook.h"

namespace cohook::shim {

// Runs wait() with the thread's signal mask set to `mask`, as ppoll/pselect/
// epoll_pwait do atomically. The race those calls exist to close -- a signal
// made deliverable by the new mask arrives before the wait starts -- is
// closed by counting handlers: one that ran as the mask opened ends the call
// with EINTR at once. The mask is the carrier's while the caller waits, so
// other coroutines of that carrier run under it meanwhile, and a signal it
// lets through interrupts this wait (Scheduler::claim_signal_target).
// Returns false (nothing done) when another coroutine of the carrier is in
// such a wait already: the caller then blocks natively.
template <class Wait>
inline bool with_mask(const sigset_t* mask, int& result, Wait wait) {
  Scheduler* s = Scheduler::ensure();
  Coroutine* me = Coroutine::current();
  if (!s || !me || !s->claim_signal_target(me)) return false;
  unsigned long seen = signals_handled_on_this_thread();
  sigset_t old;
  if (pthread_sigmask(SIG_SETMASK, mask, &old) != 0) {
    s->release_signal_target();
    return false;
  }
  if (signals_handled_on_this_thread() != seen) {
    result = -1;
    errno = EINTR;
  } else {
    result = wait();
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  s->release_signal_target();
  errno = e;
  return true;
}

}  // namespace cohook::shim
