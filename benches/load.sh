#!/usr/bin/env bash
# HTTP load test of `ragd serve` (release build) with oha: a trivial endpoint, retrieval with each search
# method, and query embedding alone, each for a fixed time at a fixed concurrency. See benches/LOAD.md.
#
#   benches/load.sh                         # 10 s per scenario, 16 connections, fixtures/docs
#   benches/load.sh --duration 30s --concurrency 32 --docs path/to/corpus
#
# Options (or the environment variable in brackets):
#   --duration D      time per scenario, oha syntax (10s, 1m)            [LOAD_DURATION, 10s]
#   --concurrency N   connections                                         [LOAD_CONCURRENCY, 16]
#   --docs DIR        files to upload, one create-by-file per file        [LOAD_DOCS, fixtures/docs]
#   --bin PATH        the ragd binary                                     [RAGD_BIN, target/release/ragd]
#   --no-build        do not run `cargo build --release` first
#   --embed-path P    the embedding-only endpoint to probe and measure    [LOAD_EMBED_PATH, /v1/embeddings]
#   --out DIR         where oha's JSON, metrics snapshots and the summary go  [target/load/TIMESTAMP]
#   --keep            keep the temporary data dir
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${LOAD_DURATION:-10s}"
CONCURRENCY="${LOAD_CONCURRENCY:-16}"
DOCS="${LOAD_DOCS:-fixtures/docs}"
RAGD_BIN="${RAGD_BIN:-target/release/ragd}"
source scripts/lib.sh
source scripts/serve_helpers.sh
EMBED_PATH="${LOAD_EMBED_PATH:-/v1/embeddings}"
OUT=""
BUILD=1
KEEP=0
while (($#)); do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --docs) DOCS="$2"; shift 2 ;;
    --bin) RAGD_BIN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --embed-path) EMBED_PATH="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-target/load/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"

for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 1; }
done

# --- oha -------------------------------------------------------------------------------------------------
ensure_oha
echo "oha: $OHA ($("$OHA" --version))" >&2

# --- the release binary ----------------------------------------------------------------------------------
if ((BUILD)); then
  step "cargo build --release"
  cargo build --release --locked >&2
fi
[[ -x "$RAGD_BIN" ]] || { echo "error: $RAGD_BIN not found (build it, or pass --bin)" >&2; exit 1; }

# --- server on a temporary data dir ----------------------------------------------------------------------
DATA="$(mktemp -d "${TMPDIR:-/tmp}/ragd-load.XXXXXX")"
cleanup() {
  ragd_serve_stop
  if ((KEEP)); then echo "data dir kept: $DATA" >&2; else rm -rf "$DATA"; fi
}
trap cleanup EXIT

step "starting $RAGD_BIN serve on $DATA"
ragd_key_create "$DATA"
ragd_serve_start "$DATA"
echo "listening on $RAGD_URL (pid $RAGD_PID)" >&2

# --- import through the API: one create-by-file per file -------------------------------------------------
ragd_upload_docs load "$DOCS" "$OUT/upload.err"
DATASET="$RAGD_DATASET"
uploaded="$RAGD_UPLOADED"
segments="$RAGD_SEGMENTS"

# --- request bodies: distinct queries per scenario, so no query repeats across or (practically) within one
step "writing request bodies"
python3 - "$OUT" <<'PY'
import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, "benches")
from load_queries import queries
out = sys.argv[1]
scenarios = ["semantic_search", "full_text_search", "keyword_search", "hybrid_search", "embedding", "warmup"]
for k, scenario in enumerate(scenarios):
    texts = queries(k, len(scenarios))
    with open(f"{out}/bodies-{scenario}.jsonl", "w") as f:
        for q in texts:
            if scenario == "embedding":
                body = {"input": q}
            else:
                method = "semantic_search" if scenario == "warmup" else scenario
                body = {
                    "query": q,
                    "retrieval_model": {
                        "search_method": method, "reranking_enable": False, "top_k": 4,
                        "score_threshold_enabled": False,
                    },
                }
                if method == "hybrid_search":
                    body["retrieval_model"]["reranking_mode"] = "weighted_score"
                    body["retrieval_model"]["weights"] = {
                        "weight_type": "customized",
                        "vector_setting": {"vector_weight": 0.5, "embedding_provider_name": "", "embedding_model_name": ""},
                        "keyword_setting": {"keyword_weight": 0.5},
                    }
            f.write(json.dumps(body) + "\n")
    print(f"{scenario}: {len(texts)} distinct queries", file=sys.stderr)
PY

# --- is there an embedding-only endpoint? ----------------------------------------------------------------
embed_status="$(ragd_status POST "$EMBED_PATH" -H 'Content-Type: application/json' -d '{"input": "probe"}')"
if [[ "$embed_status" == 2* ]]; then
  HAVE_EMBED=1
  echo "embedding endpoint POST $EMBED_PATH answers $embed_status: measured" >&2
else
  HAVE_EMBED=0
  echo "embedding endpoint POST $EMBED_PATH answers $embed_status: not measured (see LOAD.md)" >&2
fi

# --- the runs --------------------------------------------------------------------------------------------
RETRIEVE="$RAGD_URL/v1/datasets/$DATASET/retrieve"
oha_run() { ragd_oha "$OUT" "$@"; } # NAME CONCURRENCY DURATION URL [oha args…]
post_args() { # BODIES_FILE
  printf '%s\0' -m POST -H "Authorization: Bearer $RAGD_KEY" -H "Content-Type: application/json" -Z "$1"
}

step "warm-up (2 s semantic retrieval, not reported)"
mapfile -d '' args < <(post_args "$OUT/bodies-warmup.jsonl")
oha_run warmup "$CONCURRENCY" 2s "$RETRIEVE" "${args[@]}"

scenarios=(health)
step "health: GET /health, $CONCURRENCY connections, $DURATION"
oha_run health "$CONCURRENCY" "$DURATION" "$RAGD_URL/health"
for method in semantic_search full_text_search keyword_search hybrid_search; do
  step "retrieve $method, $CONCURRENCY connections, $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-$method.jsonl")
  oha_run "$method" "$CONCURRENCY" "$DURATION" "$RETRIEVE" "${args[@]}"
  scenarios+=("$method")
done
if ((HAVE_EMBED)); then
  step "embedding: POST $EMBED_PATH, $CONCURRENCY connections, $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-embedding.jsonl")
  oha_run embedding "$CONCURRENCY" "$DURATION" "$RAGD_URL$EMBED_PATH" "${args[@]}"
  scenarios+=(embedding)
fi
# One connection: the model's time per query without queueing (the embedder serializes model calls).
step "semantic_search at 1 connection, 3 s (model time per query, unqueued)"
mapfile -d '' args < <(post_args "$OUT/bodies-semantic_search.jsonl")
oha_run semantic_c1 1 3s "$RETRIEVE" "${args[@]}"
scenarios+=(semantic_c1)

# --- summary ---------------------------------------------------------------------------------------------
step "summary"
python3 - "$OUT" "$CONCURRENCY" "$DURATION" "$HAVE_EMBED" "$EMBED_PATH" "$uploaded" "$segments" "$RAGD_BIN" \
  "${scenarios[@]}" <<'PY' | tee "$OUT/summary.md"
import json, re, sys
out, conc, duration, have_embed, embed_path, docs, segments, binary = sys.argv[1:9]
scenarios = sys.argv[9:]
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')

def metrics(path):
    values = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            values[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return values

def mean_ms(name, labels, before, after):
    s = after.get((name + "_sum", labels), 0.0) - before.get((name + "_sum", labels), 0.0)
    n = after.get((name + "_count", labels), 0.0) - before.get((name + "_count", labels), 0.0)
    return (1000.0 * s / n) if n > 0 else None

def fmt(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"

labels = {
    "health": "GET /health",
    "semantic_search": "retrieve semantic_search",
    "full_text_search": "retrieve full_text_search",
    "keyword_search": "retrieve keyword_search",
    "hybrid_search": "retrieve hybrid_search (weighted 0.5/0.5)",
    "embedding": f"embedding only (POST {embed_path})",
    "semantic_c1": "retrieve semantic_search, 1 connection",
}
rows, rps = [], {}
for name in scenarios:
    r = json.load(open(f"{out}/{name}.json"))
    before, after = metrics(f"{out}/{name}.metrics.before"), metrics(f"{out}/{name}.metrics.after")
    codes = r.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    total = sum(codes.values())
    errors = sum(r.get("errorDistribution", {}).values())
    # Only 2xx answers count toward the rate.
    seconds = r["summary"]["total"]
    rate = ok / seconds if seconds else 0.0
    rps[name] = rate
    p = r.get("latencyPercentiles", {})
    embed = mean_ms("ragd_embed_seconds", '{kind="query"}', before, after)
    stage = lambda s: mean_ms("ragd_retrieve_stage_seconds", f'{{stage="{s}"}}', before, after)
    rows.append((labels.get(name, name), rate, p.get("p50"), p.get("p99"), total - ok + errors, embed,
                 stage("bm25"), stage("ann"), stage("hydrate")))

print(f"ragd load test: {binary}, {docs} documents / {segments} segments, {conc} connections, {duration} per scenario\n")
print("| scenario | requests/s | p50 ms | p99 ms | non-2xx / errors | embed ms (mean) | bm25 ms | ann ms | hydrate ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, rate, p50, p99, bad, embed, bm25, ann, hydrate in rows:
    ms = lambda v: None if v is None else v * 1000
    print(f"| {label} | {rate:.1f} | {fmt(ms(p50), 2)} | {fmt(ms(p99), 2)} | {bad} | {fmt(embed, 2)} | "
          f"{fmt(bm25, 2)} | {fmt(ann, 2)} | {fmt(hydrate, 2)} |")
print()
hybrid = rps.get("hybrid_search")
if have_embed == "1" and rps.get("embedding"):
    print(f"hybrid retrieve rps / embedding rps = {hybrid:.1f} / {rps['embedding']:.1f} = {hybrid / rps['embedding']:.2f}")
else:
    c1 = rows[-1] if scenarios[-1] == "semantic_c1" else None
    model_ms = c1[5] if c1 else None
    print(f"hybrid retrieve rps / embedding rps: not measured, the server has no embedding-only endpoint "
          f"(POST {embed_path} is not routed).")
    if model_ms:
        ceiling = 1000.0 / model_ms
        print(f"estimate: one query embedding takes {model_ms:.2f} ms of model time unqueued; model calls are "
              f"serialized, so embedding alone tops out near {ceiling:.0f}/s and hybrid/embedding ≈ "
              f"{hybrid:.1f} / {ceiling:.0f} = {hybrid / ceiling:.2f} (estimate, not a measurement)")
print(f"\nraw oha JSON and /metrics snapshots: {out}")
PY
