// FdTable<T>: one T per fd number, for the whole process.
//
// Two levels so that a process with few fds uses little memory and a lookup
// never takes a lock: chunks of 1024 entries are created on first use and
// never freed (an entry is recycled with its fd number). Constant-initialised,
// so it can be used before any constructor has run.
#pragma once
#include <atomic>
#include <new>

namespace cohook {

// Fds at or above this are passed through untracked (they cannot be waited on).
inline constexpr int kMaxTrackedFd = 1 << 20;

template <class T>
class FdTable {
 public:
  static constexpr int kChunkBits = 10;
  static constexpr int kChunk = 1 << kChunkBits;

  // The entry for fd; nullptr if fd is out of range, or its chunk does not
  // exist and `create` is false (or memory ran out).
  T* get(int fd, bool create) {
    if (unsigned(fd) >= unsigned(kMaxTrackedFd)) return nullptr;
    std::atomic<T*>& slot = chunks_[fd >> kChunkBits];
    T* chunk = slot.load(std::memory_order_acquire);
    if (!chunk) {
      if (!create) return nullptr;
      T* fresh = new (std::nothrow) T[kChunk];
      if (!fresh) return nullptr;
      if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) chunk = fresh;
      else delete[] fresh;  // another thread won; `chunk` holds its pointer
    }
    return &chunk[fd & (kChunk - 1)];
  }

  // f(T&) for every entry of every chunk that exists.
  template <class F>
  void for_each(F&& f) {
    for (auto& slot : chunks_)
      if (T* chunk = slot.load(std::memory_order_acquire))
        for (int i = 0; i < kChunk; ++i) f(chunk[i]);
  }

 private:
  std::atomic<T*> chunks_[kMaxTrackedFd / kChunk] = {};
};

}  // namespace cohook
