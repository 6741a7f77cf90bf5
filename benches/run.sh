#!/usr/bin/env bash
# Runs every benchmark of the project with the real model and prints the figures that closing notes
# quote. Per-crate criterion benches live in crates/*/benches; end-to-end load scripts join this
# folder when the server exists.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
target/release/ragd models fetch
cargo bench --locked -p ragd-embed --bench embed
cargo bench --locked -p ragd-ingest --bench chunking
cargo run --release --locked -q -p ragd-embed --example batch_probe
