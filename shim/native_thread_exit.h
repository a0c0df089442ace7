// OS threads made while the program's other threads are coroutines
// (COHOOK_NATIVE_THREADS): each starts through a small trampoline that
// records when its start routine is done -- returned, pthread_exit or
// cancellation, which unwind through the trampoline's frame. A coroutine
// joining one parks on that record instead of blocking its carrier in
// glibc's join (which waits on a kernel futex no scheduler sees); glibc's
// own join then only waits for the thread's last steps (TLS destructors).
//
// Records of joinable threads are found by pthread_t; a joined or detached
// thread's record is forgotten, so a handle glibc reuses is never confused.
#pragma once
#include <pthread.h>

#include "clock.h"

namespace cohook::shim::native_exit {

using Start = void* (*)(void*);
using Create = int (*)(pthread_t*, const pthread_attr_t*, Start, void*);

// Make the OS thread with `real` (glibc's pthread_create). `name`: its
// initial name (the creating coroutine's), or nullptr to keep the kernel's.
// `why` is logged at info level with the new thread's id.
int create(Create real, pthread_t* out, const pthread_attr_t* attr, Start fn, void* arg, const char* name,
           const char* why);

struct Record;
// The record of a joinable tracked thread, referenced; nullptr if none.
Record* find(pthread_t handle);
void release(Record* r);
// Park until the start routine is done, the deadline passes or the calling
// coroutine is asked to cancel. True when done: the caller must then make
// glibc's blocking join (the ending thread may still touch the caller's
// Parker until it has exited).
bool wait_done(Record* r, Deadline deadline);
// The thread was joined or detached: nobody may find it again.
void forget(Record* r);

}  // namespace cohook::shim::native_exit
