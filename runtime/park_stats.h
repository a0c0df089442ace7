// Park counters: how many blocking calls had to wait, by what they waited for.
//
// A call is counted once, when it first parks (a mutex lock that is woken
// three times before it gets the lock is one park). Counters are process-wide
// relaxed atomics, each on its own cache line so that carriers parking for
// different reasons never share one; parking is the slow path already (a
// context switch at least), and calls that do not wait count nothing.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cohook {

enum class ParkReason : uint8_t {
  Read, Write, Accept, Connect, Poll, Sleep, Mutex, Cond, Join, Dns, Child, Futex, Offload,
};
inline constexpr size_t kParkReasons = size_t(ParkReason::Offload) + 1;

// "read", "write", ... (the key suffix in the COHOOK_STATS report).
const char* park_reason_name(ParkReason r);

void count_park(ParkReason r);
uint64_t parks_for(ParkReason r);
uint64_t parks_total();

// For a wait loop that may park several times: counts the first park only.
class ParkOnce {
 public:
  explicit ParkOnce(ParkReason r) : reason_(r) {}
  void note() {
    if (!counted_) {
      counted_ = true;
      count_park(reason_);
    }
  }

 private:
  ParkReason reason_;
  bool counted_ = false;
};

}  // namespace cohook
