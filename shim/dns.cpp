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

#include <cstring>

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

bool on_private_stack() {
  Coroutine* co = Coroutine::current();
  return co && !co->on_shared_stack();
}

}  // namespace

COHOOK_HOOK int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  using fn_t = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static auto real = next<fn_t>("getaddrinfo");
  if (!may_offload()) return real(node, service, hints, res);
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
  if (!may_offload() || salen > sizeof(sockaddr_storage)) return real(sa, salen, host, hostlen, serv, servlen, flags);
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
