#include "offload.h"

#include <sys/prctl.h>

#include <cerrno>
#include <new>

#include "clock.h"

namespace cohook {

namespace {
thread_local bool t_pool_thread = false;
}

struct OffloadPool::Job {
  void (*fn)(void*);
  void* arg;
  Parker* waiter;
  Nanos queued_at;
  int error = 0;
  std::atomic<bool> done{false};
  Job* next = nullptr;
};

void OffloadPool::configure(unsigned max_threads, StartThread start) {
  max_ = max_threads ? max_threads : 1;
  start_ = start;
}

bool OffloadPool::on_pool_thread() { return t_pool_thread; }

void OffloadPool::reset_after_fork() {
  // Jobs still queued or running belong to coroutines of other threads,
  // gone with them; the locks and the condition's waiters are theirs too.
  new (&mu_) Mutex;
  new (&work_) CondVar;
  new (&done_lock_) SpinLock;
  head_ = tail_ = nullptr;
  threads_ = idle_ = 0;
  queued_.store(0, std::memory_order_relaxed);
}

OffloadPool::Stats OffloadPool::stats() const {
  return Stats{jobs_.load(),    made_.load(),    queue_peak_.load(),  wait_ns_.load(),
               queued_.load(), started_.load(), wait_max_ns_.load()};
}

void OffloadPool::run(void (*fn)(void*), void* arg) {
  auto* job = new (std::nothrow) Job{fn, arg, Parker::current(), now_ns()};
  if (!job || t_pool_thread) {
    delete job;
    fn(arg);
    return;
  }
  mu_.lock();
  job->next = nullptr;
  if (tail_) tail_->next = job;
  else head_ = job;
  tail_ = job;
  queued_++;
  if (queued_ > queue_peak_.load(std::memory_order_relaxed)) queue_peak_.store(queued_, std::memory_order_relaxed);
  bool need_thread = idle_ == 0 && threads_ < max_;
  if (need_thread) threads_++;
  work_.notify_one();
  mu_.unlock();
  if (need_thread && (!start_ || start_(&OffloadPool::worker_main, this) != 0)) {
    mu_.lock();
    threads_--;
    bool none = threads_ == 0;
    // Nobody will take it: take it back and run it here.
    Job** p = &head_;
    Job* prev = nullptr;
    while (none && *p && *p != job) prev = *p, p = &(*p)->next;
    if (none && *p == job) {
      *p = job->next;
      if (tail_ == job) tail_ = prev;
      queued_--;
      mu_.unlock();
      delete job;
      fn(arg);
      return;
    }
    mu_.unlock();
  }
  jobs_.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    {
      SpinGuard g(done_lock_);  // see worker_main: the unpark happens under it
      if (job->done.load(std::memory_order_acquire)) break;
    }
    job->waiter->park();
  }
  errno = job->error;
  delete job;
}

OffloadPool::Job* OffloadPool::take() {
  mu_.lock();
  while (!head_) {
    idle_++;
    work_.wait(mu_);
    idle_--;
  }
  Job* j = head_;
  head_ = j->next;
  if (!head_) tail_ = nullptr;
  queued_--;
  mu_.unlock();
  return j;
}

void* OffloadPool::worker_main(void* self) {
  auto* pool = static_cast<OffloadPool*>(self);
  t_pool_thread = true;
  // A name of its own, so ps, top and tracers (offcputime) tell the pool's
  // idle threads from the carriers that run the program.
  prctl(PR_SET_NAME, "cohook-offload");
  pool->made_.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    Job* j = pool->take();
    auto waited = uint64_t(now_ns() - j->queued_at);
    pool->wait_ns_.fetch_add(waited, std::memory_order_relaxed);
    pool->started_.fetch_add(1, std::memory_order_relaxed);
    uint64_t max = pool->wait_max_ns_.load(std::memory_order_relaxed);
    while (waited > max && !pool->wait_max_ns_.compare_exchange_weak(max, waited, std::memory_order_relaxed)) {
    }
    errno = 0;
    j->fn(j->arg);
    j->error = errno;
    // Under the lock, so the waiter cannot see `done`, return and free its
    // Parker (its coroutine may end) before unpark() is finished with it.
    SpinGuard g(pool->done_lock_);
    j->done.store(true, std::memory_order_release);
    j->waiter->unpark();
  }
}

}  // namespace cohook
