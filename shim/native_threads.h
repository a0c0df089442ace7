// COHOOK_NATIVE_THREADS: which of the program's new threads stay real OS
// threads while the others become coroutines -- the escape hatch for a
// thread that spins, computes for seconds or makes a call nobody can park.
//
// The selectors (comma-separated, docs/env-vars.md has the user's view):
//   NAME       the thread's start routine is NAME: the symbol is NAME, or its
//              demangled qualified name without parameters is NAME or ends
//              in "::NAME" (`worker` and `ns::worker` match ns::worker(int)).
//              For a std::thread (whose start routine is always libstdc++'s)
//              the callable is looked at instead: NAME matches a function
//              pointer or member function pointer it stores, by the same
//              rule, or a whole identifier in the callable's type (a lambda's
//              type names its enclosing function: io_handler()::{lambda()#1}).
//   from:NAME  a function named NAME (same rule) is on the creating call
//              stack at pthread_create: picks every thread a given function
//              makes, whatever runs in it.
#pragma once
#include <cstddef>

namespace cohook::shim {

// Was any selector given? (One load; the rest of the work is skipped if not.)
bool native_threads_selected();

// Should the thread about to run fn(arg), created from return address
// `caller` (pthread_create's caller), stay an OS thread? When true, `why`
// holds one line for the log: what matched which selector.
bool stays_native(void* (*fn)(void*), void* arg, const void* caller, char* why, size_t n);

}  // namespace cohook::shim
