# tinyproxy (a thread per connection) as a forward proxy in front of a native
# python http.server, natively and under the shim: 50 held connections,
# ab -n 4000 -c 50 -X, checksummed downloads through the proxy, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need tinyproxy "$D_PYTHON" ab curl
# Held connections stay silent (tinyproxy accepts them without waiting for
# data); an unfinished request would be logged as an ERROR when released.
H_HOLD_SEND='' H_HOLD_END=''

h_docroot "$D_TMP/www"
backend=$(d_free_port)
d_start_python_http native "$backend" "$D_TMP/www" || d_finish
backend_pid=$D_PID

run_mode() {
  local mode="$1" port pid log
  h_begin tinyproxy "$mode"
  port=$(d_free_port)
  if d_start_tinyproxy "$mode" "$port" "$backend"; then
    pid=$D_PID
    h_threads_at "$port" "$pid"
    h_ab 4000 50 "http://127.0.0.1:$backend/payload.bin" -X "127.0.0.1:$port"
    h_payload "http://127.0.0.1:$backend/payload.bin" -x "127.0.0.1:$port"
    h_alive "$pid"
    d_stop "$pid"
    # The readiness probe and the held connections close without a request
    # on purpose: tinyproxy logs each as an ERROR; anything else counts.
    log="$D_TMP/tinyproxy.$mode.scanned.log"
    grep -v 'closed socket before read' "$D_TMP/tinyproxy.$mode.file.log" >"$log"
    d_scan_log "$log"
    d_scan_log "$D_TMP/tinyproxy.$mode.log"
  fi
  h_end
}

run_mode native
run_mode shim
d_stop_python_http native "$backend_pid"
d_finish
