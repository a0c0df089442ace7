# preload-tests/daemons/http_common.sh: the checks the HTTP-family smoke tests
# share (python http.server and echo, tinyproxy, civetweb, apache2, lighttpd,
# nginx, busybox httpd). Sourced after lib.sh.
#
# Per mode a test starts its daemon, then: h_threads_at (OS threads with 50
# idle connections held), a load with the daemon's standard client (h_ab or
# h_wrk: every request complete, none failed, none non-2xx), h_payload
# (concurrent downloads checksummed), a clean stop and the log scan; h_begin /
# h_end bracket it and print the ROW line.

H_HOLD=50          # connections held while counting threads
# What each held connection sends: an HTTP request without its final blank
# line, so the server has accepted it and waits for the rest; on release the
# blank line (H_HOLD_END) completes it and the reply is read.
H_HOLD_SEND='GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n'
H_HOLD_END='\r\n'
H_THREADS=-        # set by h_threads_at
H_RPS=-            # set by h_ab / h_wrk (the client's own figure)

# h_docroot DIR: DIR with payload.bin (64 KiB of random bytes; its md5 in
# H_MD5) and index.html, readable by the daemons' unprivileged users.
h_docroot() {
  local dir="$1"
  mkdir -p "$dir"
  head -c 65536 /dev/urandom >"$dir/payload.bin"
  echo '<html><body>cohook smoke test</body></html>' >"$dir/index.html"
  chmod 755 "$dir"; chmod 644 "$dir"/*
  H_MD5=$(md5sum <"$dir/payload.bin" | cut -d' ' -f1)
}

# h_begin NAME MODE: start one mode's checks (its failures counted apart).
h_begin() {
  H_NAME="$1" H_MODE="$2" H_THREADS=- H_RPS=- H_SAVED_FAILED=$D_FAILED D_FAILED=0
  d_log "=== $H_NAME, $H_MODE"
}

# h_end: print the mode's ROW line and fold its result into the verdict.
# A shim failure is the shim's only when the native run passed.
h_end() {
  local result=pass
  if ((D_FAILED)); then
    result=fail
    [[ $H_MODE == shim && ${H_NATIVE_RESULT:-} != pass ]] && result="fail(native failed too)"
  fi
  [[ $H_MODE == native ]] && H_NATIVE_RESULT=$result
  d_row "daemon=$H_NAME mode=$H_MODE result=$result threads@$H_HOLD=$H_THREADS rps=$H_RPS"
  ((D_FAILED |= H_SAVED_FAILED))
}

# h_settled_threads PID: the OS thread count of PID's process tree once it
# has not changed for H_SETTLE_SAMPLES x 0.2 s (threads and processes appear
# as connections are accepted), at most 15 s.
H_SETTLE_SAMPLES=${H_SETTLE_SAMPLES:-3}
h_settled_threads() {
  local pid="$1" last=-1 same=0 n t0=$SECONDS
  while ((SECONDS - t0 < 15)); do
    n=$(d_threads "$pid")
    if [[ $n == "$last" ]]; then ((++same >= H_SETTLE_SAMPLES)) && break; else same=0 last=$n; fi
    sleep 0.2
  done
  echo "$last"
}

# h_threads_at PORT PID: hold $H_HOLD connections to PORT (each first sends
# $H_HOLD_SEND), read PID's thread count into H_THREADS, release them.
h_threads_at() {
  local port="$1" pid="$2" fifo="$D_TMP/hold.in" out="$D_TMP/hold.out" holder t0=$SECONDS
  # A library ld.so cannot preload is only warned about: make sure it is in.
  if [[ $H_MODE == shim ]] && ! grep -q "$(basename "$COHOOK_LIB")" "/proc/$pid/maps" 2>/dev/null; then
    d_fail "$COHOOK_LIB is not mapped in pid $pid: the shim run would be a native one"
  fi
  rm -f "$fifo"; mkfifo "$fifo"
  "$D_PYTHON" "$D_ROOT/preload-tests/daemons/hold_conns.py" "$port" "$H_HOLD" "$H_HOLD_SEND" "$H_HOLD_END" <"$fifo" >"$out" 2>&1 &
  holder=$!
  exec 8>"$fifo"
  while ! grep -q '^held' "$out" && kill -0 "$holder" 2>/dev/null && ((SECONDS - t0 < 20)); do sleep 0.05; done
  if grep -q '^held' "$out"; then
    H_THREADS=$(h_settled_threads "$pid")
    d_log "$H_MODE: $H_THREADS OS threads with $H_HOLD connections held"
  else
    d_fail "could not hold $H_HOLD connections: $(tail -1 "$out")"
  fi
  exec 8>&-
  wait "$holder" 2>/dev/null || d_fail "held connections: $(tail -1 "$out")"
}

# h_ab N C URL [AB_ARGS...]: ab load; every request must complete, none
# fail (ab counts a wrong length as a failure), none answer non-2xx.
h_ab() {
  local n="$1" c="$2" url="$3"; shift 3
  local out="$D_TMP/ab.$H_NAME.$H_MODE.out" complete failed
  timeout 120 ab -q -s 30 -n "$n" -c "$c" "$@" "$url" >"$out" 2>&1
  complete=$(awk '/^Complete requests:/ {print $3}' "$out")
  failed=$(awk '/^Failed requests:/ {print $3}' "$out")
  H_RPS=$(awk '/^Requests per second:/ {printf "%d", $4}' "$out")
  [[ -n "$H_RPS" ]] || H_RPS=-
  if [[ $complete != "$n" || $failed != 0 ]] || grep -q '^Non-2xx' "$out"; then
    d_fail "ab -n $n -c $c $*: complete=${complete:-?} failed=${failed:-?} $(grep -E '^Non-2xx|^apr_|Total of' "$out" | head -2)"
    return 1
  fi
  d_log "$H_MODE: ab -n $n -c $c: all $n complete, 0 failed, $H_RPS requests/s"
}

# h_wrk URL: wrk -t2 -c50 -d3s; no socket errors, no non-2xx/3xx, some
# requests. A 10 s request timeout (wrk counts 2 s as an error): the CI
# machine is loaded.
h_wrk() {
  local url="$1" out="$D_TMP/wrk.$H_NAME.$H_MODE.out" total
  timeout 60 wrk -t2 -c50 -d3s --timeout 10s "$url" >"$out" 2>&1
  total=$(awk '/requests in/ {print $1}' "$out")
  H_RPS=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$out")
  [[ -n "$H_RPS" ]] || H_RPS=-
  if [[ -z "$total" || $total == 0 ]] || grep -Eq 'Socket errors|Non-2xx' "$out"; then
    d_fail "wrk -t2 -c50 -d3s: requests=${total:-?} $(grep -E 'Socket errors|Non-2xx' "$out")"
    return 1
  fi
  d_log "$H_MODE: wrk -t2 -c50 -d3s: $total requests, no errors, $H_RPS requests/s"
}

# h_wrk_then_ab URL: the event-loop servers' load (lighttpd, nginx): h_wrk,
# then h_ab -n 4000 -c 50; the row shows wrk's figure.
h_wrk_then_ab() {
  local url="$1" rps
  h_wrk "$url"
  rps=$H_RPS
  h_ab 4000 50 "$url"
  H_RPS=$rps
}

# h_payload URL [CURL_ARGS...]: 20 concurrent downloads of URL, each must
# match H_MD5 byte for byte.
h_payload() {
  local url="$1" i bad=0 pids=(); shift
  for i in $(seq 20); do
    (timeout 30 curl -sf "$@" "$url" | md5sum | cut -d' ' -f1 >"$D_TMP/payload.$i") &
    pids+=($!)
  done
  wait "${pids[@]}"   # not a bare wait: the daemon is our child too
  for i in $(seq 20); do [[ $(cat "$D_TMP/payload.$i") == "$H_MD5" ]] || ((++bad)); done
  if ((bad)); then d_fail "$bad of 20 concurrent downloads of $url had the wrong checksum"; return 1; fi
  d_log "$H_MODE: 20 concurrent downloads, all checksums match"
}

# h_alive PID: the daemon survived the load.
h_alive() { kill -0 "$1" 2>/dev/null || d_fail "$H_NAME died during the checks"; }
