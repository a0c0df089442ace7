#include "park_stats.h"

namespace cohook {

namespace {
struct alignas(64) Counter {
  std::atomic<uint64_t> n{0};
};
Counter g_parks[kParkReasons];

constexpr const char* kNames[kParkReasons] = {"read", "write", "accept", "connect", "poll", "sleep", "mutex",
                                              "cond", "join",  "dns",    "child",   "futex", "offload"};
}  // namespace

const char* park_reason_name(ParkReason r) { return size_t(r) < kParkReasons ? kNames[size_t(r)] : "?"; }

void count_park(ParkReason r) { g_parks[size_t(r)].n.fetch_add(1, std::memory_order_relaxed); }

uint64_t parks_for(ParkReason r) { return g_parks[size_t(r)].n.load(std::memory_order_relaxed); }

uint64_t parks_total() {
  uint64_t sum = 0;
  for (auto& c : g_parks) sum += c.n.load(std::memory_order_relaxed);
  return sum;
}

}  // namespace cohook
