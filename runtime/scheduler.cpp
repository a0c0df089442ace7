#include "scheduler.h"

#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <new>

#include "overflow_guard.h"
#include "park_stats.h"
#include "sys.h"

namespace cohook {

namespace {
thread_local Scheduler* t_scheduler = nullptr;
thread_local volatile int t_handler_depth = 0;  // signal handlers running on this thread
constexpr Nanos kPollEvery = 100 * 1000;  // look at epoll at least this often while busy

// A park deadline fired: say so and wake the parker it belongs to.
void fire_park_timer(Timer* t) {
  auto* parker = static_cast<Parker*>(t->data);
  Scheduler::note_timer_fired(parker);
  parker->unpark();
}
}  // namespace

Scheduler* Scheduler::current() { return t_scheduler; }

namespace {
std::atomic<Scheduler::Factory> g_factory{nullptr};
}
void Scheduler::set_factory(Factory f) { g_factory.store(f); }
Scheduler* Scheduler::ensure() {
  if (t_scheduler) return t_scheduler;
  Factory f = g_factory.load(std::memory_order_relaxed);
  return f ? f() : nullptr;
}

bool Scheduler::is_dispatcher(const Coroutine* co) {
  return co->home_ && co == co->home_->dispatcher_.get();
}

Scheduler::Scheduler(Options o)
    : opt_(o), pool_(StackPool::Options{o.stack_size, o.stack_hot_cache, o.stack_cold_cache}) {
  if (t_scheduler) std::abort();  // one carrier per thread
  install_overflow_guard();
  enable_overflow_guard_on_this_thread();
  main_.reset(new Coroutine(Coroutine::MainTag{}));
  main_->home_ = this;
  dispatcher_.reset(new Coroutine(&Scheduler::dispatcher_entry, this));
  dispatcher_->home_ = this;
  dispatcher_->set_name("dispatcher");
  if (!dispatcher_->use_private_stack(pool_, opt_.dispatcher_stack_size) || !poller_.ok()) {
    errno = EAGAIN;  // no stack or no epoll for the carrier itself
    return;
  }
  shared_.resize(opt_.shared_stacks);
  t_scheduler = this;
  Coroutine::set_current(main_.get());
  heartbeat_.tid = int(sys::call6(SYS_gettid));
  heartbeat_.enter(main_.get());  // the thread's own code runs until it first parks
  ok_ = true;
}

Scheduler* Scheduler::try_create(Options o) {
  auto* s = new (std::nothrow) Scheduler(o);
  if (s && !s->ok()) {
    int e = errno;
    delete s;
    errno = e;
    return nullptr;
  }
  if (!s) errno = ENOMEM;
  return s;
}

Scheduler::~Scheduler() {
  // Coroutines that never finished are dropped, stacks and all.
  while (Coroutine* co = all_) {
    all_ = co->all_next_;
    co->release_stack(pool_);
    delete co;
  }
  dispatcher_->release_stack(pool_);
  for (auto& s : shared_) StackPool::unmap_stack(s.stack);
  if (t_scheduler == this) {
    t_scheduler = nullptr;
    Coroutine::set_current(nullptr);
  }
  disable_overflow_guard_on_this_thread();
  LiveCoroutines::finished(live_.load(std::memory_order_relaxed));
  counters_->give_back();
}

Scheduler::Stats Scheduler::stats() const {
  return Stats{counters_->switches.load(std::memory_order_relaxed) - switches_base_,
               counters_->polls.load(std::memory_order_relaxed) - polls_base_, remote_wakes_.load(std::memory_order_relaxed), live_.load()};
}

// ---- spawning, finishing, joining ----------------------------------------------

Coroutine* Scheduler::spawn(Coroutine::Entry entry, void* arg, const SpawnOptions& o) {
  auto* co = new (std::nothrow) Coroutine(entry, arg);
  if (!co) {
    errno = EAGAIN;
    return nullptr;
  }
  {
    SpinGuard g(spawn_lock_);
    if (!shared_.empty()) {
      SharedStack& slot = shared_[next_shared_++ % shared_.size()];
      if (!slot.stack.valid() && !StackPool::map_stack(slot.stack, normalize_stack_size(opt_.shared_stack_size))) {
        delete co;  // errno = EAGAIN from the mapping
        return nullptr;
      }
      co->use_shared_stack(&slot);
    } else if (!co->use_private_stack(pool_, o.stack_size)) {
      delete co;  // errno from the pool (EAGAIN)
      return nullptr;
    }
    co->all_next_ = all_;
    if (all_) all_->all_prev_ = co;
    all_ = co;
  }
  co->home_ = this;
  co->detached_ = o.detached;
  if (o.name) co->set_name(o.name);
  co->set_user(o.user, o.user_free);
  if (o.publish) *o.publish = co;
  live_.fetch_add(1, std::memory_order_relaxed);
  LiveCoroutines::spawned();
  watchdog::note_spawn();  // the stall watchdog starts with the first one
  if (t_scheduler == this) make_ready_local(co);
  else push_inbox(co);
  return co;
}

void Scheduler::on_finished(Coroutine* co) {
  {
    SpinGuard g(spawn_lock_);
    co->release_stack(pool_);
    if (co->all_prev_) co->all_prev_->all_next_ = co->all_next_;
    else all_ = co->all_next_;
    if (co->all_next_) co->all_next_->all_prev_ = co->all_prev_;
  }
  bool free_now;
  {
    SpinGuard g(co->join_lock_);
    co->exited_ = true;
    free_now = co->detached_;
    if (co->joiner_) co->joiner_->unpark();  // under the lock: see join()
  }
  if (free_now) delete co;
  LiveCoroutines::finished();
  if (live_.fetch_sub(1, std::memory_order_relaxed) == 1 && run_waiter_) run_waiter_->unpark();
}

void Scheduler::join(Coroutine* co) { join_until(co, kForever); }

bool Scheduler::join_until(Coroutine* co, Deadline deadline) {
  if (!wait_exit(co, deadline)) return false;
  destroy(co);
  return true;
}

bool Scheduler::wait_exit(Coroutine* co, Deadline deadline, bool (*give_up)()) {
  Parker* me = Parker::current();
  ParkOnce parked(ParkReason::Join);
  for (;;) {
    {
      SpinGuard g(co->join_lock_);
      if (co->exited_) return true;
      co->joiner_ = me;
    }
    parked.note();
    if (!me->park_until(deadline) || (give_up && give_up())) {
      SpinGuard g(co->join_lock_);
      if (co->exited_) return true;
      co->joiner_ = nullptr;
      return false;
    }
  }
}

bool Scheduler::has_exited(Coroutine* co) {
  SpinGuard g(co->join_lock_);
  return co->exited_;
}

void Scheduler::destroy(Coroutine* co) {
  // exited_ was set under the lock after the stack was released, and the
  // finisher touches nothing after unlocking: the object is ours now.
  { SpinGuard g(co->join_lock_); }
  delete co;
}

void Scheduler::detach(Coroutine* co) {
  bool free_now;
  {
    SpinGuard g(co->join_lock_);
    free_now = co->exited_;
    co->detached_ = true;
  }
  if (free_now) delete co;
}

void Scheduler::abandon_after_fork() {
  t_scheduler = nullptr;
  Coroutine::set_current(nullptr);
}

void Scheduler::run() {
  while (live_.load(std::memory_order_relaxed) > 0) {
    run_waiter_ = &main_->parker_;
    main_->parker_.park();
  }
  run_waiter_ = nullptr;
}

// ---- parking ----------------------------------------------------------------

void Scheduler::switch_to_dispatcher(Coroutine* self) {
  if (self == main_.get()) {
    dispatcher_->resume();  // main is the dispatcher's resumer
  } else {
    Coroutine::yield();
  }
}

bool Scheduler::park_coroutine(Coroutine* co, Deadline deadline) {
  Scheduler* s = co->home_;
  auto& word = co->parker_.word_;
  if (word.exchange(Parker::kIdle, std::memory_order_acquire) == Parker::kPermit) return true;
  if (deadline != kForever && now_ns() >= deadline) return false;
  // The timer lives in the Parker, not in this frame: see park.h.
  Parker& p = co->parker_;
  Timer& t = p.timer_;
  p.timer_fired_ = false;
  if (deadline != kForever) {
    t.when = deadline;
    t.fire = &fire_park_timer;
    t.data = &p;
    s->timers_.add(&t);
  }
  uint32_t expected = Parker::kIdle;
  if (word.compare_exchange_strong(expected, Parker::kParked, std::memory_order_acq_rel)) {
    co->state_ = CoState::Parked;
    p.park_seq_++;
    // errno is the carrier's; the coroutines that run meanwhile change it.
    // A call that parks and then succeeds must leave it as it was, as a
    // thread's own errno would be.
    int saved_errno = errno;
    s->switch_to_dispatcher(co);
    errno = saved_errno;
  } else {
    word.store(Parker::kIdle, std::memory_order_relaxed);  // a permit arrived meanwhile
  }
  if (t.armed()) s->timers_.cancel(&t);
  return !p.timer_fired_;
}

void Scheduler::note_timer_fired(Parker* p) { p->timer_fired_ = true; }

void Scheduler::unpark_coroutine(Coroutine* co) {
  auto& word = co->parker_.word_;
  uint32_t v = word.load(std::memory_order_acquire);
  for (;;) {
    if (v == Parker::kPermit) return;
    uint32_t next = v == Parker::kIdle ? Parker::kPermit : Parker::kIdle;
    if (word.compare_exchange_weak(v, next, std::memory_order_acq_rel)) break;
  }
  if (v == Parker::kIdle) return;  // it was running: the permit is enough
  // It was parked: it is ours to make ready, exactly once.
  Scheduler* home = co->home_;
  // The ready queue is not async-signal-safe; the inbox is (sem_post from a
  // handler that interrupted this carrier's dispatcher).
  if (t_scheduler == home && t_handler_depth == 0) home->make_ready_local(co);
  else home->push_inbox(co);
}

void Scheduler::make_ready_local(Coroutine* co) {
  co->state_ = CoState::Ready;
  co->next_ready_ = nullptr;
  if (ready_tail_) ready_tail_->next_ready_ = co;
  else ready_head_ = co;
  ready_tail_ = co;
}

void Scheduler::push_inbox(Coroutine* co) {
  Coroutine* head = inbox_.load(std::memory_order_relaxed);
  do {
    co->next_inbox_ = head;
  } while (!inbox_.compare_exchange_weak(head, co, std::memory_order_seq_cst));
  remote_wakes_.fetch_add(1, std::memory_order_relaxed);
  if (sleeping_.exchange(false, std::memory_order_seq_cst)) poller_.wake();
}

void Scheduler::drain_inbox() {
  Coroutine* list = inbox_.exchange(nullptr, std::memory_order_acquire);
  Coroutine* fifo = nullptr;  // the inbox is a stack: reverse it
  while (list) {
    Coroutine* next = list->next_inbox_;
    list->next_inbox_ = fifo;
    fifo = list;
    list = next;
  }
  while (fifo) {
    Coroutine* next = fifo->next_inbox_;
    make_ready_local(fifo);
    fifo = next;
  }
}

void Scheduler::yield() {
  Coroutine* co = Coroutine::current();
  Scheduler* s = t_scheduler;
  if (!co || !s || co->home_ != s || is_dispatcher(co)) {
    sys::sched_yield();  // not libc's: the shim hooks sched_yield
    return;
  }
  s->make_ready_local(co);
  int saved_errno = errno;  // see park_coroutine
  s->switch_to_dispatcher(co);
  errno = saved_errno;
}

bool Scheduler::sleep_until(Deadline d) {
  Parker* me = Parker::current();
  me->begin_interruptible();
  while (now_ns() < d) {
    me->park_until(d);
    if (me->take_interrupt() != Parker::Interrupt::None) return false;  // sleeps never restart
  }
  return true;
}

void Scheduler::handler_enter() { t_handler_depth = t_handler_depth + 1; }
void Scheduler::handler_exit() { t_handler_depth = t_handler_depth - 1; }

void Scheduler::note_signal(bool restartable) {
  Scheduler* s = t_scheduler;
  if (!s) {
    // A plain thread: if it is asleep in a futex, the futex returns EINTR.
    Parker::current()->mark_interrupted(restartable);
    return;
  }
  // The carrier's main context is "the thread" the kernel delivered this to
  // (carriers other than the main thread's block process signals). It was
  // in a system call only if it is parked now; running code is interrupted
  // in nothing, as natively.
  Coroutine* m = s->signal_target_ ? s->signal_target_ : s->main_.get();
  if (Coroutine::current() == m || m->state_ != CoState::Parked) return;
  if (!restartable) s->signal_restart_ = 0;
  s->signal_victim_ = m;
  s->signal_park_seq_ = m->parker_.park_seq_;
  s->signal_seen_ = 1;
}

// Not in the handler: the dispatcher may itself have been interrupted in the
// middle of its queues. It ends main's wait here -- the same wait the signal
// found it in (a later one must not see a stale EINTR).
void Scheduler::deliver_signal_interrupt() {
  bool restart = signal_restart_;
  uint32_t seq = signal_park_seq_;
  Coroutine* victim = signal_victim_;
  signal_seen_ = 0;
  signal_restart_ = 1;
  if (victim && victim->state_ == CoState::Parked && victim->parker_.park_seq_ == seq) {
    victim->parker_.mark_interrupted(restart);
    victim->parker_.unpark();
  }
}

// ---- the dispatcher -------------------------------------------------------------

void Scheduler::dispatcher_entry(void* self) {
  static_cast<Scheduler*>(self)->dispatch_loop();
  std::abort();  // the loop never ends
}

void Scheduler::run_one(Coroutine* co) {
  CarrierCounters::bump(counters_->switches);
  heartbeat_.enter(co);
  if (co == main_.get()) {
    co->state_ = CoState::Running;
    Coroutine::yield();  // back to main, which resumed us
    heartbeat_.leave();
    return;
  }
  co->resume();
  heartbeat_.leave();
  if (co->state_ == CoState::Finished) on_finished(co);
}

void Scheduler::dispatch_loop() {
  heartbeat_.leave();  // first entry: main parked
  for (;;) {
    drain_inbox();
    // Run what is ready now; what they make ready waits for the next round,
    // after epoll had its chance.
    Coroutine* last = ready_tail_;
    while (Coroutine* co = ready_head_) {
      ready_head_ = co->next_ready_;
      if (!ready_head_) ready_tail_ = nullptr;
      bool was_last = co == last;
      run_one(co);
      if (was_last) break;
    }
    // A handler that ran on a coroutine may have found main in a wait.
    if (signal_seen_) deliver_signal_interrupt();
    bool busy = ready_head_ != nullptr;
    // The clock costs ~25 ns on a VM: while busy, read it every 16th pass.
    bool look = !busy || (++busy_passes_ & 15) == 0 || !timers_.empty();
    Nanos now = look ? now_ns() : last_poll_;
    if (!busy || now - last_poll_ >= kPollEvery) {
      Deadline until = busy ? 0 : timers_.next_deadline();
      if (!busy) {
        sleeping_.store(true, std::memory_order_seq_cst);
        if (inbox_.load(std::memory_order_seq_cst)) until = 0;
      }
      if (until) heartbeat_.begin_blocking_wait();
      poller_.poll(until);
      sleeping_.store(false, std::memory_order_relaxed);
      if (until) heartbeat_.end_blocking_wait();
      if (signal_seen_) deliver_signal_interrupt();
      CarrierCounters::bump(counters_->polls);
      now = last_poll_ = now_ns();
    }
    if (!timers_.empty()) timers_.expire(now);
  }
}

}  // namespace cohook
