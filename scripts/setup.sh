#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the main job that exists today:
# build the release binary, fetch the pinned embedding model (idempotent), import the demo documents in
# fixtures/docs into the dataset "demo" of the local data dir (idempotent), and retrieve from it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_toolchain
step "building ragd (release)"
cargo build --release --locked
step "fetching the embedding model"
target/release/ragd models fetch
step "importing fixtures/docs into the dataset \"demo\""
target/release/ragd import fixtures/docs --dataset demo --create
step "retrieving: hybrid search with score explanations"
target/release/ragd retrieve --dataset demo --explain "how do honey bees survive the winter"
cat <<'MSG'

Try more:
  target/release/ragd retrieve --dataset demo --method full-text --top-k 5 "compost"
  target/release/ragd retrieve --dataset demo --json "retrieval augmented generation"
  target/release/ragd eval ../shared/datasets/cranfield     # nDCG@10, Recall@10/100, MRR@10 per method
MSG
