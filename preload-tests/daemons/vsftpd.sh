# vsftpd (standalone, a process pair per FTP session) natively and under
# the shim: 50 held sessions, then 100 anonymous passive-mode downloads of a
# 64 KiB random file, 20 at a time with curl, each checksummed; vsftpd's own
# log must record exactly 100 successful downloads.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$D_ROOT/preload-tests/daemons/http_common.sh"
H_HOLD_SEND='' H_HOLD_END=''   # held connections stay silent (not HTTP)
d_need vsftpd curl

DOWNLOADS=100 PARALLEL=20
ROOT="$D_TMP/ftproot" EMPTY="$D_TMP/empty"
h_docroot "$ROOT"
chmod 555 "$ROOT"          # vsftpd refuses a writable anonymous root
mkdir -p "$EMPTY" && chmod 555 "$EMPTY"

# ftp_downloads PORT: DOWNLOADS downloads, PARALLEL at a time; sets H_RPS
# (downloads/s) and fails on any checksum mismatch.
ftp_downloads() {
  local port="$1" t0 t1 bad
  t0=$(date +%s.%N)
  seq "$DOWNLOADS" | xargs -P "$PARALLEL" -I{} sh -c \
    'timeout 30 curl -s "ftp://127.0.0.1:$1/payload.bin" | md5sum | cut -d" " -f1 >"$2/dl.{}"' _ "$port" "$D_TMP"
  t1=$(date +%s.%N)
  bad=$(cat "$D_TMP"/dl.* | grep -vcx "$H_MD5")
  rm -f "$D_TMP"/dl.*
  H_RPS=$(awk -v n="$DOWNLOADS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", n / (b - a)}')
  if ((bad)); then d_fail "$bad of $DOWNLOADS downloads had the wrong checksum"; return 1; fi
  d_log "$H_MODE: $DOWNLOADS downloads ($PARALLEL at a time), all checksums match, $H_RPS downloads/s"
}

for mode in native shim; do
  h_begin vsftpd "$mode"
  port=$(d_free_port) pasv=$(d_free_port)
  conf="$D_TMP/vsftpd.$mode.conf" xfer="$D_TMP/vsftpd.$mode.xfer"
  cat >"$conf" <<EOF
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=$port
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=$ROOT
no_anon_password=YES
secure_chroot_dir=$EMPTY
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$pasv
pasv_max_port=$((pasv + 200))
seccomp_sandbox=NO
max_clients=500
xferlog_enable=YES
xferlog_std_format=NO
vsftpd_log_file=$xfer
EOF
  d_start "$mode" vsftpd vsftpd "$conf"
  pid=$D_PID
  if d_wait_port "$port" "$pid"; then
    h_threads_at "$port" "$pid"
    ftp_downloads "$port"
    ok=$(grep -c 'OK DOWNLOAD' "$xfer" 2>/dev/null)
    [[ $ok == "$DOWNLOADS" ]] || d_fail "vsftpd logged ${ok:-0} successful downloads, not $DOWNLOADS"
    h_alive "$pid"
    d_stop "$pid" TERM 15
  fi
  # Sessions make their own process groups (setsid): one left hanging by a
  # failed run outlives the listener's group. Only this run's config matches.
  t0=$SECONDS
  while pgrep -f -x "vsftpd $conf" >/dev/null && ((SECONDS - t0 < 3)); do sleep 0.1; done
  for p in $(pgrep -f -x "vsftpd $conf"); do d_fail "session $p still running"; kill -KILL "$p"; done
  d_scan_log "$D_TMP/vsftpd.$mode.log" 'OOPS'
  d_scan_log "$xfer" 'OOPS|FAIL'
  h_end
done
d_finish
