// The cancellation point of the blocking pthread_sync.cpp calls that are
// cancellation points natively: pthread_cond_wait/timedwait/clockwait and
// sem_wait/timedwait/clockwait call it before they wait (the cond's mutex
// still held) and again when a wait ended early -- cond waits always, with
// the mutex held again, which is where POSIX wants it for the cleanup
// handlers; sem waits when they end with EINTR. A request that arrives while
// the caller is parked must wake it: mark its Parker with a hard interrupt
// (Parker::mark_interrupted(false)) and unpark it, as Thread::cancel does.
//
// HOOK-IN for the thread conversion (shim/pthread.cpp): act on a pending
// cancellation of the calling thread here. Until then, a no-op.
#pragma once

namespace cohook::shim {

inline void cancellation_point() {}

}  // namespace cohook::shim
