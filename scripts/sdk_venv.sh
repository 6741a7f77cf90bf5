#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the SDK conformance test, target/sdk-venv, with the Dify
# Knowledge API client `dify-dataset-sdk` pinned at the version the spec was written against.
# Idempotent: does nothing but say so when the pinned version is already installed.
# Prints the venv's python on its last line of stdout (everything else goes to stderr).
#
#   scripts/sdk_venv.sh            # → target/sdk-venv/bin/python
#   PYTHON=python3.12 scripts/sdk_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SDK_PACKAGE="dify-dataset-sdk"
SDK_VERSION="0.6.3"
VENV="${SDK_VENV:-target/sdk-venv}"
PYTHON="${PYTHON:-python3}"

say() { printf 'sdk_venv: %s\n' "$*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "error: $PYTHON not found; install Python 3 (Debian: apt-get install python3 python3-venv)"
  exit 1
fi

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "reusing venv $VENV"
else
  say "creating venv $VENV with $PYTHON"
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV" >&2; then
    say "error: '$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
    exit 1
  fi
fi

installed="$("$VENV/bin/python" -m pip show "$SDK_PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [[ "$installed" == "$SDK_VERSION" ]]; then
  say "$SDK_PACKAGE==$SDK_VERSION already installed"
else
  if [[ -n "$installed" ]]; then
    say "replacing $SDK_PACKAGE $installed with $SDK_VERSION"
  else
    say "installing $SDK_PACKAGE==$SDK_VERSION"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$SDK_PACKAGE==$SDK_VERSION" >&2
  say "installed: $("$VENV/bin/python" -m pip show "$SDK_PACKAGE" | sed -n 's/^Version: //p')"
fi

echo "$VENV/bin/python"
