# busybox httpd (a process forked per connection), natively and under the
# shim, where each child starts its own runtime after fork: 50 held
# connections, ab -n 2000 -c 50, checksummed downloads, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need busybox ab curl

h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid
  h_begin busybox_httpd "$mode"
  port=$(d_free_port)
  d_start "$mode" busybox_httpd busybox httpd -f -vv -p "127.0.0.1:$port" -h "$D_TMP/www"
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    h_ab 2000 50 "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop "$pid"
    d_scan_log "$D_TMP/busybox_httpd.$mode.log"
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
