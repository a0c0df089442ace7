# apache_common.sh: apache2 run natively and under the shim with one MPM
# ($APACHE_MPM: worker or prefork), sourced by apache_worker.sh and
# apache_prefork.sh after lib.sh and http_common.sh. A minimal config in the
# temp dir; apache2 in the foreground, children as www-data.

apache_conf() {
  local mode="$1" port="$2" dir="$D_TMP/apache.$mode"
  local mods=/usr/lib/apache2/modules
  mkdir -p "$dir/lock"
  {
    echo "ServerRoot $dir"
    echo "ServerName 127.0.0.1"
    echo "Listen 127.0.0.1:$port"
    echo "LoadModule mpm_${APACHE_MPM}_module $mods/mod_mpm_${APACHE_MPM}.so"
    echo "LoadModule authz_core_module $mods/mod_authz_core.so"
    echo "LoadModule mime_module $mods/mod_mime.so"
    echo "TypesConfig /etc/mime.types"
    echo "PidFile $dir/apache2.pid"
    echo "Mutex file:$dir/lock default"
    echo "ErrorLog $dir/error.log"
    echo "LogLevel warn"
    echo "User www-data"
    echo "Group www-data"
    echo "DocumentRoot $D_TMP/www"
    echo "<Directory $D_TMP/www>"
    echo "  Require all granted"
    echo "</Directory>"
    echo "$APACHE_MPM_CONF"
  } >"$dir/apache2.conf"
  echo "$dir"
}

run_mode() {
  local mode="$1" port pid dir
  h_begin "apache_$APACHE_MPM" "$mode"
  port=$(d_free_port)
  dir=$(apache_conf "$mode" "$port")
  d_start "$mode" "apache_$APACHE_MPM" apache2 -f "$dir/apache2.conf" -DFOREGROUND
  pid=$D_PID
  # apache2 opens the port before it can still fail (AH01597): the process
  # must be alive too, which d_wait_port checks; h_alive checks again later.
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    h_ab 5000 50 "http://127.0.0.1:$port/payload.bin"
    h_payload "http://127.0.0.1:$port/payload.bin"
    h_alive "$pid"
    d_stop "$pid" TERM 20
    d_scan_log "$D_TMP/apache_$APACHE_MPM.$mode.log"
    d_scan_log "$dir/error.log" '\[[a-z_]+:(crit|alert|emerg)\]'
  fi
  h_end
}

h_docroot "$D_TMP/www"
run_mode native
run_mode shim
d_finish
