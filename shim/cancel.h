// The cancellation point of the blocking pthread_sync.cpp calls that are
// cancellation points natively: pthread_cond_wait/timedwait/clockwait and
// sem_wait/timedwait/clockwait call it before they wait (the cond's mutex
// still held) and again when a wait ended early -- cond waits always, with
// the mutex held again, which is where POSIX wants it for the cleanup
// handlers; sem waits when they end with EINTR. A request that arrives while
// the caller is parked must wake it: mark its Parker with a hard interrupt
// (Parker::mark_interrupted(false)) and unpark it, as Thread::cancel does.
//
// A pending, enabled cancellation request of the calling thread (a coroutine
// made by pthread_create) ends it here: Thread::exit(PTHREAD_CANCELED).
#pragma once
#include "thread.h"

namespace cohook::shim {

inline void cancellation_point() { Thread::test_cancel(); }

}  // namespace cohook::shim
