// Stack-overflow reporting: a SIGSEGV/SIGBUS handler, running on a per-carrier
// sigaltstack, that recognises a fault in the guard page of the running
// coroutine's stack, prints one line saying which coroutine overflowed, its
// stack size and the COHOOK_* variable that raises it, then aborts.
// Faults anywhere else are passed on to the handler that was there before (or
// to the default action), so the program's own crash handling is unchanged.
#pragma once
#include <signal.h>

namespace cohook {

void install_overflow_guard();                 // process-wide, idempotent
void enable_overflow_guard_on_this_thread();   // sigaltstack for this carrier
void disable_overflow_guard_on_this_thread();

// Linked into libcohook.so, `sigaction` would be the shim's own hook: the
// shim hands us libc's before any carrier exists.
using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
void overflow_guard_use_sigaction(SigactionFn fn);

bool overflow_guard_installed();
// The program installs a SIGSEGV/SIGBUS handler while the guard is in front:
// keep the guard, make `act` the handler faults are passed on to, and report
// the previous one in `old` (either may be null).
bool overflow_guard_replace_next(int sig, const struct sigaction* act, struct sigaction* old);

}  // namespace cohook
