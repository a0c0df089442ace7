# civetweb with a fixed pool of 20 worker threads (-num_threads 20): under the
# shim the pool becomes 20 coroutines. Natively and under the shim: 50 held
# connections (20 served, the rest queued), ab -n 4000 -c 50, checksummed
# downloads, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need civetweb ab curl

h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid
  h_begin civetweb "$mode"
  port=$(d_free_port)
  d_start "$mode" civetweb civetweb -listening_ports "127.0.0.1:$port" -document_root "$D_TMP/www" \
    -num_threads 20 -error_log_file "$D_TMP/civetweb.$mode.error.log"
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    h_ab 4000 50 "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop "$pid"
    d_scan_log "$D_TMP/civetweb.$mode.log"
    d_scan_log "$D_TMP/civetweb.$mode.error.log"
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
