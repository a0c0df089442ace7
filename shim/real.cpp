#include "real.h"

#include <dlfcn.h>

namespace cohook::real {

namespace {
// RTLD_NEXT finds the definition after ours in the lookup order: libc's.
// If it finds ours (libcohook preloaded twice, odd link orders) or nothing,
// ask libc directly so a hook can never call itself.
void* lookup(const char* name, void* self) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p || (self && p == self)) {
    void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    p = libc ? dlsym(libc, name) : nullptr;
  }
  return self && p == self ? nullptr : p;
}
}  // namespace

// `self` is our own definition (hooked symbols) or nullptr (plain ones, for
// which &::name is libc's own address).
#define COHOOK_DEFINE_REAL(name, self)                                  \
  name##_t name##_fn = nullptr;                                         \
  name##_t resolve_##name() {                                           \
    auto f = reinterpret_cast<name##_t>(lookup(#name, self));           \
    __atomic_store_n(&name##_fn, f, __ATOMIC_RELAXED);                  \
    return f;                                                           \
  }
#define COHOOK_DEFINE_HOOKED(name) COHOOK_DEFINE_REAL(name, reinterpret_cast<void*>(&::name))
#define COHOOK_DEFINE_PLAIN(name) COHOOK_DEFINE_REAL(name, nullptr)
COHOOK_FOR_EACH_HOOKED(COHOOK_DEFINE_HOOKED)
COHOOK_FOR_EACH_PLAIN(COHOOK_DEFINE_PLAIN)
#undef COHOOK_DEFINE_HOOKED
#undef COHOOK_DEFINE_PLAIN
#undef COHOOK_DEFINE_REAL

void resolve_all() {
#define COHOOK_RESOLVE(name) resolve_##name();
  COHOOK_FOR_EACH_REAL(COHOOK_RESOLVE)
#undef COHOOK_RESOLVE
}

}  // namespace cohook::real
