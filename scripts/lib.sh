# Shared helpers for scripts/test and scripts/demo (sourced, not run).
# Every step is bounded in time; a step that overruns is killed and fails.

COHOOK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages. Native: build the project (meson needs every dependency
# the build files ask for, so the demo needs the same set as the tests).
NATIVE_PACKAGES=(meson ninja-build pkg-config g++ libgtest-dev googletest
                 libboost-context-dev libbenchmark-dev catch2 valgrind)
# Stock daemons, their load clients and the tracing tools the smoke tests use
# (preload-tests/daemons/). Services must not auto-start: see quiet_services.
DAEMON_PACKAGES=(python3 mariadb-server mariadb-client sysbench tinyproxy apache2 apache2-utils
                 civetweb lighttpd nginx-light redis-server redis-tools memcached libmemcached-tools
                 socat busybox vsftpd curl wrk libbpf-tools bpftrace libaio-dev liburing-dev)
# scripts/bench: plots (bench/plot.py) and CPU placement (taskset).
BENCH_PACKAGES=(python3 python3-matplotlib util-linux)
# Cross: the aarch64 build, its tests run under qemu-user.
CROSS_PACKAGES=(g++-aarch64-linux-gnu qemu-user)

banner() {
  printf '\n==== %s ====\n' "$*"
}

note() {
  printf '  %s\n' "$*"
}

# ensure_packages PKG...: install whatever is missing (apt-get update first,
# once); does nothing, not even apt, when everything is installed.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    note "all ${#@} packages present: $*"
    return 0
  fi
  note "installing: ${missing[*]}"
  quiet_services
  local sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null; then sudo=(sudo -n); else
      echo "error: packages missing (${missing[*]}) and not root" >&2
      return 1
    fi
  fi
  timeout 900 "${sudo[@]}" apt-get update -q </dev/null
  DEBIAN_FRONTEND=noninteractive timeout 1800 "${sudo[@]}" apt-get install -y -q \
    -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" </dev/null
}

# quiet_services: a policy-rc.d that exits 101, so that installing a daemon
# package never starts it (the tests start what they need themselves).
quiet_services() {
  local f=/usr/sbin/policy-rc.d
  if [[ ! -x $f ]] && ((EUID == 0)); then
    printf '#!/bin/sh\n# cohook scripts/lib.sh: packages must not start services\nexit 101\n' >"$f"
    chmod 755 "$f"
  fi
}

# setup_build DIR ARGS...: configure DIR with meson unless it is already
# configured with exactly these ARGS (a stamp file remembers them), so that
# re-runs cost nothing; ninja regenerates by itself when meson.build changes.
setup_build() {
  local dir="$1"; shift
  local stamp="$dir/.cohook-setup-args" want="$*"
  if [[ -f "$dir/build.ninja" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    note "$dir: configured already ($want)"
    return 0
  fi
  if [[ -f "$dir/meson-private/coredata.dat" ]]; then
    # Options of an existing build dir: reconfigure; if that fails (a cross
    # file changed, a meson upgrade), start afresh.
    timeout 600 meson setup --reconfigure "$dir" "$@" </dev/null ||
      timeout 600 meson setup --wipe "$dir" "$@" </dev/null || return 1
  else
    rm -rf "$dir"
    timeout 600 meson setup "$dir" "$@" </dev/null || return 1
  fi
  printf '%s' "$want" >"$stamp"
}

# build DIR [TARGET...]: ninja, bounded.
build() {
  local dir="$1"; shift
  timeout 1200 ninja -C "$dir" "$@" </dev/null
}
