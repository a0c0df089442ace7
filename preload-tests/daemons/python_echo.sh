# socketserver.ThreadingTCPServer echo (python_echo_server.py, a thread per
# connection) natively and under the shim: 50 held connections, then 50
# concurrent clients x 200 messages of up to 16 KiB, each echoed byte-exact
# (python_echo_client.py), clean SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need "$D_PYTHON"
H_HOLD_SEND='' H_HOLD_END=''   # held connections stay silent: an echo server has no request

run_mode() {
  local mode="$1" port pid out
  h_begin python_echo "$mode"
  port=$(d_free_port)
  d_start "$mode" python_echo "$D_PYTHON" "$D_ROOT/preload-tests/daemons/python_echo_server.py" "$port"
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    out=$(timeout 120 "$D_PYTHON" "$D_ROOT/preload-tests/daemons/python_echo_client.py" "$port" 50 200 16384 2>&1)
    if [[ $out == ok* ]]; then
      H_RPS=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
      d_log "$mode: echo $out"
    else
      d_fail "echo client: $out"
    fi
    h_alive "$pid"
    d_stop "$pid"
    d_scan_log "$D_TMP/python_echo.$mode.log" 'Traceback|Exception'
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
