#!/usr/bin/env bash
# HTTP load test of `ragd serve` (release build) with oha: a trivial endpoint, retrieval with each search
# method (cache bypassed), query embedding alone, and the cache: L1 exact hits, L1 semantic hits and L2
# (Redis) hits, each for a fixed time at a fixed concurrency. See benches/LOAD.md.
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
#   --no-cache        skip the cached scenarios (they start a redis-server on a free port)
#   --cached N        distinct queries of the cached scenarios            [LOAD_CACHED, 1000]
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
CACHED=1
CACHED_N="${LOAD_CACHED:-1000}"
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
    --no-cache) CACHED=0; shift ;;
    --cached) CACHED_N="$2"; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
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
REDIS_PID=""
cleanup() {
  ragd_serve_stop
  [[ -z "$REDIS_PID" ]] || { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null || true; }
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
python3 - "$OUT" "$CACHED_N" <<'PY'
import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, "benches")
from load_queries import queries
out, cached_n = sys.argv[1], int(sys.argv[2])
scenarios = ["semantic_search", "full_text_search", "keyword_search", "hybrid_search", "embedding", "warmup",
             "cached"]
for k, scenario in enumerate(scenarios):
    texts = queries(k, len(scenarios))
    with open(f"{out}/bodies-{scenario}.jsonl", "w") as f:
        for q in texts:
            if scenario == "embedding":
                body = {"input": q}
            else:
                method = {"warmup": "semantic_search", "cached": "hybrid_search"}.get(scenario, scenario)
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
# The cached scenarios: N hybrid queries asked once to fill the cache, then again (exact hits), and N
# paraphrases ("please tell me …") for semantic hits; the summary says how many were answered by the cache.
lines = open(f"{out}/bodies-cached.jsonl").read().splitlines()[:cached_n]
with open(f"{out}/bodies-cached.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
with open(f"{out}/bodies-one.jsonl", "w") as f:
    f.write(lines[0] + "\n")
with open(f"{out}/bodies-paraphrase.jsonl", "w") as f:
    for line in lines:
        body = json.loads(line)
        body["query"] = "please tell me " + body["query"]
        f.write(json.dumps(body) + "\n")
print(f"cached: {len(lines)} distinct queries and as many paraphrases", file=sys.stderr)
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
post_args() { # BODIES_FILE [extra oha args…]
  printf '%s\0' -m POST -H "Authorization: Bearer $RAGD_KEY" -H "Content-Type: application/json" -Z "$@"
}
# Uncached scenarios bypass the cache (`Cache-Control: no-store`): they measure the retrieval itself.
uncached_args() { post_args "$1" -H "Cache-Control: no-store"; }

step "warm-up (2 s semantic retrieval, not reported)"
mapfile -d '' args < <(uncached_args "$OUT/bodies-warmup.jsonl")
oha_run warmup "$CONCURRENCY" 2s "$RETRIEVE" "${args[@]}"

scenarios=(health)
step "health: GET /health, $CONCURRENCY connections, $DURATION"
oha_run health "$CONCURRENCY" "$DURATION" "$RAGD_URL/health"
for method in semantic_search full_text_search keyword_search hybrid_search; do
  step "retrieve $method, $CONCURRENCY connections, $DURATION"
  mapfile -d '' args < <(uncached_args "$OUT/bodies-$method.jsonl")
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
mapfile -d '' args < <(uncached_args "$OUT/bodies-semantic_search.jsonl")
oha_run semantic_c1 1 3s "$RETRIEVE" "${args[@]}"
scenarios+=(semantic_c1)

# --- the cache -------------------------------------------------------------------------------------------
if ((CACHED)); then
  ensure_redis_server
  REDIS_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  step "cached scenarios: redis-server on 127.0.0.1:$REDIS_PORT (our own; nothing else is touched)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DATA" \
    >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export RAGD__CACHE__REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
  ragd_serve_stop
  ragd_serve_start "$DATA"
  RETRIEVE="$RAGD_URL/v1/datasets/$DATASET/retrieve"
  step "filling the cache: $CACHED_N distinct hybrid queries, once each, with Cache-Control: no-cache"
  # no-cache computes and stores every query under its own key (a plain fill would answer some from
  # their neighbours, semantically, and store those only as aliases).
  mapfile -d '' args < <(post_args "$OUT/bodies-cached.jsonl" -H "Cache-Control: no-cache")
  oha_run cache_fill "$CONCURRENCY" "n=$CACHED_N" "$RETRIEVE" "${args[@]}"
  scenarios+=(cache_fill)
  mapfile -d '' args < <(post_args "$OUT/bodies-cached.jsonl")
  step "health again on this server, $CONCURRENCY connections, $DURATION"
  oha_run health_cached "$CONCURRENCY" "$DURATION" "$RAGD_URL/health"
  scenarios+=(health_cached)
  step "L1 exact hits: the same queries, $CONCURRENCY connections, $DURATION"
  oha_run l1_exact "$CONCURRENCY" "$DURATION" "$RETRIEVE" "${args[@]}"
  scenarios+=(l1_exact)
  step "L1 exact hits: one hot question, $CONCURRENCY connections, $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-one.jsonl")
  oha_run l1_exact_one "$CONCURRENCY" "$DURATION" "$RETRIEVE" "${args[@]}"
  scenarios+=(l1_exact_one)
  step "L1 semantic hits: $CACHED_N paraphrases, once each (each is embedded)"
  mapfile -d '' args < <(post_args "$OUT/bodies-paraphrase.jsonl")
  oha_run l1_semantic "$CONCURRENCY" "n=$CACHED_N" "$RETRIEVE" "${args[@]}"
  scenarios+=(l1_semantic)
  step "L2 hits: restarted with L1 of 0 bytes (every answer comes from Redis), $DURATION"
  ragd_serve_stop
  RAGD__CACHE__L1_MAX_BYTES=0 ragd_serve_start "$DATA"
  RETRIEVE="$RAGD_URL/v1/datasets/$DATASET/retrieve"
  mapfile -d '' args < <(post_args "$OUT/bodies-cached.jsonl")
  oha_run l2 "$CONCURRENCY" "$DURATION" "$RETRIEVE" "${args[@]}"
  scenarios+=(l2)
  unset RAGD__CACHE__REDIS_URL
fi

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
    "cache_fill": "cache fill: hybrid, new queries, no-cache (computed)",
    "health_cached": "GET /health (server with the cache on Redis)",
    "l1_exact": "cached: L1 exact hits",
    "l1_exact_one": "cached: L1 exact hits, one hot question",
    "l1_semantic": "cached: L1 semantic hits (paraphrases)",
    "l2": "cached: L2 (Redis) hits, L1 off",
}

def cpu_per_request(name, requests):
    """ragd's CPU time (user + system) per request over the scenario, in microseconds."""
    import os
    try:
        before = float(open(f"{out}/{name}.cpu.before").read())
        after = float(open(f"{out}/{name}.cpu.after").read())
    except (OSError, ValueError):
        return None
    return (after - before) / os.sysconf("SC_CLK_TCK") * 1e6 / requests if requests else None

def cache_mix(name):
    """Where the scenario's answers came from, from /cache/stats before and after."""
    import os
    before, after = f"{out}/{name}.cache.before", f"{out}/{name}.cache.after"
    if not (os.path.exists(before) and os.path.exists(after)):
        return ""
    try:
        b, a = json.load(open(before))["totals"], json.load(open(after))["totals"]
    except (ValueError, KeyError):
        return ""
    delta = {k: a[k] - b[k] for k in ("l1_exact", "l1_semantic", "l2", "misses", "bypassed")}
    # refreshes count as misses in the totals (computed and stored)
    total = sum(delta.values())
    if not total:
        return ""
    short = {"l1_exact": "L1 exact", "l1_semantic": "L1 sem", "l2": "L2", "misses": "miss", "bypassed": "bypass"}
    return ", ".join(f"{short[k]} {100 * v / total:.1f}%" for k, v in delta.items() if v)

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
                 stage("bm25"), stage("ann"), stage("hydrate"), cpu_per_request(name, total), cache_mix(name)))

print(f"ragd load test: {binary}, {docs} documents / {segments} segments, {conc} connections, {duration} per scenario\n")
print("| scenario | requests/s | p50 ms | p99 ms | non-2xx / errors | embed ms (mean) | bm25 ms | ann ms | hydrate ms | ragd CPU µs/req | answered by |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for label, rate, p50, p99, bad, embed, bm25, ann, hydrate, cpu, mix in rows:
    ms = lambda v: None if v is None else v * 1000
    print(f"| {label} | {rate:.1f} | {fmt(ms(p50), 2)} | {fmt(ms(p99), 2)} | {bad} | {fmt(embed, 2)} | "
          f"{fmt(bm25, 2)} | {fmt(ann, 2)} | {fmt(hydrate, 2)} | {fmt(cpu, 0)} | {mix} |")
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
for hit in ("l1_exact", "l1_exact_one"):
    if rps.get(hit) and rps.get("health_cached"):
        ratio = rps[hit] / rps["health_cached"]
        print(f"{hit} rps / health rps (same server) = {rps[hit]:.1f} / {rps['health_cached']:.1f} = {ratio:.2f} "
              f"(budget >= 0.5)")
if rps.get("l1_exact"):
    if rps.get("hybrid_search"):
        print(f"L1-hit / uncached hybrid = {rps['l1_exact'] / rps['hybrid_search']:.1f}x; "
              f"L2-hit / uncached hybrid = {rps.get('l2', 0) / rps['hybrid_search']:.1f}x")
print(f"\nraw oha JSON and /metrics snapshots: {out}")
PY
