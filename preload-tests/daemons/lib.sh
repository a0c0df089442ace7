# preload-tests/daemons/lib.sh: sourced by the daemon smoke tests (one script
# per daemon, run by meson, suite 'daemons') and the tracing tests (suite
# 'tracing'). Each script runs the stock daemon natively, then under
# LD_PRELOAD=libcohook.so, with the same config, load and checks, and prints
# one "ROW ..." line per mode for docs/compatibility.md.
#
# Exit status: 0 pass, 1 fail, 77 skip (meson's convention; say why first).
# A shim failure counts only when the native run of the same step passed.
set -uo pipefail

D_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${COHOOK_LIB:=$D_ROOT/build/shim/libcohook.so}"
D_TMP="$(mktemp -d /tmp/cohook-daemon.XXXXXX)"
chmod 755 "$D_TMP"
D_PIDS=()        # process groups we started, killed on exit
D_FAILED=0

d_log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
d_fail() { printf 'FAIL: %s\n' "$*"; D_FAILED=1; }
d_skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

d_cleanup() {
  local pg
  for pg in "${D_PIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
  if ((D_FAILED)) || [[ -n "${D_KEEP:-}" ]]; then echo "logs kept in $D_TMP"; else rm -rf "$D_TMP"; fi
}
trap d_cleanup EXIT

# d_need CMD...: skip (with the reason) when a command is missing.
d_need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || d_skip "$c is not installed (scripts/test installs it)"; done
}

# d_free_port: a TCP port nothing listens on at 127.0.0.1.
d_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# d_preload_env MODE: the environment words `env` needs for MODE (native|shim).
# The stall watchdog reports carriers away for D_STALL_MS (default 1000):
# with the default 100 ms, on the shared 2-CPU CI machine running two tests
# and their load clients, a carrier the kernel preempts -- or one waiting for
# malloc's lock held by a preempted carrier -- was reported now and then
# without any fault of the daemon (CI: tinyproxy, http.server). A report
# still fails the test (d_scan_log); preload-tests/stall_test.cpp checks the
# 100 ms default on purpose-made stalls.
d_preload_env() {
  if [[ $1 == shim ]]; then
    local pre="$COHOOK_LIB"
    [[ -n "${COHOOK_SANITIZER_RUNTIME:-}" ]] && pre="$pre:$COHOOK_SANITIZER_RUNTIME"
    echo "LD_PRELOAD=$pre"
    [[ -z "${COHOOK_STALL_MS:-}" ]] && echo "COHOOK_STALL_MS=${D_STALL_MS:-1000}"
  fi
  return 0
}

# d_start MODE NAME CMD...: start CMD in its own process group, with the shim
# preloaded when MODE=shim; output to $D_TMP/NAME.MODE.log. Sets D_PID.
d_start() {
  local mode="$1" name="$2"; shift 2
  local log="$D_TMP/$name.$mode.log"
  # shellcheck disable=SC2046
  setsid env $(d_preload_env "$mode") "$@" >"$log" 2>&1 </dev/null &
  D_PID=$!
  D_PIDS+=("$D_PID")
  d_log "$mode: started $name (pid $D_PID): $*"
}

# d_wait_port PORT PID [SECONDS]: wait until 127.0.0.1:PORT accepts a
# connection while PID stays alive. Fails if PID dies or time runs out.
d_wait_port() {
  local port="$1" pid="$2" limit="${3:-30}" t0=$SECONDS
  while ((SECONDS - t0 < limit)); do
    kill -0 "$pid" 2>/dev/null || { d_fail "pid $pid died before port $port opened"; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  d_fail "port $port not open after ${limit}s"
  return 1
}

# d_threads PID: OS threads of PID and all its descendants.
d_threads() {
  local pid="$1" n=0 c
  n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do n=$((n + $(d_threads "$c"))); done
  echo "$n"
}

# d_stop PID [SIGNAL] [SECONDS]: signal PID, wait for its exit (bounded),
# KILL the group if it does not stop. Returns 0 for a clean stop.
d_stop() {
  local pid="$1" sig="${2:-TERM}" limit="${3:-15}" t0=$SECONDS
  kill "-$sig" "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < limit)); do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null
    d_fail "pid $pid did not stop within ${limit}s of SIG$sig"
    return 1
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# d_scan_log FILE [EXTRA_REGEX]: fail on error lines (and cohook warnings of
# native blocking or stalls) in a daemon's log.
d_scan_log() {
  local file="$1" extra="${2:-}" re='(^|[^a-z])(error|fatal|panic|segfault|AddressSanitizer)|cohook\[[0-9]+\]: .*(stall|blocks its thread)'
  [[ -n "$extra" ]] && re="$re|$extra"
  if grep -Eiq "$re" "$file" 2>/dev/null; then
    d_fail "errors in $(basename "$file"):"
    grep -Ei "$re" "$file" | head -5
    return 1
  fi
}

# d_row KEY=VALUE...: one machine-readable result line.
d_row() { echo "ROW $*"; }

# d_finish: exit with the verdict.
d_finish() {
  if ((D_FAILED)); then echo "RESULT: FAIL"; exit 1; fi
  echo "RESULT: PASS"; exit 0
}

# Debian's python3 itself: a python3 earlier in PATH may be a wrapper script
# (pyenv's shim is a bash script) that would run under the shim too.
D_PYTHON=/usr/bin/python3

# d_start_python_http MODE PORT DIR: python's ThreadingHTTPServer (thread per
# connection, backlog 1024: python_http_server.py) serving DIR on
# 127.0.0.1:PORT, log $D_TMP/python_http.MODE.log. Waits until it accepts;
# sets D_PID; returns 1 (after d_fail) if it does not come up.
d_start_python_http() {
  local mode="$1" port="$2" dir="$3"
  d_start "$mode" python_http "$D_PYTHON" "$D_ROOT/preload-tests/daemons/python_http_server.py" "$port" "$dir"
  d_wait_port "$port" "$D_PID"
}

# d_stop_python_http MODE PID: stop the server d_start_python_http started in
# MODE; a Python traceback in its log is a failure.
d_stop_python_http() {
  d_stop "$2"
  d_scan_log "$D_TMP/python_http.$1.log" 'Traceback|Exception'
}

# d_start_tinyproxy MODE PORT BACKEND_PORT: tinyproxy (thread per connection)
# on 127.0.0.1:PORT as a forward proxy for the HTTP server already listening
# on 127.0.0.1:BACKEND_PORT (drive it with `ab -X 127.0.0.1:PORT`). Its own log
# is $D_TMP/tinyproxy.MODE.file.log (stderr: tinyproxy.MODE.log). Waits until
# a request through it reaches the backend; sets D_PID; returns 1 on failure.
d_start_tinyproxy() {
  local mode="$1" port="$2" backend="$3" t0=$SECONDS
  local conf="$D_TMP/tinyproxy.$mode.conf" log="$D_TMP/tinyproxy.$mode.file.log"
  : >"$log" && chown nobody:nogroup "$log"   # opened after it drops to nobody
  cat >"$conf" <<CONF
User nobody
Group nogroup
Port $port
Listen 127.0.0.1
MaxClients 1000
Allow 127.0.0.1
LogFile "$log"
LogLevel Notice
CONF
  d_start "$mode" tinyproxy tinyproxy -d -c "$conf"
  d_wait_port "$port" "$D_PID" || return 1
  while ! curl -sf -o /dev/null -x "127.0.0.1:$port" "http://127.0.0.1:$backend/"; do
    kill -0 "$D_PID" 2>/dev/null || { d_fail "tinyproxy died"; return 1; }
    ((SECONDS - t0 < 30)) || { d_fail "no reply through tinyproxy to port $backend in 30s"; return 1; }
    sleep 0.1
  done
}
