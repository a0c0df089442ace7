// Symbolizer: the test program's own (non-exported) functions are named from
// .symtab, C++ names come demangled, offsets are from the function's start,
// shared-library functions name their library, unmapped addresses fail.
#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "symbolizer.h"

using namespace cohook;

// Not exported: this executable is not linked with -rdynamic, so dladdr()
// alone would not know these names.
extern "C" __attribute__((noinline)) int symbolizer_test_plain_c(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

namespace probe_ns {
__attribute__((noinline)) int twice(int x) {
  asm volatile("" ::: "memory");
  return x * 2;
}
}  // namespace probe_ns

namespace {
std::string sym(const void* pc) {
  char buf[512];
  symbolize(pc, buf, sizeof buf);
  return buf;
}
std::string fn(const void* pc) {
  char buf[512];
  function_name(pc, buf, sizeof buf);
  return buf;
}
const void* addr_of(int (*f)(int), uintptr_t plus = 0) {
  return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(f) + plus);
}
}  // namespace

TEST(Symbolizer, NamesProgramFunctionsThatAreNotExported) {
  EXPECT_EQ(fn(addr_of(&symbolizer_test_plain_c)), "symbolizer_test_plain_c");
  EXPECT_EQ(sym(addr_of(&symbolizer_test_plain_c)), "symbolizer_test_plain_c+0x0 (symbolizer_test)");
}

TEST(Symbolizer, OffsetIntoTheFunction) {
  EXPECT_EQ(sym(addr_of(&symbolizer_test_plain_c, 3)), "symbolizer_test_plain_c+0x3 (symbolizer_test)");
  EXPECT_EQ(fn(addr_of(&symbolizer_test_plain_c, 3)), "symbolizer_test_plain_c");
}

TEST(Symbolizer, DemanglesCxxNames) {
  EXPECT_EQ(fn(addr_of(&probe_ns::twice)), "probe_ns::twice(int)");
}

TEST(Symbolizer, SharedLibraryFunctionNamesItsLibrary) {
  auto pc = reinterpret_cast<const void*>(&getpid);
  std::string s = sym(pc);
  EXPECT_NE(s.find("getpid"), std::string::npos) << s;
  EXPECT_NE(s.find("(libc.so.6)"), std::string::npos) << s;
  char obj[128];
  ASSERT_TRUE(object_name(pc, obj, sizeof obj));
  EXPECT_STREQ(obj, "libc.so.6");
}

TEST(Symbolizer, UnmappedAddressFails) {
  char buf[64];
  EXPECT_FALSE(symbolize(reinterpret_cast<const void*>(uintptr_t(16)), buf, sizeof buf));
  EXPECT_STREQ(buf, "0x10");
  EXPECT_FALSE(function_name(nullptr, buf, sizeof buf));
  EXPECT_STREQ(buf, "");
  char obj[16];
  EXPECT_FALSE(object_name(nullptr, obj, sizeof obj));
}

TEST(Symbolizer, TruncatesToTheBuffer) {
  char buf[8];
  memset(buf, 'x', sizeof buf);
  EXPECT_TRUE(symbolize(addr_of(&symbolizer_test_plain_c), buf, sizeof buf));
  EXPECT_STREQ(buf, "symboli");
}

TEST(Symbolizer, RepeatedLookupsAgree) {
  // The second lookup comes from the per-object cache.
  std::string a = sym(addr_of(&probe_ns::twice, 1));
  std::string b = sym(addr_of(&probe_ns::twice, 1));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, "probe_ns::twice(int)+0x1 (symbolizer_test)");
}

TEST(Symbolizer, VdsoHasNoFileButIsNamed) {
  auto base = reinterpret_cast<const char*>(getauxval(AT_SYSINFO_EHDR));
  if (!base) GTEST_SKIP() << "no vdso";
  char obj[64];
  ASSERT_TRUE(object_name(base, obj, sizeof obj));
  EXPECT_STREQ(obj, "linux-vdso.so.1");
  char buf[128];
  EXPECT_TRUE(symbolize(base, buf, sizeof buf));
  EXPECT_NE(std::string(buf).find("(linux-vdso.so.1"), std::string::npos) << buf;
}
