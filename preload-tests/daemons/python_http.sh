# python's ThreadingHTTPServer (http.server, a thread per connection; backlog
# raised to 1024 by python_http_server.py) natively and under the shim:
# 50 held connections, ab -n 2000 -c 50, checksummed downloads, clean SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need "$D_PYTHON" ab curl

h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid
  h_begin python_http "$mode"
  port=$(d_free_port)
  if d_start_python_http "$mode" "$port" "$D_TMP/www"; then
    pid=$D_PID
    h_threads_at "$port" "$pid"
    h_ab 2000 50 "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop_python_http "$mode" "$pid"
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
