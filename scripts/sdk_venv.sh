#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the SDK conformance tests, target/sdk-venv, with the Dify clients
# pinned at the versions the spec was written against:
#   - `dify-dataset-sdk` (Knowledge API; tests/sdk_conformance.rs)
#   - `dify-client-python` (App API: chat, workflows, stop, feedback; tests/chat_sdk_conformance.rs)
# Both go into the same venv, installed by one pip call so that its resolver picks httpx/pydantic versions
# satisfying both (dify-dataset-sdk: httpx>=0.28.1, pydantic>=2.10.6; dify-client-python: httpx, httpx-sse,
# pydantic>=2,<3, StrEnum), and `pip check` must pass afterwards.
# Idempotent: does nothing but say so when the pinned versions are already installed.
# Prints the venv's python on its last line of stdout (everything else goes to stderr).
#
#   scripts/sdk_venv.sh            # → target/sdk-venv/bin/python
#   PYTHON=python3.12 scripts/sdk_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# name==version, one per pinned SDK.
SDK_PINS=(
  "dify-dataset-sdk==0.6.3"
  "dify-client-python==1.0.3"
)
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

installed_version() {
  "$VENV/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p' || true
}

missing=()
for pin in "${SDK_PINS[@]}"; do
  package="${pin%%==*}"
  version="${pin#*==}"
  installed="$(installed_version "$package")"
  if [[ "$installed" == "$version" ]]; then
    say "$pin already installed"
  else
    if [[ -n "$installed" ]]; then
      say "replacing $package $installed with $version"
    else
      say "installing $pin"
    fi
    missing+=("$pin")
  fi
done

if ((${#missing[@]} > 0)); then
  # All pins in one call (not only the missing ones), so that the resolver sees every constraint at once.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${SDK_PINS[@]}" >&2
  for pin in "${SDK_PINS[@]}"; do
    package="${pin%%==*}"
    say "installed: $package $(installed_version "$package")"
  done
  if ! "$VENV/bin/python" -m pip check >&2; then
    say "error: the pinned SDKs' dependencies conflict (pip check above)"
    exit 1
  fi
fi

echo "$VENV/bin/python"
