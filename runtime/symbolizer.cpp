#include "symbolizer.h"

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spinlock.h"
#include "sys.h"

namespace cohook {

namespace {

#if UINTPTR_MAX == 0xffffffffffffffffu
using Ehdr = Elf64_Ehdr;
using Shdr = Elf64_Shdr;
using Sym = Elf64_Sym;
inline unsigned sym_type(const Sym& s) { return ELF64_ST_TYPE(s.st_info); }
#else
using Ehdr = Elf32_Ehdr;
using Shdr = Elf32_Shdr;
using Sym = Elf32_Sym;
inline unsigned sym_type(const Sym& s) { return ELF32_ST_TYPE(s.st_info); }
#endif

// One symbol table of a mapped file.
struct Table {
  const Sym* syms = nullptr;
  size_t count = 0;
  const char* strs = nullptr;
  size_t strs_size = 0;
};

// One loaded object, identified by its load bias and first mapped address.
struct Object {
  uintptr_t bias = 0;
  uintptr_t lo = 0, hi = 0;  // the span of its PT_LOAD segments
  char path[256] = {};
  char display[128] = {};     // the file name shown (the program's own for the main one)
  bool loaded = false;        // the file was tried (tables may still be empty)
  const void* map = nullptr;  // the whole file, read-only
  size_t map_size = 0;
  Table symtab, dynsym;
};

// Objects are few (tens); a fixed table needs no allocation and is never
// freed, so a name handed out stays valid.
constexpr int kMaxObjects = 128;
Object g_objects[kMaxObjects];
int g_object_count = 0;
SpinLock g_lock;

struct Found {
  uintptr_t bias = 0, lo = 0, hi = 0;
  char path[256] = {};
  bool ok = false;
};

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// Copy with truncation, always NUL-terminated.
void copy_out(char* out, size_t n, const char* s) {
  if (!n) return;
  size_t len = strnlen(s, n - 1);
  memcpy(out, s, len);
  out[len] = 0;
}

int find_object(dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<Found*>(data);
  uintptr_t pc = f->lo;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool hit = false;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph.p_vaddr, b = a + ph.p_memsz;
    if (a < lo) lo = a;
    if (b > hi) hi = b;
    if (pc >= a && pc < b) hit = true;
  }
  if (!hit) return 0;
  f->bias = info->dlpi_addr;
  f->lo = lo;
  f->hi = hi;
  const char* name = info->dlpi_name;
  // The main program has an empty name; its file is /proc/self/exe.
  copy_out(f->path, sizeof f->path, name && *name ? name : "/proc/self/exe");
  f->ok = true;
  return 1;
}

bool in_file(size_t off, size_t len, size_t size) { return off <= size && len <= size - off; }

Table read_table(const uint8_t* base, size_t size, const Ehdr* eh, const Shdr* sh, unsigned type) {
  Table t;
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != type || sh[i].sh_entsize != sizeof(Sym)) continue;
    if (sh[i].sh_link >= eh->e_shnum) continue;
    const Shdr& str = sh[sh[i].sh_link];
    if (!in_file(sh[i].sh_offset, sh[i].sh_size, size) || !in_file(str.sh_offset, str.sh_size, size)) continue;
    t.syms = reinterpret_cast<const Sym*>(base + sh[i].sh_offset);
    t.count = sh[i].sh_size / sizeof(Sym);
    t.strs = reinterpret_cast<const char*>(base + str.sh_offset);
    t.strs_size = str.sh_size;
    break;
  }
  return t;
}

// Map the object's file and locate its symbol tables. Raw system calls: the
// shim hooks open/close, and this may run on any thread.
void load(Object& o) {
  o.loaded = true;
  if (o.path[0] != '/') {
    // The vdso has no file, but the kernel maps its whole image, section
    // headers included, from its first page.
    if (strncmp(o.path, "linux-vdso", 10) && strncmp(o.path, "linux-gate", 10)) return;
    auto* base = reinterpret_cast<const uint8_t*>(o.lo);
    size_t size = o.hi - o.lo;
    auto* eh = reinterpret_cast<const Ehdr*>(base);
    if (size < sizeof(Ehdr) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shentsize != sizeof(Shdr) ||
        !in_file(eh->e_shoff, size_t(eh->e_shnum) * sizeof(Shdr), size))
      return;
    auto* sh = reinterpret_cast<const Shdr*>(base + eh->e_shoff);
    o.symtab = read_table(base, size, eh, sh, SHT_SYMTAB);
    o.dynsym = read_table(base, size, eh, sh, SHT_DYNSYM);
    return;
  }
  long fd = sys::call6(SYS_openat, AT_FDCWD, long(o.path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  long r = sys::call6(SYS_fstat, fd, long(&st));
  if (r < 0 || st.st_size < long(sizeof(Ehdr))) {
    sys::close(int(fd));
    return;
  }
  size_t size = size_t(st.st_size);
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, int(fd), 0);
  sys::close(int(fd));
  if (m == MAP_FAILED) return;
  auto* base = static_cast<const uint8_t*>(m);
  auto* eh = reinterpret_cast<const Ehdr*>(base);
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shentsize != sizeof(Shdr) ||
      !in_file(eh->e_shoff, size_t(eh->e_shnum) * sizeof(Shdr), size)) {
    munmap(m, size);
    return;
  }
  auto* sh = reinterpret_cast<const Shdr*>(base + eh->e_shoff);
  o.map = m;
  o.map_size = size;
  o.symtab = read_table(base, size, eh, sh, SHT_SYMTAB);
  o.dynsym = read_table(base, size, eh, sh, SHT_DYNSYM);
}

// The object mapping pc, from the cache or added to it; nullptr if none.
Object* object_for(uintptr_t pc) {
  for (int i = 0; i < g_object_count; i++)
    if (pc >= g_objects[i].lo && pc < g_objects[i].hi) return &g_objects[i];
  Found f;
  f.lo = pc;
  dl_iterate_phdr(&find_object, &f);
  if (!f.ok) return nullptr;
  // A library unloaded and another loaded over its range: replace the entry.
  Object* o = nullptr;
  for (int i = 0; i < g_object_count && !o; i++)
    if (g_objects[i].lo < f.hi && f.lo < g_objects[i].hi) o = &g_objects[i];
  if (!o) {
    if (g_object_count == kMaxObjects) return nullptr;
    o = &g_objects[g_object_count++];
  } else if (o->map) {
    munmap(const_cast<void*>(o->map), o->map_size);
  }
  *o = Object{};
  o->bias = f.bias;
  o->lo = f.lo;
  o->hi = f.hi;
  memcpy(o->path, f.path, sizeof o->path);
  copy_out(o->display, sizeof o->display, base_name(o->path));
  if (!strcmp(o->path, "/proc/self/exe")) {
    // Name the program, not the link.
    char exe[256];
    long len = sys::call6(SYS_readlinkat, AT_FDCWD, long("/proc/self/exe"), long(exe), sizeof exe - 1);
    if (len > 0) {
      exe[len] = 0;
      copy_out(o->display, sizeof o->display, base_name(exe));
    }
  }
  load(*o);
  return o;
}

struct Hit {
  const char* name = nullptr;
  uintptr_t start = 0;
};

// The function symbol that contains off (an address minus the load bias):
// one with a size covering it, else the nearest one below with size 0.
void search(const Table& t, uintptr_t off, Hit& best) {
  for (size_t i = 0; i < t.count; i++) {
    const Sym& s = t.syms[i];
    unsigned type = sym_type(s);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    if (s.st_shndx == SHN_UNDEF || s.st_value == 0 || s.st_value > off) continue;
    if (s.st_name >= t.strs_size || !t.strs[s.st_name]) continue;
    if (s.st_size ? off >= s.st_value + s.st_size : false) continue;
    if (best.name && s.st_value <= best.start) continue;
    best.name = t.strs + s.st_name;
    best.start = s.st_value;
  }
}

// The demangled (when C++) name of a symbol into out.
void demangle_into(const char* name, char* out, size_t n) {
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status == 0 && d) {
      copy_out(out, n, d);
      free(d);
      return;
    }
    free(d);
  }
  copy_out(out, n, name);
}

struct Resolved {
  bool object = false;
  char display[128] = {};
  uintptr_t bias = 0;
  const char* name = nullptr;  // points into a kept file map
  uintptr_t start = 0;         // the symbol's address, biased
};

Resolved resolve(const void* pc) {
  Resolved r;
  auto a = reinterpret_cast<uintptr_t>(pc);
  SpinGuard g(g_lock);
  Object* o = object_for(a);
  if (!o) return r;
  r.object = true;
  memcpy(r.display, o->display, sizeof r.display);
  r.bias = o->bias;
  Hit h;
  search(o->symtab, a - o->bias, h);
  search(o->dynsym, a - o->bias, h);
  if (h.name) {
    r.name = h.name;
    r.start = h.start + o->bias;
  }
  return r;
}

}  // namespace

bool symbolize(const void* pc, char* out, size_t n) {
  Resolved r = resolve(pc);
  auto a = reinterpret_cast<uintptr_t>(pc);
  if (!r.object) {
    if (n) snprintf(out, n, "%#lx", static_cast<unsigned long>(a));
    return false;
  }
  const char* obj = r.display;
  if (!r.name) {
    if (n) snprintf(out, n, "%#lx (%s+%#lx)", static_cast<unsigned long>(a), obj, static_cast<unsigned long>(a - r.bias));
    return true;
  }
  char fn[512];
  demangle_into(r.name, fn, sizeof fn);
  if (n) snprintf(out, n, "%s+0x%lx (%s)", fn, static_cast<unsigned long>(a - r.start), obj);
  return true;
}

bool function_name(const void* pc, char* out, size_t n) {
  Resolved r = resolve(pc);
  if (!r.name) {
    copy_out(out, n, "");
    return false;
  }
  demangle_into(r.name, out, n);
  return true;
}

bool object_name(const void* pc, char* out, size_t n) {
  Resolved r = resolve(pc);
  copy_out(out, n, r.object ? r.display : "");
  return r.object;
}

}  // namespace cohook
