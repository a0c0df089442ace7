// Completion waits of asynchronous I/O that reach libc's syscall()
// (shim/aio.cpp): io_getevents, io_pgetevents, io_uring_enter.
#pragma once

namespace cohook::shim {

// Is `number` one of them?
bool is_completion_wait(long number);
// The call, parked or offloaded when it would block; a[] as syscall() got it.
long completion_wait(long number, const long* a);

}  // namespace cohook::shim
