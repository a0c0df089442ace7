#include "poller.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>
#include <new>

#include "park.h"
#include "sys.h"
#include "spinlock.h"
#include "wait_queue.h"

namespace cohook {

namespace {

// ---- the process-wide fd table -------------------------------------------

struct Direction {
  std::atomic<uint64_t> epoch{0};
  WaitQueue waiters;  // guarded by FdState::lock
};

struct FdState {
  SpinLock lock;
  uint32_t generation = 0;
  // Every carrier that waited on the fd has it in its own epoll, so its
  // waiters never depend on another thread coming back to its dispatcher.
  // (Usually one; a listener shared by a pool of threads has several.)
  std::vector<Poller*> pollers;
  bool unpollable = false;
  Direction dir[2];

  bool registered_with(const Poller* p) const {
    for (Poller* x : pollers)
      if (x == p) return true;
    return false;
  }
};

FdTable<FdState> g_fds;

FdState* fd_state(int fd, bool create) { return g_fds.get(fd, create); }

// Caller holds st.lock (WaitQueue::wake_all unparks under it). `final`: the
// event was a hang-up or error, a state no later edge will report again.
void wake_all(Direction& d, WaitResult why, bool final = false) {
  d.epoch.fetch_add(1, std::memory_order_release);
  if (final) d.epoch.fetch_or(kEpochFinal, std::memory_order_release);
  d.waiters.wake_all(uint8_t(why));
}

constexpr uint64_t kWakeToken = ~uint64_t(0);
uint64_t pack(int fd, uint32_t gen) { return (uint64_t(gen) << 32) | uint32_t(fd); }

void dispatch_event(uint64_t data, uint32_t events) {
  int fd = int(uint32_t(data));
  uint32_t gen = uint32_t(data >> 32);
  FdState* st = fd_state(fd, false);
  if (!st) return;
  SpinGuard g(st->lock);
  if (st->generation != gen) return;  // an event of a file that was closed
  bool hup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
    wake_all(st->dir[0], WaitResult::Ready, hup);
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    wake_all(st->dir[1], WaitResult::Ready, events & (EPOLLHUP | EPOLLERR));
}

std::atomic<int> g_pwait2{-1};  // -1 unknown, 0 no, 1 yes
std::atomic<uint64_t> g_ctl_calls{0};

// The runtime's own fds, so the shim can keep the program's hands off them.
SpinLock g_owned_lock;
std::vector<int>* g_owned = nullptr;  // never freed: read during exit too
std::atomic<int> g_owned_count{0};

void own_fd(int fd, bool add) {
  if (fd < 0) return;
  SpinGuard g(g_owned_lock);
  if (!g_owned) g_owned = new std::vector<int>();
  if (add) {
    g_owned->push_back(fd);
  } else {
    for (size_t i = 0; i < g_owned->size(); ++i)
      if ((*g_owned)[i] == fd) {
        (*g_owned)[i] = g_owned->back();
        g_owned->pop_back();
        break;
      }
  }
  g_owned_count.store(int(g_owned->size()), std::memory_order_release);
}

// -1 + errno, like libc's, for the callers' convenience.
int counted_epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
  g_ctl_calls.fetch_add(1, std::memory_order_relaxed);
  long r = sys::epoll_ctl(epfd, op, fd, ev);
  if (r < 0) {
    errno = int(-r);
    return -1;
  }
  return 0;
}

}  // namespace

int move_to_reserved_fd_band(int fd) {
  if (fd < 0) return fd;
  rlimit rl{};
  long floor = 0;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 16) {
    long limit = long(std::min<rlim_t>(rl.rlim_cur, 1 << 30));
    floor = limit - std::min<long>(limit / 8, 256);
  } else {
    floor = 1 << 20;  // no usable limit: far out of the way
  }
  long moved = sys::fcntl(fd, F_DUPFD_CLOEXEC, floor);
  sys::close(fd);
  return moved < 0 ? -1 : int(moved);
}

namespace {

}  // namespace

// ---- Poller ----------------------------------------------------------------

Poller::Poller() {
  epfd_ = move_to_reserved_fd_band(int(sys::epoll_create(EPOLL_CLOEXEC)));
  wakefd_ = move_to_reserved_fd_band(int(sys::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
  own_fd(epfd_, true);
  own_fd(wakefd_, true);
  if (epfd_ >= 0 && wakefd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeToken;
    sys::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  }
}

Poller::~Poller() {
  // Registrations die with the epoll instance (a carrier's thread exits).
  // The fds themselves are still open: wake their waiters as for an event,
  // so they retry and register with their own carrier's poller.
  g_fds.for_each([this](FdState& st) {
    SpinGuard g(st.lock);
    for (size_t i = 0; i < st.pollers.size(); ++i) {
      if (st.pollers[i] != this) continue;
      st.pollers[i] = st.pollers.back();
      st.pollers.pop_back();
      wake_all(st.dir[0], WaitResult::Ready);
      wake_all(st.dir[1], WaitResult::Ready);
      return;
    }
  });
  own_fd(epfd_, false);
  own_fd(wakefd_, false);
  if (epfd_ >= 0) sys::close(epfd_);
  if (wakefd_ >= 0) sys::close(wakefd_);
}

void Poller::own(int fd, bool add) { own_fd(fd, add); }

bool Poller::owns_fd(int fd) {
  if (g_owned_count.load(std::memory_order_acquire) == 0) return false;
  SpinGuard g(g_owned_lock);
  for (int x : *g_owned)
    if (x == fd) return true;
  return false;
}

std::vector<int> Poller::owned_fds_snapshot() {
  std::vector<int> v;
  {
    SpinGuard g(g_owned_lock);
    if (g_owned) v = *g_owned;
  }
  std::sort(v.begin(), v.end());
  return v;
}

void notify_fd(int fd) {
  FdState* st = fd_state(fd, false);
  if (!st) return;
  SpinGuard g(st->lock);
  wake_all(st->dir[0], WaitResult::Ready);
  wake_all(st->dir[1], WaitResult::Ready);
}

uint64_t Poller::epoll_ctl_calls() { return g_ctl_calls.load(std::memory_order_relaxed); }

bool Poller::has_ns_precision() { return g_pwait2.load(std::memory_order_relaxed) != 0; }  // tried first

int Poller::poll(Deadline deadline) {
  epoll_event evs[256];
  int n;
  Nanos wait = deadline == kForever ? -1 : deadline - now_ns();
  if (wait < 0 && deadline != kForever) wait = 0;
  if (g_pwait2.load(std::memory_order_relaxed) != 0) {
    timespec ts{wait / 1000000000, wait % 1000000000};
    n = int(sys::epoll_pwait2(epfd_, evs, 256, wait < 0 ? nullptr : &ts));
    if (n == -ENOSYS) {
      g_pwait2.store(0);
      return poll(deadline);
    }
    g_pwait2.store(1, std::memory_order_relaxed);
  } else {
    // Millisecond timeout rounded up: never wake before the deadline.
    int ms = wait < 0 ? -1 : int(std::min<Nanos>((wait + 999999) / 1000000, INT_MAX));
    n = int(sys::epoll_pwait(epfd_, evs, 256, ms));
  }
  if (n < 0) return 0;  // -EINTR: the caller loops
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.u64 == kWakeToken) {
      uint64_t v;
      while (sys::read(wakefd_, &v, sizeof v) > 0) {
      }
      continue;
    }
    dispatch_event(evs[i].data.u64, evs[i].events);
  }
  return n;
}

void Poller::wake() {
  uint64_t one = 1;
  while (sys::write(wakefd_, &one, sizeof one) == -EINTR) {
  }
}

bool Poller::add(int fd, uint32_t generation) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.u64 = pack(fd, generation);
  if (counted_epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
  if (errno == EEXIST) return counted_epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
  return false;
}

// ---- waiting -----------------------------------------------------------------

static bool ensure_registered(FdState* st, Poller& poller, int fd);

uint64_t fd_epoch(int fd, IoDir dir) {
  FdState* st = fd_state(fd, false);
  return st ? st->dir[int(dir)].epoch.load(std::memory_order_acquire) : 0;
}

WaitResult wait_fd(Poller& poller, int fd, IoDir dir, uint64_t epoch, Deadline deadline) {
  FdState* st = fd_state(fd, true);
  if (!st) return WaitResult::NotPollable;
  Direction& d = st->dir[int(dir)];
  Parker* me = Parker::current();
  WaitNode& node = me->node();  // off-stack: see park.h
  me->begin_interruptible();
  {
    SpinGuard g(st->lock);
    // EPERM: regular file or directory -- always "ready", block natively.
    if (!ensure_registered(st, poller, fd)) return WaitResult::NotPollable;
    if (d.epoch.load(std::memory_order_acquire) != epoch) return WaitResult::Ready;
    d.waiters.push(&node);
  }
  for (;;) {
    bool in_time = node.parker->park_until(deadline);
    SpinGuard g(st->lock);
    if (!node.queued.load(std::memory_order_acquire)) return WaitResult(node.result);
    if (!in_time) {
      d.waiters.remove(&node);
      return WaitResult::TimedOut;
    }
    if (WaitResult i = take_interrupt_result(me); i != WaitResult::Ready) {
      d.waiters.remove(&node);
      return i;
    }
  }
}

WaitResult take_interrupt_result(Parker* p) {
  switch (p->take_interrupt()) {
    case Parker::Interrupt::None: return WaitResult::Ready;
    case Parker::Interrupt::Restartable: return WaitResult::Restart;
    case Parker::Interrupt::Hard: return WaitResult::Interrupted;
  }
  return WaitResult::Ready;
}

// Register fd with `poller` if nobody did. Caller holds st->lock.
// false: epoll refuses it (NotPollable).
static bool ensure_registered(FdState* st, Poller& poller, int fd) {
  if (st->unpollable) return false;
  if (st->registered_with(&poller)) return true;
  if (!poller.add(fd, st->generation)) {
    if (errno == EPERM) st->unpollable = true;  // regular file, directory
    return false;
  }
  st->pollers.push_back(&poller);
  return true;
}

WaitResult wait_any(Poller& poller, FdInterest* set, size_t n, Deadline deadline, size_t* closed_index) {
  // One node per fd and direction, all for the same parker. They are on the
  // heap because the caller may be on a shared stack (see park.h).
  struct Entry {
    FdState* st;
    Direction* dir;
    size_t index;  // into `set`
    WaitNode node;
  };
  std::unique_ptr<Entry[]> e(new (std::nothrow) Entry[2 * n + 1]);
  if (!e) return WaitResult::Ready;  // no memory: the caller polls again
  Parker* me = Parker::current();
  me->begin_interruptible();
  size_t used = 0;
  bool ready_now = false;
  for (size_t i = 0; i < n && !ready_now; ++i) {
    FdState* st = fd_state(set[i].fd, true);
    if (!st) {
      ready_now = true;
      break;
    }
    SpinGuard g(st->lock);
    if (!ensure_registered(st, poller, set[i].fd)) {
      ready_now = true;  // a regular file is always ready
      break;
    }
    for (int k = 0; k < 2; ++k) {
      if (!(k == 0 ? set[i].read : set[i].write)) continue;
      Direction& d = st->dir[k];
      if (d.epoch.load(std::memory_order_acquire) != (k == 0 ? set[i].read_epoch : set[i].write_epoch)) {
        ready_now = true;
        break;
      }
      Entry& x = e[used++];
      x.st = st;
      x.dir = &d;
      x.index = i;
      x.node.parker = me;
      d.waiters.push(&x.node);
    }
  }
  WaitResult result = WaitResult::Ready;
  while (!ready_now) {
    bool in_time = me->park_until(deadline);
    bool woken = false;
    for (size_t i = 0; i < used && !woken; ++i)
      if (!e[i].node.queued.load(std::memory_order_acquire)) {
        woken = true;
        result = WaitResult(e[i].node.result);
        if (result == WaitResult::Closed && closed_index) *closed_index = e[i].index;
      }
    if (woken) break;
    if (!in_time) {
      result = WaitResult::TimedOut;
      break;
    }
    if (WaitResult i = take_interrupt_result(me); i != WaitResult::Ready) {
      result = i;
      break;
    }
  }
  for (size_t i = 0; i < used; ++i) {
    SpinGuard g(e[i].st->lock);
    if (e[i].node.queued.load(std::memory_order_relaxed)) e[i].dir->waiters.remove(&e[i].node);
  }
  return result;
}

void forget_all_fds_after_fork() {
  g_fds.for_each([](FdState& st) {
    new (&st.lock) SpinLock();  // a parent thread may have held it at fork
    new (&st.pollers) std::vector<Poller*>();  // (leaks the parent's array)
    st.unpollable = false;
    st.generation++;
    st.dir[0].waiters = WaitQueue();
    st.dir[1].waiters = WaitQueue();
  });
}

void forget_fd(int fd) {
  FdState* st = fd_state(fd, false);
  if (!st) return;
  SpinGuard g(st->lock);
  for (Poller* p : st->pollers) counted_epoll_ctl(p->epoll_fd(), EPOLL_CTL_DEL, fd, nullptr);
  st->pollers.clear();
  st->unpollable = false;
  st->generation++;
  wake_all(st->dir[0], WaitResult::Closed);
  wake_all(st->dir[1], WaitResult::Closed);
  // The number will name a new file: its hang-up is not the new one's.
  st->dir[0].epoch.fetch_and(~kEpochFinal, std::memory_order_relaxed);
  st->dir[1].epoch.fetch_and(~kEpochFinal, std::memory_order_relaxed);
}

}  // namespace cohook
