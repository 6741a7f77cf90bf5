#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the main job that exists today:
# build the release binary, fetch the pinned embedding model (idempotent), and ingest the demo
# fixtures as a dry run (parse, clean, chunk, embed; prints files, chunks, tokens, embedding time).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_toolchain
step "building ragd (release)"
cargo build --release --locked
step "fetching the embedding model"
target/release/ragd models fetch
step "ingesting fixtures/docs (dry run)"
target/release/ragd ingest --dry-run fixtures/docs
