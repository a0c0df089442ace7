#include "coroutine.h"

#include <pthread.h>

#include <cstdlib>
#include <cstring>

#include "context.h"

namespace cohook {

namespace {
thread_local Coroutine* t_current = nullptr;
std::atomic<uint64_t> g_next_id{1};

// Bounds of the OS thread's own stack, for ASan's bookkeeping.
StackBounds thread_stack_bounds() {
  thread_local StackBounds b = [] {
    StackBounds r;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
      void* lo;
      size_t sz;
      pthread_attr_getstack(&a, &lo, &sz);
      r.bottom = lo;
      r.size = sz;
      pthread_attr_destroy(&a);
    }
    return r;
  }();
  return b;
}

// Stack copies must not be checked by ASan: they read frames with redzones.
__attribute__((no_sanitize("address"))) void copy_words(void* dst, const void* src, size_t n) {
  auto* d = static_cast<uint64_t*>(dst);
  auto* s = static_cast<const uint64_t*>(src);
  for (size_t i = 0; i < n / 8; ++i) d[i] = s[i];
}
}  // namespace

const char* to_string(CoState s) {
  switch (s) {
    case CoState::Created: return "created";
    case CoState::Ready: return "ready";
    case CoState::Running: return "running";
    case CoState::Parked: return "parked";
    case CoState::Finished: return "finished";
  }
  return "?";
}

Coroutine::Coroutine(Entry entry, void* arg)
    : entry_(entry), arg_(arg), id_(g_next_id.fetch_add(1, std::memory_order_relaxed)), parker_(this) {}

Coroutine::Coroutine(MainTag)
    : id_(g_next_id.fetch_add(1, std::memory_order_relaxed)), parker_(this) {
  state_ = CoState::Running;
  is_thread_main_ = true;
  std::strcpy(name_, "main");
}

Coroutine::~Coroutine() {
  std::free(saved_);
  if (user_free_) user_free_(user_);
}

Coroutine* Coroutine::current() { return t_current; }
void Coroutine::set_current(Coroutine* co) { t_current = co; }

void Coroutine::set_name(const char* n) {
  std::strncpy(name_, n ? n : "", sizeof(name_) - 1);
  name_[sizeof(name_) - 1] = 0;
}

size_t Coroutine::stack_size() const { return stack().usable(); }

bool Coroutine::use_private_stack(StackPool& pool, size_t size) {
  if (!pool.acquire(stack_, size)) return false;
  sp_ = cohook_make_context(stack_.top(), &Coroutine::start, this);
  return true;
}

void Coroutine::use_shared_stack(SharedStack* slot) { shared_ = slot; }

void Coroutine::release_stack(StackPool& pool) {
  if (shared_) {
    if (shared_->owner == this) shared_->owner = nullptr;
    std::free(saved_);
    saved_ = nullptr;
    saved_size_ = saved_cap_ = 0;
    return;
  }
  pool.release(stack_);
}

StackBounds Coroutine::bounds() const {
  if (is_thread_main_) return thread_stack_bounds();
  const Stack& s = stack();
  return {s.limit(), s.usable()};
}

// Copy the slot's current owner out, and this coroutine's saved bytes in.
void Coroutine::swap_into_shared_slot() {
  if (shared_->owner == this) return;
  // The slot's owner cannot be running: its stack is about to be overwritten.
  // (Under the Scheduler every resume comes from the dispatcher's own stack.)
  if (shared_->owner && shared_->owner == t_current) std::abort();
  if (Coroutine* old = shared_->owner) old->save_shared_slot();
  shared_->owner = this;
  char* top = shared_->stack.top();
  asan_unpoison(shared_->stack.limit(), shared_->stack.usable());
  if (!sp_) {  // first run (its state may already say Ready)
    sp_ = cohook_make_context(top, &Coroutine::start, this);
  } else if (saved_size_) {
    copy_words(top - saved_size_, saved_, saved_size_);
  }
}

void Coroutine::save_shared_slot() {
  char* top = shared_->stack.top();
  size_t used = size_t(top - static_cast<char*>(sp_));
  if (used > saved_cap_) {
    // Right-sized, with a little headroom so a stack that grows slowly is
    // not reallocated on every swap.
    size_t cap = (used + 255) & ~size_t(255);
    char* p = static_cast<char*>(std::realloc(saved_, cap));
    if (!p) std::abort();  // nowhere to put a live stack: cannot continue
    saved_ = p;
    saved_cap_ = cap;
  }
  copy_words(saved_, sp_, used);
  saved_size_ = used;
  shared_->owner = nullptr;
}

void Coroutine::resume() {
  if (shared_) swap_into_shared_slot();
  Coroutine* prev = t_current;
  resumer_bounds_ = prev ? prev->bounds() : thread_stack_bounds();
  state_ = CoState::Running;
  t_current = this;
  void* fake = nullptr;
  asan_before_switch(&fake, bounds());
  cohook_switch(&resumer_sp_, sp_, this);
  asan_after_switch(fake);
  t_current = prev;
}

void Coroutine::yield() {
  Coroutine* self = t_current;
  asan_before_switch(&self->asan_fake_, self->resumer_bounds_);
  cohook_switch(&self->sp_, self->resumer_sp_, nullptr);
  asan_after_switch(self->asan_fake_);
}

void Coroutine::start(void*, void* arg) {
  auto* self = static_cast<Coroutine*>(arg);
  asan_after_switch(nullptr);
  self->entry_(self->arg_);
  exit_current();
}

void Coroutine::exit_current() {
  Coroutine* self = t_current;
  if (!self || self->is_thread_main_) std::abort();  // a thread's own stack cannot end this way
  self->state_ = CoState::Finished;
  // Last switch: this stack is never resumed, so ASan may drop its fake frames.
  asan_before_switch(nullptr, self->resumer_bounds_);
  cohook_switch(&self->sp_, self->resumer_sp_, nullptr);
  __builtin_unreachable();
}

}  // namespace cohook
