// The shim's global state: configuration, whether hooks are live, and the
// carrier (Scheduler) of the calling thread.
#pragma once
#include <atomic>

#include "carrier_set.h"
#include "config.h"
#include "offload.h"
#include "scheduler.h"

namespace cohook::shim {

enum class Mode : int { Starting, Active, Disabled };
extern std::atomic<Mode> g_mode;
extern Config g_config;

// True once COHOOK_* is parsed and hooks may use the runtime.
inline bool active() { return g_mode.load(std::memory_order_relaxed) == Mode::Active; }

// The calling thread's carrier, made on first use; nullptr when the thread
// cannot have one (shim inactive, thread exiting, no fds or memory left).
Scheduler* carrier();

// From now on the calling OS thread never gets a carrier and every hook
// called on it blocks natively (threads kept native by COHOOK_NATIVE_THREADS:
// glibc's cancellation and signals then act on their blocking calls as
// natively).
void block_natively_here();

// Has this process forked, or is it a forked child? (Files may be shared
// with another process running the shim.)
bool process_has_forked();
// A fork made by a raw clone system call (syscall(SYS_clone) without
// CLONE_VM, as vsftpd does): libc ran no atfork handlers, so the syscall hook
// calls this in the parent and in the child.
void forked_without_libc(bool in_child);

// Is the calling OS thread the process's main thread (pid == tid)?
bool is_main_thread();
// libc's pthread_t of the main thread (where process signals are handled).
unsigned long main_thread_handle();
// The OS thread behind a pthread_t: a coroutine's carrier, or itself.
unsigned long os_thread_of(unsigned long pthread_handle);
// The carriers coroutines are placed on (COHOOK_THREADS=coroutine).
CarrierSet& carriers();
// Real threads for calls that cannot park (COHOOK_OFFLOAD_THREADS).
OffloadPool& offload();

// Can the caller park here instead of blocking its thread? (A coroutine or a
// carrier's main context; not the dispatcher, not a dying thread.)
bool can_park();

// Deadline for a blocking call: the program's own timeout (ns, 0 = none),
// capped by a COHOOK_*_TIMEOUT_MS (0 = no cap).
Deadline io_deadline(int64_t program_timeout_ns, uint64_t cap_ms);

// How many wrapped signal handlers have run on this thread (shim/signal.cpp).
unsigned long signals_handled_on_this_thread();
// Put the trampoline in front of handlers installed before the shim started.
void wrap_existing_handlers();
// Does the program's handler for sig restart interrupted calls (SA_RESTART)?
bool signal_restarts(int sig);
// The next delivery of sig runs a handler for a coroutine (pthread_kill):
// it must not interrupt the main thread's own wait.
void route_next_signal(int sig);

// May the shim's messages go to fd 2? Not once a socket other than the one
// the process started with is there: inetd-style servers (vsftpd's sessions)
// give a client's connection fds 0-2, and our words would enter its protocol.
bool stderr_takes_messages();

// Debug/info logging to stderr, honouring COHOOK_LOG.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// A real, detached OS thread (libc's pthread_create, not our hook); 0 or an
// error number.
int start_os_thread(void* (*fn)(void*), void* arg, size_t stack);

// The stall watchdog (shim/stall_watchdog.cpp): on each new carrier thread
// (starts the monitor with the first), in a forked child, and whether the
// calling thread is its monitor (which must never become a carrier).
void stall_watchdog_on_new_carrier();
void stall_watchdog_after_fork();
bool on_stall_watchdog_thread();

// Counters printed with COHOOK_STATS (shim/stats.cpp); parks by reason are
// runtime/park_stats.h.
struct Stats {
  std::atomic<uint64_t> timeouts{0};    // waits that ended by deadline
  std::atomic<uint64_t> closed_waits{0};  // waits ended by close() from another thread
  std::atomic<uint64_t> native_blocks{0};  // blocking calls left to block the thread
  std::atomic<uint64_t> carriers{0};    // carriers (schedulers) made
  std::atomic<uint64_t> eagain_attempts{0};  // non-blocking attempts that found nothing
  std::atomic<uint64_t> threads_created{0};  // pthread_create calls that made coroutines
  std::atomic<uint64_t> offloaded{0};        // calls run on the offload pool
  std::atomic<uint64_t> stalls{0};           // watchdog: carriers away from their scheduler too long
};
extern Stats g_stats;

}  // namespace cohook::shim
