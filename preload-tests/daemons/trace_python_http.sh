# Tracing test: python's ThreadingHTTPServer (http.server, a thread per
# connection; python_http_server.py). Natively each connection of the window
# costs a task and the server waits in recvfrom, poll (serve_forever's
# selector) and futex (the GIL); under the shim the same window makes no task
# and the server waits in epoll. Both shapes are checked (trace_lib.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
source "$(dirname "$0")/trace_lib.sh"
d_need "$D_PYTHON" curl
t_require

LOAD=2000   # connections made in the traced window (ab -n, no keep-alive)
h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid url
  h_begin trace_python_http "$mode"
  port=$(d_free_port) url="http://127.0.0.1:$port/payload.bin"
  if d_start_python_http "$mode" "$port" "$D_TMP/www"; then
    pid=$D_PID
    # Before the window: the shim makes its second carrier on first need.
    h_ab 200 50 "$url"
    # Held connections send an unfinished request (http_common.sh), so each
    # handler thread waits for the rest; released, they are answered.
    if t_hold_start "$port" 50 "$H_HOLD_SEND" "$H_HOLD_END" && t_trace_start "$mode" "$pid"; then
      h_ab "$LOAD" 50 "$url"
      T_THREADS_AFTER=$(h_settled_threads "$pid") H_THREADS=$T_THREADS_AFTER  # 50 still held
      t_trace_stop
      t_results "$mode"
      if [[ $mode == native ]]; then t_check_native "$LOAD" "recvfrom poll futex"; else t_check_shim "$LOAD"; fi
      t_row python_http "$mode" "$LOAD"
    fi
    t_hold_stop
    h_alive "$pid"
    d_stop_python_http "$mode" "$pid"
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
