# Tracing test: tinyproxy (a thread per connection) behind a native python
# http.server. Natively each connection of the window costs a task (two
# clone3 returns) and tinyproxy waits in recvfrom; under the shim the same
# window makes no task and the daemon waits in epoll. Both shapes are checked
# (trace_lib.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
source "$(dirname "$0")/trace_lib.sh"
d_need tinyproxy "$D_PYTHON" curl
t_require

LOAD=2000   # connections made in the traced window (ab -n, no keep-alive)
# tinyproxy fsyncs its log file after each line: inline (the default) that
# fsync runs on a carrier, 2-5 % of the carriers' waits in these runs, close
# to the 5 % the shim check allows. The log goes to the offload pool instead,
# as COHOOK_FILE_IO=offload is meant for (the native run ignores it).
export COHOOK_FILE_IO=offload
h_docroot "$D_TMP/www"
backend=$(d_free_port)
d_start_python_http native "$backend" "$D_TMP/www" || d_finish
backend_pid=$D_PID

run_mode() {
  local mode="$1" port pid url="http://127.0.0.1:$backend/payload.bin"
  h_begin trace_tinyproxy "$mode"
  port=$(d_free_port)
  if d_start_tinyproxy "$mode" "$port" "$backend"; then
    pid=$D_PID
    # Before the window: the shim makes its second carrier and its offload
    # threads (tinyproxy resolves each upstream host) on first need, once.
    h_ab 200 50 "$url" -X "127.0.0.1:$port"
    # Silent held connections: tinyproxy's threads wait for a request line.
    if t_hold_start "$port" 50 && t_trace_start "$mode" "$pid"; then
      h_ab "$LOAD" 50 "$url" -X "127.0.0.1:$port"
      T_THREADS_AFTER=$(h_settled_threads "$pid") H_THREADS=$T_THREADS_AFTER  # 50 still held
      t_trace_stop
      t_results "$mode"
      if [[ $mode == native ]]; then t_check_native "$LOAD" recvfrom; else t_check_shim "$LOAD"; fi
      t_row tinyproxy "$mode" "$LOAD"
    fi
    t_hold_stop
    h_alive "$pid"
    d_stop "$pid"
    # Connections closed before a request (the probe, the held ones) are
    # logged as ERROR by tinyproxy; anything else counts.
    grep -v 'closed socket before read' "$D_TMP/tinyproxy.$mode.file.log" >"$D_TMP/tinyproxy.$mode.scanned.log"
    d_scan_log "$D_TMP/tinyproxy.$mode.scanned.log"
    d_scan_log "$D_TMP/tinyproxy.$mode.log"
  fi
  h_end
}

run_mode native
run_mode shim
d_stop "$backend_pid"
d_finish
