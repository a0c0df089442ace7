#!/bin/sh
# bench_echo_smoke / bench_http_smoke: start a server, drive it for 1 s with
# echo-loadgen (16 connections), and pass iff the loadgen does (every reply
# byte-exact, transactions > 0, no failed connection).
#   echo_smoke.sh [--http] LOADGEN SERVER [SERVER_ARG]
mode=
if [ "$1" = --http ]; then mode=--http; shift; fi
loadgen=$1 server=$2 arg=$3
out=$(mktemp)
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
"$server" $arg >"$out" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not print its port" >&2; exit 1; }
timeout 30 "$loadgen" $mode "$port" 16 1 0.2
