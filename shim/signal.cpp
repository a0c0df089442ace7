// Signals: sigaction, signal, siginterrupt.
//
// Natively a signal handler that runs while a thread is blocked in a system
// call makes the call fail with EINTR, or restarts it when the handler was
// installed with SA_RESTART (signal(7)). Under the shim the thread is not in
// that system call: its carrier sleeps in epoll. So every handler the program
// installs is wrapped in a trampoline that first tells the runtime a handler
// is running (Scheduler::note_signal, async-signal-safe), then calls the
// program's handler with the same arguments. The runtime ends the carrier's
// interruptible wait with Interrupted or Restart, and the hook returns EINTR
// or carries on, as the native call would.
//
// The program sees its own handlers: sigaction(sig, NULL, &old) reports what
// it installed, not the trampoline. Handlers installed before libcohook's
// constructor are wrapped when it runs; handlers installed by raw syscalls or
// by libc internally (system()) are not: a signal they handle does not
// interrupt a parked call. __sigaction, glibc's exported internal name, is
// hooked like sigaction.
#include <signal.h>

#include <cstring>

#include "hook.h"
#include "overflow_guard.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

// The program's view of each signal's disposition, for signals whose
// handler we wrapped. Written under the lock, read by the trampoline.
struct Installed {
  bool wrapped = false;
  struct sigaction act;  // what the program asked for
};
Installed g_installed[_NSIG];
SpinLock g_lock;
thread_local volatile sig_atomic_t t_handled = 0;  // handlers run on this thread
// pthread_kill to a coroutine is sent to the main thread to run the handler;
// the coroutine's own wait was interrupted by pthread_kill already, so that
// delivery must not interrupt main's.
std::atomic<int> g_routed[_NSIG];

void trampoline(int sig, siginfo_t* info, void* uc) {
  int saved = errno;  // the program's handler sees errno as it was
  const struct sigaction& a = g_installed[sig].act;
  t_handled = t_handled + 1;
  int routed = g_routed[sig].load(std::memory_order_relaxed);
  if (routed > 0 && g_routed[sig].compare_exchange_strong(routed, routed - 1)) {
    // for a coroutine's wait, already interrupted
  } else {
    Scheduler::note_signal(a.sa_flags & SA_RESTART);
  }
  errno = saved;
  if (a.sa_flags & SA_RESETHAND) g_installed[sig].wrapped = false;  // the kernel reset it to SIG_DFL
  Scheduler::handler_enter();
  if (a.sa_flags & SA_SIGINFO) {
    if (a.sa_sigaction) a.sa_sigaction(sig, info, uc);
  } else if (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN) {
    a.sa_handler(sig);
  }
  Scheduler::handler_exit();  // (a handler that longjmps out skips this: see architecture.md)
}

}  // namespace

void cohook::shim::route_next_signal(int sig) {
  if (sig > 0 && sig < _NSIG && g_installed[sig].wrapped) g_routed[sig].fetch_add(1);
}

bool cohook::shim::signal_restarts(int sig) {
  return sig > 0 && sig < _NSIG && g_installed[sig].wrapped && (g_installed[sig].act.sa_flags & SA_RESTART);
}

namespace {

bool is_function(const struct sigaction* a) {
  if (a->sa_flags & SA_SIGINFO) return a->sa_sigaction != nullptr;
  return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

int do_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (!active() || sig <= 0 || sig >= _NSIG) return REAL(sigaction)(sig, act, old);
  // SIGSEGV/SIGBUS: the overflow guard stays in front; the program's handler
  // is what it passes other faults to.
  if ((sig == SIGSEGV || sig == SIGBUS) && overflow_guard_installed())
    return overflow_guard_replace_next(sig, act, old) ? 0 : (errno = EINVAL, -1);
  SpinGuard g(g_lock);
  struct sigaction prev_user = g_installed[sig].act;
  bool was_wrapped = g_installed[sig].wrapped;
  int r;
  if (act && is_function(act)) {
    struct sigaction k = *act;
    k.sa_sigaction = trampoline;
    k.sa_flags |= SA_SIGINFO;
    r = REAL(sigaction)(sig, &k, old);
    if (r == 0) {
      g_installed[sig].act = *act;
      g_installed[sig].wrapped = true;
    }
  } else {
    r = REAL(sigaction)(sig, act, old);
    if (r == 0 && act) g_installed[sig].wrapped = false;
  }
  if (r == 0 && old && was_wrapped) *old = prev_user;  // the program's own handler
  return r;
}

}  // namespace

namespace cohook::shim {
unsigned long signals_handled_on_this_thread() { return (unsigned long)t_handled; }

// At start-up: handlers that other libraries' constructors installed before
// ours ran get the trampoline too.
void wrap_existing_handlers() {
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS) continue;
    struct sigaction cur;
    if (REAL(sigaction)(sig, nullptr, &cur) != 0 || !is_function(&cur)) continue;
    do_sigaction(sig, &cur, nullptr);
  }
}
}  // namespace cohook::shim

COHOOK_HOOK int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return do_sigaction(sig, act, old);
}
// glibc exports its internal name too; a few programs call it.
COHOOK_HOOK int __sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return do_sigaction(sig, act, old);
}

namespace {
// The old single-call interfaces, as glibc defines them on top of sigaction
// (its own calls to sigaction are internal, so we must provide each one).
sighandler_t install(int sig, sighandler_t handler, int flags, bool block_self) {
  struct sigaction act, old;
  std::memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (block_self) sigaddset(&act.sa_mask, sig);
  if (do_sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
}  // namespace

// glibc's signal() is BSD signal: SA_RESTART, the signal blocked in its handler.
COHOOK_HOOK sighandler_t signal(int sig, sighandler_t handler) noexcept {
  return install(sig, handler, SA_RESTART, true);
}
COHOOK_HOOK sighandler_t bsd_signal(int sig, sighandler_t handler) noexcept {
  return install(sig, handler, SA_RESTART, true);
}
COHOOK_HOOK sighandler_t ssignal(int sig, sighandler_t handler) noexcept {
  return install(sig, handler, SA_RESTART, true);
}
// System V semantics: one-shot, not blocked in its handler, not restarting.
COHOOK_HOOK sighandler_t sysv_signal(int sig, sighandler_t handler) noexcept {
  return install(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}
// sigset: SIG_HOLD blocks the signal; anything else installs (no SA_RESTART)
// and unblocks it. Returns SIG_HOLD if it was blocked before.
COHOOK_HOOK sighandler_t sigset(int sig, sighandler_t handler) noexcept {
  sigset_t one, old_mask;
  sigemptyset(&one);
  sigaddset(&one, sig);
  struct sigaction old;
  if (do_sigaction(sig, nullptr, &old) != 0) return SIG_ERR;
  if (handler == SIG_HOLD) {
    if (sigprocmask(SIG_BLOCK, &one, &old_mask) != 0) return SIG_ERR;
    return sigismember(&old_mask, sig) ? SIG_HOLD : old.sa_handler;
  }
  sighandler_t prev = install(sig, handler, 0, false);
  if (prev == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &old_mask) != 0) return SIG_ERR;
  return sigismember(&old_mask, sig) ? SIG_HOLD : prev;
}

COHOOK_HOOK int siginterrupt(int sig, int flag) noexcept {
  struct sigaction act;
  if (do_sigaction(sig, nullptr, &act) != 0) return -1;
  if (flag) act.sa_flags &= ~SA_RESTART;
  else act.sa_flags |= SA_RESTART;
  return do_sigaction(sig, &act, nullptr);
}
