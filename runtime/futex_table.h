// FutexTable: futex-style waits on a program's 32-bit words, parking the
// caller instead of blocking its carrier in the kernel.
//
// Programs and libraries (libstdc++'s std::future, atomic waits, InnoDB's
// own locks) call syscall(SYS_futex, ...) directly. If a coroutine waited in
// the kernel, the coroutine that will wake it -- perhaps on the same carrier
// -- could never run. The shim sends FUTEX_WAIT/WAKE (and their BITSET and
// PRIVATE forms) here. Waiters that cannot park (no carrier, a dispatcher)
// still use the kernel, so wake() also asks the kernel to wake that many.
//
// Buckets are hashed by address; each holds a FIFO of the waiting Parkers'
// nodes (off-stack: see park.h) tagged with the address and bitset.
#pragma once
#include <atomic>
#include <cstdint>

#include "clock.h"
#include "park.h"

namespace cohook::futex_table {

// Park while *addr == expected (checked under the bucket lock, so a wake
// after the caller changed the word is never lost). 0 when woken, or an
// errno value: EAGAIN (value differed), ETIMEDOUT, EINTR (a signal handler
// interrupted the wait, as the kernel's wait returns).
int wait(const std::atomic<uint32_t>* addr, uint32_t expected, Deadline deadline, uint32_t bitset);
// Wake up to n parked waiters on addr whose bitset intersects `bitset`.
// Returns how many were woken here (the caller adds the kernel's count).
int wake(const void* addr, int n, uint32_t bitset);

}  // namespace cohook::futex_table
