# preload-tests/daemons/trace_lib.sh: the tracing tests' tools (suite
# 'tracing'), sourced after lib.sh and http_common.sh. A tracing test proves
# that a thread-per-connection daemon really became coroutine-per-connection
# under the shim: during a load window (50 held connections plus ab) it traces
# the daemon with libbpf-tools and bpftrace, natively and under the shim, and
# checks both shapes -- the native one too, so a tool that sees nothing cannot
# make the shim look good.
#
# Tools (x86-64 Debian 12 kernel: BTF, tracepoints and uprobes; no kprobes):
#   syscount -p PID        clone/clone3 calls (clone3 counts twice per thread:
#                          the parent's and the child's return)
#   bpftrace               task:task_newtask of the daemon's tgid (new tasks,
#                          new threads); entry uprobes on libc's pthread_create
#                          (the shim's own threads -- start routine inside
#                          libcohook.so -- counted apart) and, under the shim,
#                          on libcohook.so's; and calls of the shim's
#                          sched_yield hook made from libcohook.so itself
#                          (return address inside it)
#   exitsnoop -T -p PID    thread exits
#   funclatency -p PID c:pthread_create   libc's pthread_create (entry+return)
#   offcputime -p PID      where the daemon waited (offcpu_split.py)
# funclatency cannot count the shim's pthread_create: its return uprobe never
# fires there (the call may switch to the new coroutine's stack before it
# returns, and the kernel drops return probes when the stack changes), so the
# program's calls are counted by bpftrace's entry uprobe.

T_HOLD_PID=''
T_TRACERS=()

# t_require: skip (exit 77) with the reason when BPF cannot run here; mount
# tracefs and debugfs when they are not (tracepoint tools need them).
t_require() {
  d_need syscount offcputime exitsnoop funclatency bpftrace ab stdbuf
  local cap
  cap=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  # CAP_SYS_ADMIN (21), or both CAP_PERFMON (38) and CAP_BPF (39).
  if ! (((0x$cap >> 21 & 1) || ((0x$cap >> 38 & 1) && (0x$cap >> 39 & 1)))); then
    d_skip "no CAP_BPF+CAP_PERFMON (nor CAP_SYS_ADMIN): CapEff=$cap, BPF tracing cannot load"
  fi
  [[ -r /sys/kernel/btf/vmlinux ]] || d_skip "no /sys/kernel/btf/vmlinux: the kernel has no BTF, libbpf-tools cannot load"
  if [[ ! -d /sys/kernel/tracing/events ]]; then
    mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
      d_skip "tracefs is not mounted and mounting it on /sys/kernel/tracing failed"
  fi
  if [[ ! -d /sys/kernel/debug/tracing ]]; then
    mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null ||
      d_skip "debugfs is not mounted and mounting it on /sys/kernel/debug failed"
  fi
}

# t_hold_start PORT N [SEND [END]]: hold N connections to PORT (hold_conns.py;
# SEND and END as in http_common.sh) until t_hold_stop.
t_hold_start() {
  local port="$1" n="$2" fifo="$D_TMP/trace_hold.in" out="$D_TMP/trace_hold.out" t0=$SECONDS
  rm -f "$fifo"; mkfifo "$fifo"
  "$D_PYTHON" "$D_ROOT/preload-tests/daemons/hold_conns.py" "$port" "$n" "${@:3}" <"$fifo" >"$out" 2>&1 &
  T_HOLD_PID=$!
  exec 7>"$fifo"
  while ! grep -q '^held' "$out" && kill -0 "$T_HOLD_PID" 2>/dev/null && ((SECONDS - t0 < 20)); do sleep 0.05; done
  grep -q '^held' "$out" || { d_fail "could not hold $n connections: $(tail -1 "$out")"; return 1; }
}

t_hold_stop() {
  [[ -n "$T_HOLD_PID" ]] || return 0
  exec 7>&-
  wait "$T_HOLD_PID" 2>/dev/null || d_fail "held connections: $(tail -1 "$D_TMP/trace_hold.out")"
  T_HOLD_PID=''
}

# t_tracer NAME CMD...: start a tracer (line-buffered) into $D_TMP/trace.NAME.
t_tracer() {
  local name="$1"; shift
  stdbuf -oL "$@" >"$D_TMP/trace.$name" 2>"$D_TMP/trace.$name.err" &
  T_TRACERS+=("$!:$name")
}

# t_attached PID NAME: has tracer PID attached its probes? Each tool prints a
# first line once attached, except offcputime: its BPF link then exists.
t_attached() {
  local pid="$1" name="$2"
  case "$name" in
    offcpu.*) ls -l "/proc/$pid/fd" 2>/dev/null | grep -q 'bpf[-_]link' ;;
    *) [[ -s "$D_TMP/trace.$name" ]] ;;
  esac
}

# t_trace_start MODE PID: attach every tracer to the daemon PID and wait
# until all are attached (at most 60 s: bpftrace compiles first).
t_trace_start() {
  local mode="$1" pid="$2" libc cohook probes t0=$SECONDS entry all lo=0 hi=0
  libc=$(awk '$6 ~ /\/libc\.so\.6$/ {print $6; exit}' "/proc/$pid/maps")
  cohook=$(awk '$6 ~ /\/libcohook\.so$/ {print $6; exit}' "/proc/$pid/maps")
  [[ -n "$libc" ]] || { d_fail "no libc.so.6 mapped in pid $pid"; return 1; }
  if [[ $mode == shim && -z "$cohook" ]]; then d_fail "libcohook.so is not mapped in pid $pid"; return 1; fi
  if [[ $mode == shim ]]; then
    # libcohook.so's address range: a thread started there is the shim's own
    # (offload pool, watchdog); its code calling its own sched_yield hook is
    # a spin that switches coroutines where it meant to yield the CPU.
    lo=0x$(awk '$6 ~ /\/libcohook\.so$/ {split($1, a, "-"); print a[1]; exit}' "/proc/$pid/maps")
    hi=0x$(awk '$6 ~ /\/libcohook\.so$/ {split($1, a, "-"); h = a[2]} END {print h}' "/proc/$pid/maps")
  fi
  probes="tracepoint:task:task_newtask /pid == $pid/ { @new_tasks = count();
      if (args->clone_flags & 0x10000) { @new_threads = count(); } }
    uprobe:$libc:pthread_create /pid == $pid/ {
      if (arg2 >= $lo && arg2 < $hi) { @shim_threads = count(); } else { @libc_pthread_create = count(); } }"
  if [[ $mode == shim ]]; then
    probes="$probes
    uprobe:$cohook:pthread_create /pid == $pid/ { @cohook_pthread_create = count(); }
    uprobe:$cohook:sched_yield /pid == $pid/ { \$ret = *(uint64 *)reg(\"sp\");
      if (\$ret >= $lo && \$ret < $hi) { @shim_own_yields = count(); } }"
  fi
  T_TRACERS=()
  t_tracer "bpftrace.$mode" bpftrace -e "BEGIN { printf(\"attached\\n\"); } $probes"
  t_tracer "syscount.$mode" syscount -p "$pid" -T 100
  t_tracer "exitsnoop.$mode" exitsnoop -T -p "$pid"
  t_tracer "funclatency.$mode" funclatency -p "$pid" c:pthread_create
  t_tracer "offcpu.$mode" offcputime -p "$pid" --stack-storage-size=16384
  while :; do
    all=1
    for entry in "${T_TRACERS[@]}"; do
      kill -0 "${entry%%:*}" 2>/dev/null || { d_fail "${entry#*:} died: $(head -3 "$D_TMP/trace.${entry#*:}.err")"; t_trace_stop; return 1; }
      t_attached "${entry%%:*}" "${entry#*:}" || all=0
    done
    ((all)) && break
    ((SECONDS - t0 < 60)) || { d_fail "tracers not attached after 60 s"; t_trace_stop; return 1; }
    sleep 0.1
  done
  d_log "$mode: tracers attached to pid $pid in $((SECONDS - t0)) s"
}

# t_trace_stop: end the window -- SIGINT makes each tracer print its summary.
t_trace_stop() {
  local entry pid t0
  for entry in "${T_TRACERS[@]}"; do kill -INT "${entry%%:*}" 2>/dev/null; done
  for entry in "${T_TRACERS[@]}"; do
    pid=${entry%%:*} t0=$SECONDS
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < 30)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && d_fail "${entry#*:} did not stop on SIGINT"
    wait "$pid" 2>/dev/null
  done
  T_TRACERS=()
}

# t_count FILE REGEX: the number after the first match of REGEX (0 if none).
t_count() { awk -v re="$2" '$0 ~ re {for (i = NF; i > 0; i--) if ($i ~ /^[0-9]+$/) {print $i; exit}} ' "$1" | grep . || echo 0; }

# t_results MODE: read the tracers' output into T_* variables:
# T_CLONE T_CLONE3 (syscount), T_NEW_TASKS T_NEW_THREADS T_LIBC_CALLS
# T_COHOOK_CALLS (bpftrace), T_EXITS (exitsnoop lines), T_FUNCLAT (funclatency's
# count of completed c:pthread_create calls), T_OFFCPU (offcpu_split.py's
# line) and its words as T_OFF_<key>.
t_results() {
  local mode="$1" f="$D_TMP/trace" w
  T_CLONE=$(t_count "$f.syscount.$mode" '^clone ')
  T_CLONE3=$(t_count "$f.syscount.$mode" '^clone3 ')
  T_NEW_TASKS=$(t_count "$f.bpftrace.$mode" '^@new_tasks:')
  T_NEW_THREADS=$(t_count "$f.bpftrace.$mode" '^@new_threads:')
  T_LIBC_CALLS=$(t_count "$f.bpftrace.$mode" '^@libc_pthread_create:')
  T_COHOOK_CALLS=$(t_count "$f.bpftrace.$mode" '^@cohook_pthread_create:')
  T_SHIM_YIELDS=$(t_count "$f.bpftrace.$mode" '^@shim_own_yields:')
  T_SHIM_THREADS=$(t_count "$f.bpftrace.$mode" '^@shim_threads:')
  T_EXITS=$(awk 'NR > 1 && NF >= 5' "$f.exitsnoop.$mode" | wc -l)
  T_FUNCLAT=$(awk -F: '/->/ {split($2, a, " "); n += a[1]} END {print n + 0}' "$f.funclatency.$mode")
  T_OFFCPU=$("$D_PYTHON" "$D_ROOT/preload-tests/daemons/offcpu_split.py" "$f.offcpu.$mode")
  for w in $T_OFFCPU; do
    [[ $w =~ ^([a-z_]+)=([^ ]*)$ ]] && printf -v "T_OFF_${BASH_REMATCH[1]}" '%s' "${BASH_REMATCH[2]}"
  done
  d_log "$mode: clone=$T_CLONE clone3=$T_CLONE3 new_tasks=$T_NEW_TASKS new_threads=$T_NEW_THREADS" \
    "thread_exits=$T_EXITS libc_pthread_create=$T_LIBC_CALLS shim_threads=$T_SHIM_THREADS (funclatency: $T_FUNCLAT)" \
    "cohook_pthread_create=$T_COHOOK_CALLS shim_own_yields=$T_SHIM_YIELDS"
  d_log "$mode: off-CPU: $T_OFFCPU"
}

# t_ge A B: is the decimal A >= B?
t_ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a + 0 >= b + 0)}'; }

# t_check_native N RECV_GROUPS: the tools see a thread-per-connection daemon
# that made N connections in the window: a thread and two clone3 returns per
# connection, pthread_create called N times, most threads gone, and its
# waits mostly in the groups named (e.g. "recvfrom"), not in epoll.
t_check_native() {
  local n="$1" groups="$2" share=0 g v
  ((T_NEW_THREADS >= n)) || d_fail "native: $T_NEW_THREADS new threads for $n connections (task_newtask sees too few)"
  ((T_CLONE3 + T_CLONE >= 2 * n)) || d_fail "native: clone3=$T_CLONE3 clone=$T_CLONE, expected >= $((2 * n)) (syscount sees too few)"
  ((T_LIBC_CALLS >= n)) || d_fail "native: libc pthread_create entered $T_LIBC_CALLS times for $n connections"
  ((T_FUNCLAT >= n)) || d_fail "native: funclatency counted $T_FUNCLAT calls of c:pthread_create for $n connections"
  ((T_EXITS >= n / 2)) || d_fail "native: $T_EXITS thread exits for $n connections (exitsnoop sees too few)"
  for g in $groups; do v="T_OFF_${g}_pct"; share=$(awk -v a="$share" -v b="${!v}" 'BEGIN {print a + b}'); done
  t_ge "$share" 80 || d_fail "native: only $share % of the off-CPU time in $groups ($T_OFFCPU)"
  t_ge 5 "$T_OFF_epoll_pct" || d_fail "native: $T_OFF_epoll_pct % off-CPU in epoll: not the native shape"
}

# t_check_shim N: under the shim the N connections of the window made no
# task, no clone, no thread exit; the program called pthread_create (the
# shim's, N times or more) but libc's never; the daemon waited in epoll.
# The one exception: the shim's offload pool grows on demand up to
# COHOOK_OFFLOAD_THREADS (16) real threads and keeps them -- the warm-up
# before the window usually makes them all, a busier moment in the window
# may add one. Those are counted apart (their start routine is in
# libcohook.so), must account for every task and clone3 seen, and stay
# within the bound: never one per connection.
t_check_shim() {
  local n="$1" bound="${COHOOK_OFFLOAD_THREADS:-16}"
  ((T_CLONE == 0 && T_CLONE3 == 2 * T_SHIM_THREADS)) ||
    d_fail "shim: clone=$T_CLONE clone3=$T_CLONE3 in the window (the shim's own threads: $T_SHIM_THREADS)"
  ((T_NEW_TASKS == T_SHIM_THREADS)) ||
    d_fail "shim: $T_NEW_TASKS new tasks ($T_NEW_THREADS threads) in the window, $T_SHIM_THREADS of them the shim's"
  ((T_SHIM_THREADS <= bound)) || d_fail "shim: $T_SHIM_THREADS offload threads made in the window, more than the pool's bound $bound"
  ((T_EXITS == 0)) || d_fail "shim: $T_EXITS thread exits in the window"
  ((T_COHOOK_CALLS >= n)) || d_fail "shim: the program called pthread_create $T_COHOOK_CALLS times for $n connections"
  ((T_LIBC_CALLS == 0 && T_FUNCLAT == T_SHIM_THREADS)) ||
    d_fail "shim: libc's pthread_create ran $T_LIBC_CALLS times for the program (funclatency: $T_FUNCLAT, the shim's: $T_SHIM_THREADS)"
  ((T_SHIM_YIELDS == 0)) || d_fail "shim: libcohook.so called its own sched_yield hook $T_SHIM_YIELDS times (a spin that switched coroutines instead of yielding the CPU)"
  ((T_OFF_blocked_ms > 0)) || d_fail "shim: offcputime saw no wait at all"
  t_ge "$T_OFF_epoll_pct" 95 || d_fail "shim: only $T_OFF_epoll_pct % of the off-CPU time in epoll_wait/epoll_pwait ($T_OFFCPU)"
}

# t_row NAME MODE N: the figures as one ROW line.
t_row() {
  d_row "trace=$1 mode=$2 connections=$3 clone3=$T_CLONE3 clone=$T_CLONE new_tasks=$T_NEW_TASKS" \
    "thread_exits=$T_EXITS pthread_create_program=$([[ $2 == shim ]] && echo "$T_COHOOK_CALLS" || echo "$T_LIBC_CALLS")" \
    "pthread_create_libc=$T_LIBC_CALLS offcpu_epoll=$T_OFF_epoll_pct% offcpu_recvfrom=$T_OFF_recvfrom_pct%" \
    "offcpu_poll=$T_OFF_poll_pct% offcpu_futex=$T_OFF_futex_pct% offcpu_top=$T_OFF_top" \
    "runnable_ms=$T_OFF_runnable_ms yield_ms=$T_OFF_yield_ms shim_threads_made=${T_SHIM_THREADS:-0} helper_threads=$T_OFF_helper_threads threads_after=${T_THREADS_AFTER:--}"
}
