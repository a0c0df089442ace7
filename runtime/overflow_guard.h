// Stack-overflow reporting: a SIGSEGV/SIGBUS handler, running on a per-carrier
// sigaltstack, that recognises a fault in the guard page of the running
// coroutine's stack, prints one line saying which coroutine overflowed, its
// stack size and the COHOOK_* variable that raises it, then aborts.
// Faults anywhere else are passed on to the handler that was there before (or
// to the default action), so the program's own crash handling is unchanged.
#pragma once

namespace cohook {

void install_overflow_guard();                 // process-wide, idempotent
void enable_overflow_guard_on_this_thread();   // sigaltstack for this carrier
void disable_overflow_guard_on_this_thread();

}  // namespace cohook
