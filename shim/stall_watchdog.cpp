// The stall watchdog in the shim (runtime/watchdog.h): armed with the first
// carrier when COHOOK_STALL_MS > 0 (again in a forked child), started with
// the first thread;
// its reports go to stderr (unless COHOOK_LOG=off) and count in
// g_stats.stalls.
#include <unistd.h>

#include "real.h"
#include "state.h"
#include "watchdog.h"

namespace cohook::shim {

namespace {

void emit(const char* text, size_t n) {
  if (g_config.log < LogLevel::Warn || !stderr_takes_messages()) return;
  while (n) {
    ssize_t w = REAL(write)(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= size_t(w);
  }
}

void counted() { g_stats.stalls.fetch_add(1, std::memory_order_relaxed); }

// Symbolizing and formatting a report takes some 30 KiB of frames.
int start_monitor_thread(void* (*fn)(void*), void* arg) { return start_os_thread(fn, arg, 512 * 1024); }

}  // namespace

void stall_watchdog_on_new_carrier() {
  if (!g_config.stall_ms) return;
  // The carriers the runtime started block process signals; let the sample
  // signal through there. A program's own thread (main, or any thread with
  // COHOOK_THREADS=native) keeps the mask the program gave it.
  if (g_config.threads == ThreadMode::Coroutine && !is_main_thread()) watchdog::prepare_carrier_thread();
  if (!watchdog::running()) {
    // Started by the first pthread_create (Scheduler::spawn), not here.
    watchdog::Options o;
    o.stall_ms = unsigned(g_config.stall_ms);
    o.carriers = &carriers();
    o.carrier0_is_main = true;  // the carrier set makes the main thread carrier 0
    o.start_thread = &start_monitor_thread;
    o.sigaction = REAL(sigaction);
    o.emit = &emit;
    o.counted = &counted;
    watchdog::arm(o);
  }
  watchdog::kick();
}

void stall_watchdog_after_fork() { watchdog::reset_after_fork(); }

bool on_stall_watchdog_thread() { return watchdog::on_monitor_thread(); }

}  // namespace cohook::shim
