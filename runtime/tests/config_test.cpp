#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config.h"

using namespace cohook;

namespace {
std::map<std::string, std::string> g_env;
const char* fake_env(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
}  // namespace

TEST(Config, ParsesSizes) {
  size_t v;
  EXPECT_TRUE(parse_size("65536", v));
  EXPECT_EQ(v, 65536u);
  EXPECT_TRUE(parse_size("64k", v));
  EXPECT_EQ(v, 65536u);
  EXPECT_TRUE(parse_size("1M", v));
  EXPECT_EQ(v, 1u << 20);
  EXPECT_TRUE(parse_size("256KB", v));
  EXPECT_EQ(v, 256u << 10);
  for (const char* bad : {"", "k", "-1", "+5", " 64k", "64k ", "64q", "1.5m", "64kk", "99999999999999999999"})
    EXPECT_FALSE(parse_size(bad, v)) << bad;
}

TEST(Config, DefaultsWhenUnset) {
  g_env.clear();
  Config c;
  char err[256] = "";
  ASSERT_TRUE(load_config(c, err, sizeof err, fake_env));
  EXPECT_EQ(c.stack_size, 128u * 1024);
  EXPECT_EQ(c.shared_stack_slots(), 0u);
  EXPECT_EQ(c.io_timeout_ms, 0u);  // no default timeout, unlike libco's 1 s
  EXPECT_FALSE(c.disable);
}

TEST(Config, ReadsEveryVariable) {
  g_env = {{"COHOOK_STACK_SIZE", "256k"},
           {"COHOOK_STACK_CACHE", "10"},
           {"COHOOK_STACK_MODE", "shared"},
           {"COHOOK_SHARED_STACKS", "8"},
           {"COHOOK_SHARED_STACK_SIZE", "1m"},
           {"COHOOK_CARRIERS", "3"},
           {"COHOOK_IO_TIMEOUT_MS", "2500"},
           {"COHOOK_CONNECT_TIMEOUT_MS", "700"},
           {"COHOOK_THREADS", "native"},
           {"COHOOK_LOG", "debug"},
           {"COHOOK_STATS", "/tmp/cohook.stats"},
           {"COHOOK_STALL_MS", "250"},
           {"COHOOK_FILE_IO", "offload"},
           {"COHOOK_NATIVE_THREADS", "io_handler,my_ns::worker"},
           {"COHOOK_DISABLE", "1"}};
  Config c;
  char err[256] = "";
  ASSERT_TRUE(load_config(c, err, sizeof err, fake_env)) << err;
  EXPECT_EQ(c.stack_size, 256u << 10);
  EXPECT_EQ(c.stack_cache, 10u);
  EXPECT_EQ(c.shared_stack_slots(), 8u);
  EXPECT_EQ(c.shared_stack_size, 1u << 20);
  EXPECT_EQ(c.carriers, 3u);
  EXPECT_EQ(c.io_timeout_ms, 2500u);
  EXPECT_EQ(c.connect_timeout_ms, 700u);
  EXPECT_EQ(c.threads, ThreadMode::Native);
  EXPECT_EQ(c.log, LogLevel::Debug);
  EXPECT_STREQ(c.stats, "/tmp/cohook.stats");
  EXPECT_EQ(c.stall_ms, 250u);
  EXPECT_EQ(c.file_io, FileIoMode::Offload);
  EXPECT_STREQ(c.native_threads, "io_handler,my_ns::worker");
  EXPECT_TRUE(c.disable);
}

TEST(Config, MalformedValueIsOneLineNamingVariableAndForm) {
  g_env = {{"COHOOK_STACK_SIZE", "12q"}};
  Config c;
  char err[256] = "";
  EXPECT_FALSE(load_config(c, err, sizeof err, fake_env));
  EXPECT_STREQ(err,
               "cohook: COHOOK_STACK_SIZE=\"12q\" is invalid: expected a size like 65536, 64k or 1m "
               "(16k..256m)");
  g_env = {{"COHOOK_STACK_SIZE", "4k"}};  // out of range counts as malformed
  EXPECT_FALSE(load_config(c, err, sizeof err, fake_env));
  g_env = {{"COHOOK_SHARED_STACKS", "many"}};
  EXPECT_FALSE(load_config(c, err, sizeof err, fake_env));
  EXPECT_NE(std::string(err).find("COHOOK_SHARED_STACKS"), std::string::npos);
  EXPECT_EQ(std::string(err).find('\n'), std::string::npos);
  for (auto [var, bad] : std::initializer_list<std::pair<const char*, const char*>>{
           {"COHOOK_STACK_MODE", "copy"}, {"COHOOK_THREADS", "green"}, {"COHOOK_LOG", "loud"},
           {"COHOOK_DISABLE", "yes"}, {"COHOOK_STATS", "relative/path"}, {"COHOOK_CARRIERS", "-1"},
           {"COHOOK_IO_TIMEOUT_MS", "1s"}, {"COHOOK_STALL_MS", "100ms"}, {"COHOOK_FILE_IO", "async"},
           {"COHOOK_NATIVE_THREADS", "a, b"}}) {
    g_env = {{var, bad}};
    EXPECT_FALSE(load_config(c, err, sizeof err, fake_env)) << var;
    EXPECT_NE(std::string(err).find(var), std::string::npos) << err;
  }
}
