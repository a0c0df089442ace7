# socat TCP-LISTEN,fork PIPE (a process per connection, echoing through a
# pipe) natively and under the shim: 50 held connections, then 50
# concurrent clients x 200 messages of up to 16 KiB, each echoed byte-exact
# (python_echo_client.py), clean SIGTERM.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$D_ROOT/preload-tests/daemons/http_common.sh"
H_HOLD_SEND='' H_HOLD_END=''   # held connections stay silent (not HTTP)
d_need socat python3

for mode in native shim; do
  h_begin socat "$mode"
  port=$(d_free_port)
  d_start "$mode" socat socat -d TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork,backlog=1024 PIPE
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    out=$(timeout 120 python3 "$D_ROOT/preload-tests/daemons/python_echo_client.py" "$port" 50 200 16384 2>&1)
    if [[ $out == ok* ]]; then
      H_RPS=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
      d_log "$mode: echo $out (messages/s)"
    else
      d_fail "echo client: $out"
    fi
    h_alive "$pid"
    d_stop "$pid" TERM 15
  fi
  # socat -d logs only warnings and errors ("socat[PID] E ...").
  d_scan_log "$D_TMP/socat.$mode.log" 'socat\[[0-9]+\] [EF] '
  h_end
done
d_finish
