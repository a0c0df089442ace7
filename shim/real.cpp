#include "real.h"

#include <dlfcn.h>

namespace cohook::real {

namespace {
// Is p inside libcohook.so itself? dladdr of one of our own functions gives
// our load address.
bool in_ourselves(void* p) {
  static void* our_base = [] {
    Dl_info me;
    return dladdr(reinterpret_cast<void*>(&resolve_all), &me) ? me.dli_fbase : nullptr;
  }();
  Dl_info i;
  return p && our_base && dladdr(p, &i) && i.dli_fbase == our_base;
}

// RTLD_NEXT finds the definition after ours in the lookup order: libc's.
// If it finds ours (libcohook preloaded twice, odd link orders) or nothing,
// ask libc directly, so a hook can never end up calling itself.
void* lookup(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p || in_ourselves(p)) {
    void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    p = libc ? dlsym(libc, name) : nullptr;
  }
  return in_ourselves(p) ? nullptr : p;
}
}  // namespace

#define COHOOK_DEFINE_REAL(name)                                     \
  name##_t name##_fn = nullptr;                                      \
  name##_t resolve_##name() {                                        \
    auto f = reinterpret_cast<name##_t>(lookup(#name));              \
    __atomic_store_n(&name##_fn, f, __ATOMIC_RELAXED);               \
    return f;                                                        \
  }
COHOOK_FOR_EACH_REAL(COHOOK_DEFINE_REAL)
#undef COHOOK_DEFINE_REAL

void* lookup_symbol(const char* name) { return lookup(name); }

void resolve_all() {
#define COHOOK_RESOLVE(name) resolve_##name();
  COHOOK_FOR_EACH_REAL(COHOOK_RESOLVE)
#undef COHOOK_RESOLVE
}

}  // namespace cohook::real
