# nginx (a master process and two single-threaded epoll workers), natively
# and under the shim, where it must keep working unchanged: 50 held
# connections, wrk -t2 -c50 -d3s and ab -n 4000 -c 50, checksummed
# downloads, graceful stop (SIGQUIT).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need nginx wrk ab curl

h_docroot "$D_TMP/www"

run_mode() {
  local mode="$1" port pid
  local dir="$D_TMP/nginx.$mode"
  h_begin nginx "$mode"
  port=$(d_free_port)
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    root $D_TMP/www;
  }
}
CONF
  d_start "$mode" nginx nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    h_wrk_then_ab "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop "$pid" QUIT 20
    d_scan_log "$D_TMP/nginx.$mode.log" '\[(crit|alert|emerg)\]'
    d_scan_log "$dir/logs/error.log" '\[(warn|crit|alert|emerg)\]'
  fi
  h_end
}

run_mode native
run_mode shim
d_finish
