#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, the model fetch the tests need, and every test
# (unit, integration with the real model, and the real binary). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_toolchain
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "building ragd and fetching the models (embedding, local chat)"
cargo build --locked
target/debug/ragd models fetch
step "test services: redis-server, chromium"
ensure_redis_server
ensure_chromium
step "cargo test"
cargo test --workspace --locked
