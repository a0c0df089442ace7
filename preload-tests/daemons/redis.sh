# redis-server (one event-loop thread + background threads) natively and
# under the shim: redis-benchmark INCRs one key 50,000 times from 50
# clients; the key must then hold exactly 50000 (one lost or doubled
# request shows). Stopped with SHUTDOWN NOSAVE, its clean-exit path.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$D_ROOT/preload-tests/daemons/http_common.sh"
H_HOLD_SEND='' H_HOLD_END=''   # held connections stay silent (not HTTP)
d_need redis-server redis-cli redis-benchmark

REQUESTS=50000

for mode in native shim; do
  h_begin redis "$mode"
  port=$(d_free_port)
  # --logfile '': the log goes to stdout, i.e. the log d_scan_log reads.
  d_start "$mode" redis redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$D_TMP" --logfile ''
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    cli=(timeout 30 redis-cli -h 127.0.0.1 -p "$port")
    [[ $("${cli[@]}" flushall) == OK ]] || d_fail "FLUSHALL did not answer OK"
    out="$D_TMP/benchmark.$mode.out"
    timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$REQUESTS" -q -t incr 2>&1 | tr '\r' '\n' >"$out"
    # The final line: "INCR: 16694.49 requests per second, p50=..."
    H_RPS=$(awk '/requests per second/ {v = $2} END {if (v != "") printf "%d", v; else print "-"}' "$out")
    count=$("${cli[@]}" get counter:__rand_int__)
    if [[ $count == "$REQUESTS" ]]; then
      d_log "$mode: $REQUESTS INCRs from 50 clients, counter exactly $count, $H_RPS requests/s"
    else
      d_fail "counter is '${count}' after $REQUESTS INCRs; benchmark said: $(grep -v 'rps=' "$out" | tail -2)"
    fi
    h_alive "$pid"
    "${cli[@]}" shutdown nosave >/dev/null 2>&1
    d_stop "$pid" TERM 15
  fi
  d_scan_log "$D_TMP/redis.$mode.log"
  h_end
done
d_finish
