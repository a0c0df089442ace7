// Name resolution: getaddrinfo, getnameinfo, gethostbyname(2), gethostbyaddr
// and their _r forms. libc's resolver talks to the name server on sockets of
// its own through internal calls the shim never sees, so a lookup would
// block its carrier for as long as the server takes. Each lookup runs on the
// offload pool instead; the caller parks.
//
// Results are as native: getaddrinfo's list and the non-reentrant calls'
// static hostent come from libc itself (so gethostbyname is exactly as
// thread-unsafe as natively). Outputs into the caller's own buffers are
// copied through the heap, because the caller's stack may be a copy stack
// (see shim/wait.cpp); the _r forms, whose results point into the caller's
// buffer, run on the pool only for callers on a private stack and otherwise
// block as natively.
#include <netdb.h>
#include <resolv.h>

#include <cstring>
#include <mutex>

#include "hook.h"
#include "offloaded.h"

using namespace cohook;
using namespace cohook::shim;

namespace {


// A string argument copied to the heap for the pool thread (nullptr stays).
struct HeapStr {
  char* s = nullptr;
  explicit HeapStr(const char* from) : s(from ? strdup(from) : nullptr) {}
  ~HeapStr() { free(s); }
  bool ok(const char* from) const { return !from || s; }
};

// Numeric-only conversions consult no name server: run them in place. A
// fork-per-connection server (busybox httpd) formats each peer's address
// with getnameinfo(NI_NUMERICHOST) in every child, which would otherwise
// start an offload thread per connection.
bool numeric_only(const char* node, const char* service, const addrinfo* hints) {
  int f = hints ? hints->ai_flags : 0;
  return (!node || (f & AI_NUMERICHOST)) && (!service || (f & AI_NUMERICSERV));
}

bool numeric_only(const char* host, socklen_t hostlen, const char* serv, socklen_t servlen, int flags) {
  return (!host || !hostlen || (flags & NI_NUMERICHOST)) && (!serv || !servlen || (flags & NI_NUMERICSERV));
}

bool on_private_stack() {
  Coroutine* co = Coroutine::current();
  return co && !co->on_shared_stack();
}

}  // namespace

COHOOK_HOOK int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  using fn_t = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static auto real = next<fn_t>("getaddrinfo");
  if (!may_offload() || numeric_only(node, service, hints)) return real(node, service, hints, res);
  HeapStr n(node), s(service);
  if (!n.ok(node) || !s.ok(service)) return real(node, service, hints, res);
  addrinfo h{};
  if (hints) h = *hints;
  const char *np = n.s, *sp = s.s;
  bool has_hints = hints != nullptr;
  struct Out {
    int r;
    addrinfo* list;
  };
  Out o = offloaded(ParkReason::Dns, [=] {
    Out x{};
    x.r = real(np, sp, has_hints ? &h : nullptr, &x.list);
    return x;
  });
  if (o.r == 0) *res = o.list;
  return o.r;
}

COHOOK_HOOK int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                            socklen_t servlen, int flags) {
  using fn_t = int (*)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int);
  static auto real = next<fn_t>("getnameinfo");
  if (!may_offload() || salen > sizeof(sockaddr_storage) || numeric_only(host, hostlen, serv, servlen, flags))
    return real(sa, salen, host, hostlen, serv, servlen, flags);
  struct Work {
    sockaddr_storage sa;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
  };
  auto* w = new (std::nothrow) Work;
  if (!w) return real(sa, salen, host, hostlen, serv, servlen, flags);
  std::memcpy(&w->sa, sa, salen);
  socklen_t hl = host ? std::min<socklen_t>(hostlen, sizeof w->host) : 0;
  socklen_t sl = serv ? std::min<socklen_t>(servlen, sizeof w->serv) : 0;
  int r = offloaded(ParkReason::Dns, [=] {
    return real(reinterpret_cast<const sockaddr*>(&w->sa), salen, hl ? w->host : nullptr, hl,
                sl ? w->serv : nullptr, sl, flags);
  });
  if (r == 0) {
    if (hl) std::memcpy(host, w->host, strnlen(w->host, hl - 1) + 1);
    if (sl) std::memcpy(serv, w->serv, strnlen(w->serv, sl - 1) + 1);
  }
  delete w;
  return r;
}

// The non-reentrant lookups return libc's own static hostent (h_errno is
// per OS thread: it is copied back to the caller's).
namespace {
template <class Call>
hostent* static_lookup(Call call) {
  struct Out {
    hostent* he;
    int herr;
  };
  Out o = offloaded(ParkReason::Dns, [=] {
    Out x{};
    x.he = call();
    x.herr = h_errno;
    return x;
  });
  h_errno = o.herr;
  return o.he;
}
}  // namespace

COHOOK_HOOK hostent* gethostbyname(const char* name) {
  using fn_t = hostent* (*)(const char*);
  static auto real = next<fn_t>("gethostbyname");
  HeapStr n(name);
  if (!may_offload() || !n.ok(name)) return real(name);
  const char* np = n.s;
  return static_lookup([=] { return real(np); });
}

COHOOK_HOOK hostent* gethostbyname2(const char* name, int af) {
  using fn_t = hostent* (*)(const char*, int);
  static auto real = next<fn_t>("gethostbyname2");
  HeapStr n(name);
  if (!may_offload() || !n.ok(name)) return real(name, af);
  const char* np = n.s;
  return static_lookup([=] { return real(np, af); });
}

COHOOK_HOOK hostent* gethostbyaddr(const void* addr, socklen_t len, int type) {
  using fn_t = hostent* (*)(const void*, socklen_t, int);
  static auto real = next<fn_t>("gethostbyaddr");
  if (!may_offload() || len > 16) return real(addr, len, type);
  struct Addr {
    unsigned char b[16];
  } a{};
  std::memcpy(a.b, addr, len);
  return static_lookup([=] { return real(a.b, len, type); });
}

// The _r forms fill the caller's buffer with pointers into it: the pool
// thread writes there directly, which is safe only on a private stack.
COHOOK_HOOK int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen, hostent** result,
                                int* h_errnop) {
  using fn_t = int (*)(const char*, hostent*, char*, size_t, hostent**, int*);
  static auto real = next<fn_t>("gethostbyname_r");
  if (!may_offload() || !on_private_stack()) return real(name, ret, buf, buflen, result, h_errnop);
  return offloaded(ParkReason::Dns, [=] { return real(name, ret, buf, buflen, result, h_errnop); });
}

COHOOK_HOOK int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen, hostent** result,
                                 int* h_errnop) {
  using fn_t = int (*)(const char*, int, hostent*, char*, size_t, hostent**, int*);
  static auto real = next<fn_t>("gethostbyname2_r");
  if (!may_offload() || !on_private_stack()) return real(name, af, ret, buf, buflen, result, h_errnop);
  return offloaded(ParkReason::Dns, [=] { return real(name, af, ret, buf, buflen, result, h_errnop); });
}

COHOOK_HOOK int gethostbyaddr_r(const void* addr, socklen_t len, int type, hostent* ret, char* buf, size_t buflen,
                                hostent** result, int* h_errnop) {
  using fn_t = int (*)(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*);
  static auto real = next<fn_t>("gethostbyaddr_r");
  if (!may_offload() || !on_private_stack()) return real(addr, len, type, ret, buf, buflen, result, h_errnop);
  return offloaded(ParkReason::Dns, [=] { return real(addr, len, type, ret, buf, buflen, result, h_errnop); });
}

// ---- res_query & co. -----------------------------------------------------------------
//
// They use the calling thread's resolver state (_res): the options, name
// servers and search list the program may have set after res_init(). On the
// pool each runs as its res_n* form with the caller's state (initialised
// here first if the program never did, as libc would), so those settings
// apply as natively; h_errno is copied back. The res_n* forms get the
// program's own state pointer. glibc 2.34 moved them into libc as
// res_query@GLIBC_2.34...; programs linked before call __res_query &
// co.@GLIBC_2.2.5, hooked too (both names share the code).
namespace {

using nquery_t = int (*)(res_state, const char*, int, int, unsigned char*, int);
using nquerydomain_t = int (*)(res_state, const char*, const char*, int, int, unsigned char*, int);
using nsend_t = int (*)(res_state, const unsigned char*, int, unsigned char*, int);

nquery_t real_nquery() {
  static auto f = next<nquery_t>("res_nquery");
  return f;
}
nquery_t real_nsearch() {
  static auto f = next<nquery_t>("res_nsearch");
  return f;
}
nquerydomain_t real_nquerydomain() {
  static auto f = next<nquerydomain_t>("res_nquerydomain");
  return f;
}
nsend_t real_nsend() {
  static auto f = next<nsend_t>("res_nsend");
  return f;
}

// The caller's _res, initialised if it is not yet (nullptr if that fails).
res_state caller_state() {
  res_state s = __res_state();
  if (!(s->options & RES_INIT) && res_ninit(s) != 0) return nullptr;
  return s;
}

// One query at a time per resolver state: the coroutines of a carrier share
// its _res (thread-local storage is per carrier), which natively only its
// own thread uses. Striped; the lock parks.
Mutex& state_lock(res_state st) {
  static Mutex locks[16];
  return locks[(reinterpret_cast<uintptr_t>(st) >> 6) % 16];
}

// call(state, answer) on the pool; the answer buffer bounced through the
// heap when it is on a copy stack. Inline when the state itself is there.
template <class Call>
int resolver_call(res_state st, unsigned char* answer, int anslen, Call call) {
  if (!st || !may_offload() || on_copy_stack(st, sizeof *st) || anslen < 0) return call(st, answer);
  std::unique_lock<Mutex> hold(state_lock(st));
  unsigned char* heap = nullptr;
  if (on_copy_stack(answer, size_t(anslen))) {
    heap = static_cast<unsigned char*>(malloc(size_t(anslen ? anslen : 1)));
    if (!heap) return call(st, answer);
  }
  unsigned char* buf = heap ? heap : answer;
  struct Out {
    int r;
    int herr;
  };
  Out o = offloaded(ParkReason::Dns, [=] {
    Out x{};
    x.r = call(st, buf);
    x.herr = h_errno;
    return x;
  });
  int e = errno;
  hold.unlock();  // (may make a system call: before errno is restored)
  if (heap) {
    std::memcpy(answer, heap, size_t(anslen));  // a failed query may leave the reply's header there
    free(heap);
  }
  h_errno = o.herr;
  errno = e;
  return o.r;
}

int query(res_state st, const char* dname, int cls, int type, unsigned char* answer, int anslen, nquery_t real) {
  HeapStr d(dname);
  if (!d.ok(dname)) return real(st, dname, cls, type, answer, anslen);
  const char* dp = d.s;
  return resolver_call(st, answer, anslen,
                       [=](res_state s, unsigned char* a) { return real(s, dp, cls, type, a, anslen); });
}

int querydomain(res_state st, const char* name, const char* domain, int cls, int type, unsigned char* answer,
                int anslen) {
  HeapStr n(name), d(domain);
  if (!n.ok(name) || !d.ok(domain)) return real_nquerydomain()(st, name, domain, cls, type, answer, anslen);
  const char *np = n.s, *dp = d.s;
  return resolver_call(st, answer, anslen, [=](res_state s, unsigned char* a) {
    return real_nquerydomain()(s, np, dp, cls, type, a, anslen);
  });
}

int resolver_send(res_state st, const unsigned char* msg, int msglen, unsigned char* answer, int anslen) {
  if (msglen < 0) return real_nsend()(st, msg, msglen, answer, anslen);
  auto* m = static_cast<unsigned char*>(malloc(size_t(msglen ? msglen : 1)));
  if (!m) return real_nsend()(st, msg, msglen, answer, anslen);
  std::memcpy(m, msg, size_t(msglen));
  int r = resolver_call(st, answer, anslen,
                        [=](res_state s, unsigned char* a) { return real_nsend()(s, m, msglen, a, anslen); });
  ErrnoGuard keep;
  free(m);
  return r;
}

}  // namespace

// The forms on the caller's _res: libc's own call where nothing can be
// offloaded (or _res cannot be initialised), so it behaves exactly as native.
using query_t = int (*)(const char*, int, int, unsigned char*, int);
COHOOK_HOOK int res_query(const char* dname, int cls, int type, unsigned char* answer, int anslen) noexcept {
  static auto real = next<query_t>("res_query");
  res_state st = may_offload() ? caller_state() : nullptr;
  if (!st) return real(dname, cls, type, answer, anslen);
  return query(st, dname, cls, type, answer, anslen, real_nquery());
}
COHOOK_HOOK int res_search(const char* dname, int cls, int type, unsigned char* answer, int anslen) noexcept {
  static auto real = next<query_t>("res_search");
  res_state st = may_offload() ? caller_state() : nullptr;
  if (!st) return real(dname, cls, type, answer, anslen);
  return query(st, dname, cls, type, answer, anslen, real_nsearch());
}
COHOOK_HOOK int res_querydomain(const char* name, const char* domain, int cls, int type, unsigned char* answer,
                                int anslen) noexcept {
  using fn_t = int (*)(const char*, const char*, int, int, unsigned char*, int);
  static auto real = next<fn_t>("res_querydomain");
  res_state st = may_offload() ? caller_state() : nullptr;
  if (!st) return real(name, domain, cls, type, answer, anslen);
  return querydomain(st, name, domain, cls, type, answer, anslen);
}
COHOOK_HOOK int res_send(const unsigned char* msg, int msglen, unsigned char* answer, int anslen) noexcept {
  using fn_t = int (*)(const unsigned char*, int, unsigned char*, int);
  static auto real = next<fn_t>("res_send");
  res_state st = may_offload() ? caller_state() : nullptr;
  if (!st) return real(msg, msglen, answer, anslen);
  return resolver_send(st, msg, msglen, answer, anslen);
}
COHOOK_HOOK int res_nquery(res_state st, const char* dname, int cls, int type, unsigned char* answer,
                           int anslen) noexcept {
  return query(st, dname, cls, type, answer, anslen, real_nquery());
}
COHOOK_HOOK int res_nsearch(res_state st, const char* dname, int cls, int type, unsigned char* answer,
                            int anslen) noexcept {
  return query(st, dname, cls, type, answer, anslen, real_nsearch());
}
COHOOK_HOOK int res_nquerydomain(res_state st, const char* name, const char* domain, int cls, int type,
                                 unsigned char* answer, int anslen) noexcept {
  return querydomain(st, name, domain, cls, type, answer, anslen);
}
COHOOK_HOOK int res_nsend(res_state st, const unsigned char* msg, int msglen, unsigned char* answer,
                          int anslen) noexcept {
  return resolver_send(st, msg, msglen, answer, anslen);
}

// The names programs linked against glibc < 2.34 call (its resolv.h
// #defined res_query as __res_query...).
extern "C" {
int __res_query(const char*, int, int, unsigned char*, int);
int __res_search(const char*, int, int, unsigned char*, int);
int __res_querydomain(const char*, const char*, int, int, unsigned char*, int);
int __res_send(const unsigned char*, int, unsigned char*, int);
}
COHOOK_HOOK int __res_query(const char* dname, int cls, int type, unsigned char* answer, int anslen) {
  return res_query(dname, cls, type, answer, anslen);
}
COHOOK_HOOK int __res_search(const char* dname, int cls, int type, unsigned char* answer, int anslen) {
  return res_search(dname, cls, type, answer, anslen);
}
COHOOK_HOOK int __res_querydomain(const char* name, const char* domain, int cls, int type, unsigned char* answer,
                                  int anslen) {
  return res_querydomain(name, domain, cls, type, answer, anslen);
}
COHOOK_HOOK int __res_send(const unsigned char* msg, int msglen, unsigned char* answer, int anslen) {
  return res_send(msg, msglen, answer, anslen);
}
