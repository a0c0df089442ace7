// cohook: run a program with libcohook.so preloaded, or read the counters of
// one that runs with COHOOK_STATS.
//
//   cohook run [options] [--] PROG [ARGS...]
//   cohook stats PID
//
// Options become COHOOK_* variables (see docs/env-vars.md); LD_PRELOAD
// gets the library's absolute path in front of whatever it already held. The
// values are checked here with the same parser the library uses, so a typo is
// reported before the program starts.
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "config.h"
#include "stats_socket.h"

namespace {

const char* kUsage =
    "usage: cohook run [options] [--] PROG [ARGS...]\n"
    "       cohook stats PID\n"
    "       cohook --help | --version\n"
    "\n"
    "Runs PROG with libcohook.so preloaded: its blocking threads become coroutines.\n"
    "`cohook stats PID` prints the counters of a process started with COHOOK_STATS.\n"
    "\n"
    "options (each sets the COHOOK_* variable named; see docs/env-vars.md):\n"
    "  --stack-size SIZE        COHOOK_STACK_SIZE         coroutine stack, e.g. 64k, 1m\n"
    "  --stack-mode MODE        COHOOK_STACK_MODE         private or shared\n"
    "  --stack-max SIZE         COHOOK_STACK_MAX          largest stack a thread attr may ask for\n"
    "  --carriers N             COHOOK_CARRIERS           carrier threads (0 = one per CPU)\n"
    "  --offload-threads N      COHOOK_OFFLOAD_THREADS    threads for calls that cannot park\n"
    "  --io-timeout MS          COHOOK_IO_TIMEOUT_MS      cap on any blocking read/write\n"
    "  --connect-timeout MS     COHOOK_CONNECT_TIMEOUT_MS cap on a blocking connect\n"
    "  --threads MODE           COHOOK_THREADS            coroutine or native\n"
    "  --log LEVEL              COHOOK_LOG                off, error, warn, info, debug\n"
    "  --stats[=FILE]           COHOOK_STATS              counters at exit (stderr or FILE)\n"
    "  --stall-ms MS            COHOOK_STALL_MS           report carriers stalled this long (0 = off)\n"
    "  --file-io MODE           COHOOK_FILE_IO            inline or offload (regular-file I/O)\n"
    "  --native-threads LIST    COHOOK_NATIVE_THREADS     thread names that stay OS threads\n"
    "  --disable                COHOOK_DISABLE=1          load, but pass every call through\n"
    "\n"
    "environment: COHOOK_LIBRARY overrides where libcohook.so is taken from.\n";

struct Flag {
  const char* option;
  const char* var;
};
const Flag kFlags[] = {
    {"--stack-size", "COHOOK_STACK_SIZE"},        {"--stack-mode", "COHOOK_STACK_MODE"},
    {"--stack-max", "COHOOK_STACK_MAX"},
    {"--carriers", "COHOOK_CARRIERS"},
    {"--offload-threads", "COHOOK_OFFLOAD_THREADS"},            {"--io-timeout", "COHOOK_IO_TIMEOUT_MS"},
    {"--connect-timeout", "COHOOK_CONNECT_TIMEOUT_MS"}, {"--threads", "COHOOK_THREADS"},
    {"--log", "COHOOK_LOG"},
    {"--stall-ms", "COHOOK_STALL_MS"},
    {"--file-io", "COHOOK_FILE_IO"},
    {"--native-threads", "COHOOK_NATIVE_THREADS"},
};

bool exists(const std::string& p) { return access(p.c_str(), R_OK) == 0; }

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string s(buf);
  return s.substr(0, s.rfind('/'));
}

// The library next to this launcher: in the build tree (build/launcher/cohook
// -> build/shim/libcohook.so) or installed (PREFIX/bin -> PREFIX/LIBDIR).
std::string find_library() {
  if (const char* env = std::getenv("COHOOK_LIBRARY")) return env;
  std::string dir = self_dir();
  for (std::string c : {dir + "/../shim/libcohook.so", dir + "/../" COHOOK_LIBDIR "/libcohook.so"}) {
    if (exists(c)) {
      char real[PATH_MAX];
      return realpath(c.c_str(), real) ? std::string(real) : c;
    }
  }
  return "";
}

[[noreturn]] void die(const char* msg, const char* arg = nullptr) {
  std::fprintf(stderr, "cohook: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
  std::exit(2);
}

// `cohook stats PID`: the process's line, from its live stats socket.
int stats(const char* arg) {
  char* end = nullptr;
  errno = 0;
  long pid = std::strtol(arg, &end, 10);
  if (errno || end == arg || *end || pid <= 0 || pid > INT_MAX) die("stats: not a process id:", arg);
  if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
    std::fprintf(stderr, "cohook: stats: no such process: %ld\n", pid);
    return 1;
  }
  sockaddr_un addr;
  socklen_t len = cohook::stats_socket_address(pid, addr);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("stats: socket:", std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    // An abstract name nobody listens on: ECONNREFUSED.
    std::fprintf(stderr, "cohook: stats: process %ld does not serve stats (not started with COHOOK_STATS, or not "
                 "under cohook): %s\n", pid, std::strerror(errno));
    return 1;
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fd);
  if (text.empty()) {
    // The process closes on a peer of another uid without a byte.
    struct stat st;
    std::string proc = "/proc/" + std::to_string(pid);
    if (stat(proc.c_str(), &st) == 0 && st.st_uid != geteuid())
      std::fprintf(stderr, "cohook: stats: permission denied: process %ld runs as uid %u, you are uid %u\n", pid,
                   unsigned(st.st_uid), unsigned(geteuid()));
    else
      std::fprintf(stderr, "cohook: stats: permission denied: process %ld answered nothing (only its own uid "
                   "may read its stats)\n", pid);
    return 1;
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("cohook %s\n", COHOOK_VERSION);
    return 0;
  }
  if (cmd == "stats") {
    if (argc != 3) die("usage: cohook stats PID");
    return stats(argv[2]);
  }
  if (cmd != "run") die("unknown command (try cohook --help):", argv[1]);

  int i = 2;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.rfind("--", 0) != 0) break;  // PROG
    if (a == "--disable") {
      setenv("COHOOK_DISABLE", "1", 1);
      continue;
    }
    if (a == "--stats") {
      setenv("COHOOK_STATS", "stderr", 1);
      continue;
    }
    if (a.rfind("--stats=", 0) == 0) {
      setenv("COHOOK_STATS", a.c_str() + 8, 1);
      continue;
    }
    const Flag* f = nullptr;
    std::string value;
    for (const Flag& x : kFlags) {
      std::string o = x.option;
      if (a == o) {
        if (i + 1 >= argc) die("option needs a value:", x.option);
        f = &x;
        value = argv[++i];
      } else if (a.rfind(o + "=", 0) == 0) {
        f = &x;
        value = a.substr(o.size() + 1);
      }
    }
    if (!f) die("unknown option (try cohook --help):", argv[i]);
    setenv(f->var, value.c_str(), 1);
  }
  if (i >= argc) die("no program to run (usage: cohook run [options] [--] PROG [ARGS...])");

  // Same check the library makes at start, so errors show before exec.
  cohook::Config config;
  char err[256];
  if (!cohook::load_config(config, err, sizeof err)) {
    std::fprintf(stderr, "%s\n", err);
    return 2;
  }

  std::string lib = find_library();
  if (lib.empty() || !exists(lib)) die("cannot find libcohook.so (set COHOOK_LIBRARY)");
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(" ") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);

  execvp(argv[i], argv + i);
  std::fprintf(stderr, "cohook: cannot run %s: %s\n", argv[i], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
