// COHOOK_STATS: the counters report, written at exit and served live to
// `cohook stats PID` (docs/env-vars.md, "COHOOK_STATS output").
#pragma once
#include <cstddef>

namespace cohook::shim {

// From the constructor, when COHOOK_STATS is set: the private stderr copy,
// the atexit report and the live socket with its server thread.
void start_stats();
// In a forked child: its own socket (its pid is new) and server thread.
void restart_stats_after_fork();
// The one-line report, newline included; its length (0 if it did not fit).
size_t format_stats(char* buf, size_t size);

}  // namespace cohook::shim
