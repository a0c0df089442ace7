# lighttpd (a single-threaded epoll loop), natively and under the shim, where
# it must keep working unchanged: 50 held connections, wrk -t2 -c50 -d3s and
# ab -n 4000 -c 50, checksummed downloads, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need lighttpd wrk ab curl

h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid
  local dir="$D_TMP/lighttpd.$mode"
  h_begin lighttpd "$mode"
  port=$(d_free_port)
  mkdir -p "$dir"
  chown www-data "$dir"   # lighttpd opens its error log after dropping to www-data
  cat >"$dir/lighttpd.conf" <<CONF
server.document-root = "$D_TMP/www"
server.bind = "127.0.0.1"
server.port = $port
server.username = "www-data"
server.groupname = "www-data"
server.errorlog = "$dir/error.log"
server.max-connections = 1024
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
CONF
  d_start "$mode" lighttpd lighttpd -D -f "$dir/lighttpd.conf"
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    h_wrk_then_ab "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop "$pid"
    d_scan_log "$D_TMP/lighttpd.$mode.log"
    d_scan_log "$dir/error.log"
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
