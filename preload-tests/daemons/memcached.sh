# memcached (libevent: a listener thread, 4 worker threads, a few helpers)
# natively and under the shim: memccapable's protocol tests must all pass,
# then memcslap sets 2,000 keys and 50 clients get them 100,000 times; the
# server's own counters must show exactly those gets, every one a hit.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$D_ROOT/preload-tests/daemons/http_common.sh"
H_HOLD_SEND='' H_HOLD_END=''   # held connections stay silent (not HTTP)
d_need memcached memccapable memcslap memcstat

KEYS=2000 CLIENTS=50

# mc_stat PORT NAME: one counter from the server's "stats".
mc_stat() {
  timeout 10 memcstat --servers="127.0.0.1:$1" | awk -v k="$2:" '$1 == k {print $2}'
}

for mode in native shim; do
  h_begin memcached "$mode"
  port=$(d_free_port)
  d_start "$mode" memcached memcached -u nobody -l 127.0.0.1 -p "$port" -U 0 -t 4 -c 4096 -m 64
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    cap="$D_TMP/memccapable.$mode.out"
    timeout 60 memccapable -h 127.0.0.1 -p "$port" >"$cap" 2>&1
    total=$(grep -c '\[' "$cap") passed=$(grep -c '\[pass\]' "$cap")
    if ((total > 0 && passed == total)) && grep -q '^All tests passed' "$cap"; then
      d_log "$mode: memccapable: all $total tests pass"
    else
      d_fail "memccapable: $passed of $total pass: $(grep '\[' "$cap" | grep -v '\[pass\]' | head -3)"
    fi
    gets0=$(mc_stat "$port" cmd_get) hits0=$(mc_stat "$port" get_hits) sets0=$(mc_stat "$port" cmd_set)
    slap="$D_TMP/memcslap.$mode.out"
    timeout 120 memcslap --servers="127.0.0.1:$port" --concurrency=$CLIENTS --execute-number=$KEYS --test=get >"$slap" 2>&1
    gets=$(($(mc_stat "$port" cmd_get) - gets0)) hits=$(($(mc_stat "$port" get_hits) - hits0))
    sets=$(($(mc_stat "$port" cmd_set) - sets0))
    # "Time to get 100000 keys by 50 threads: 2.043 seconds."
    secs=$(awk '/^Time to get/ {print $(NF-1)}' "$slap")
    H_RPS=$(awk -v n=$((KEYS * CLIENTS)) -v s="$secs" 'BEGIN {if (s > 0) printf "%d", n / s; else print "-"}')
    want=$((KEYS * CLIENTS))
    if [[ $gets == "$want" && $hits == "$want" && $sets == "$KEYS" ]]; then
      d_log "$mode: memcslap: $KEYS sets, $want gets by $CLIENTS clients, all hits, $H_RPS gets/s"
    else
      d_fail "memcslap: server counted $sets sets, $gets gets, $hits hits (want $KEYS, $want, $want): $(tail -2 "$slap")"
    fi
    h_alive "$pid"
    d_stop "$pid" TERM 15
  fi
  d_scan_log "$D_TMP/memcached.$mode.log"
  h_end
done
d_finish
