#!/usr/bin/env bash
# Load test of the App API (`ragd serve`, release build): a chatflow start → knowledge retrieval → LLM →
# answer (fixtures/flows/rag-chat.yml over --docs uploaded through the API), its LLM the local instant
# OpenAI-compatible server (ragd-llm's instant_llm example), so the numbers are ragd's own cost per message.
# At each concurrency: chat messages/s and full-response latency, streaming and blocking, with oha; time
# to the headers / first SSE event / first token with benches/sse_ttfb.py; GET /health and hybrid
# retrieval with oha for reference. See benches/LOAD.md, "Chat (App API)".
#
#   benches/chat_load.sh                        # 10 s per scenario at 1 and 64 connections, fixtures/docs
#   benches/chat_load.sh --duration 30s --concurrency 1,16,64 --client-processes 2
#
# Options (or the environment variable in brackets):
#   --duration D          time per scenario, oha syntax (10s, 1m)                [CHAT_LOAD_DURATION, 10s]
#   --concurrency LIST    comma-separated connection counts                      [CHAT_LOAD_CONCURRENCY, 1,64]
#   --docs DIR            files to upload, one create-by-file per file            [LOAD_DOCS, fixtures/docs]
#   --flow FILE           chatflow DSL; its dataset id 00000000-…-00000000da7a is replaced by the uploaded
#                         dataset's                                   [CHAT_LOAD_FLOW, fixtures/flows/rag-chat.yml]
#   --reply-tokens N      words in every LLM answer                               [CHAT_LOAD_REPLY_TOKENS, 32]
#   --tokens-per-chunk N  words per streamed LLM chunk, i.e. per SSE `message` event
#                         (the instant LLM sends them back to back)      [CHAT_LOAD_TOKENS_PER_CHUNK, 1]
#   --client-processes N  processes of the TTFB client (sse_ttfb.py)             [CHAT_LOAD_CLIENT_PROCESSES, 1]
#   --bin PATH            the ragd binary                                         [RAGD_BIN, target/release/ragd]
#   --llm-bin PATH        the instant LLM server  [INSTANT_LLM_BIN, target/release/examples/instant_llm]
#   --no-build            do not run `cargo build --release` (ragd and the instant_llm example) first
#   --out DIR             where the raw reports, metrics snapshots and the summary go
#                                                                                [target/load/chat-TIMESTAMP]
#   --keep                keep the temporary data dir
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${CHAT_LOAD_DURATION:-10s}"
CONCURRENCY="${CHAT_LOAD_CONCURRENCY:-1,64}"
DOCS="${LOAD_DOCS:-fixtures/docs}"
FLOW="${CHAT_LOAD_FLOW:-fixtures/flows/rag-chat.yml}"
REPLY_TOKENS="${CHAT_LOAD_REPLY_TOKENS:-32}"
TOKENS_PER_CHUNK="${CHAT_LOAD_TOKENS_PER_CHUNK:-1}"
CLIENT_PROCESSES="${CHAT_LOAD_CLIENT_PROCESSES:-1}"
RAGD_BIN="${RAGD_BIN:-target/release/ragd}"
LLM_BIN="${INSTANT_LLM_BIN:-target/release/examples/instant_llm}"
source scripts/lib.sh
source scripts/serve_helpers.sh
OUT=""
BUILD=1
KEEP=0
while (($#)); do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --docs) DOCS="$2"; shift 2 ;;
    --flow) FLOW="$2"; shift 2 ;;
    --reply-tokens) REPLY_TOKENS="$2"; shift 2 ;;
    --tokens-per-chunk) TOKENS_PER_CHUNK="$2"; shift 2 ;;
    --client-processes) CLIENT_PROCESSES="$2"; shift 2 ;;
    --bin) RAGD_BIN="$2"; shift 2 ;;
    --llm-bin) LLM_BIN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-target/load/chat-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"

for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 1; }
done
IFS=, read -r -a LEVELS <<<"$CONCURRENCY"
for c in "${LEVELS[@]}"; do
  [[ "$c" =~ ^[1-9][0-9]*$ ]] || { echo "error: --concurrency takes numbers like 1,64 (got $CONCURRENCY)" >&2; exit 2; }
done
[[ "$REPLY_TOKENS" =~ ^[1-9][0-9]*$ ]] || { echo "error: --reply-tokens takes a number" >&2; exit 2; }
[[ "$TOKENS_PER_CHUNK" =~ ^[1-9][0-9]*$ ]] || { echo "error: --tokens-per-chunk takes a number" >&2; exit 2; }
[[ "$CLIENT_PROCESSES" =~ ^[1-9][0-9]*$ ]] || { echo "error: --client-processes takes a number" >&2; exit 2; }
[[ -f "$FLOW" ]] || { echo "error: no flow file $FLOW" >&2; exit 1; }
# The TTFB client takes seconds; oha's duration syntax (500ms, 10s, 1m, 1h) converted.
DURATION_S="$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", sys.argv[1])
if not m:
    sys.exit("error: --duration takes 10s, 1m, 500ms, ...")
print(float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2) or "s"])' "$DURATION")"

# --- oha -------------------------------------------------------------------------------------------------
ensure_oha
echo "oha: $OHA ($("$OHA" --version))" >&2

# --- the release binaries --------------------------------------------------------------------------------
if ((BUILD)); then
  step "cargo build --release (ragd, and the instant_llm example of ragd-llm)"
  cargo build --release --locked >&2
  cargo build --release --locked -p ragd-llm --features test-server --example instant_llm >&2
fi
[[ -x "$RAGD_BIN" ]] || { echo "error: $RAGD_BIN not found (build it, or pass --bin)" >&2; exit 1; }
[[ -x "$LLM_BIN" ]] || { echo "error: $LLM_BIN not found (build it, or pass --llm-bin)" >&2; exit 1; }

# --- the instant LLM and the server, on a temporary data dir ---------------------------------------------
DATA="$(mktemp -d "${TMPDIR:-/tmp}/ragd-chat-load.XXXXXX")"
LLM_PID=""
cleanup() {
  ragd_serve_stop
  if [[ -n "$LLM_PID" ]]; then
    kill -INT "$LLM_PID" 2>/dev/null || true
    wait "$LLM_PID" 2>/dev/null || true
  fi
  if ((KEEP)); then echo "data dir kept: $DATA" >&2; else rm -rf "$DATA"; fi
}
trap cleanup EXIT

# The answer: REPLY_TOKENS words of a fixed text, streamed TOKENS_PER_CHUNK words per chunk.
REPLY="$(python3 -c '
import itertools, sys
words = ("Honey bees survive the winter by forming a tight cluster inside the hive and shivering their flight "
         "muscles to make heat, while the colony slowly eats the honey it stored during summer and autumn; "
         "the bees on the cold outside of the cluster keep changing places with those in the warm middle.").split()
print(" ".join(itertools.islice(itertools.cycle(words), int(sys.argv[1]))))' "$REPLY_TOKENS")"

step "starting the instant LLM ($LLM_BIN, $REPLY_TOKENS tokens per answer, $TOKENS_PER_CHUNK per chunk)"
"$LLM_BIN" --port 0 --reply "$REPLY" --tokens-per-chunk "$TOKENS_PER_CHUNK" >"$DATA/llm.stdout.log" 2>"$DATA/llm.stderr.log" &
LLM_PID=$!
LLM_BASE=""
for ((i = 0; i < 300; i++)); do
  LLM_BASE="$(sed -n 's/^instant LLM listening: base_url = //p' "$DATA/llm.stdout.log")"
  [[ -n "$LLM_BASE" ]] && break
  kill -0 "$LLM_PID" 2>/dev/null || { echo "error: instant_llm exited:" >&2; cat "$DATA/llm.stderr.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$LLM_BASE" ]] || { echo "error: instant_llm did not listen within 30 s" >&2; exit 1; }
echo "instant LLM at $LLM_BASE (pid $LLM_PID)" >&2

MAX_CONC=1
for c in "${LEVELS[@]}"; do ((c > MAX_CONC)) && MAX_CONC=$c; done
# Requests beyond server.max_concurrent_requests are shed with 429: leave ample room above the load.
MAX_REQUESTS=$((4 * MAX_CONC > 256 ? 4 * MAX_CONC : 256))
export RAGD__LLM__PROVIDERS__OPENAI__BASE_URL="$LLM_BASE"
export RAGD__LLM__PROVIDERS__OPENAI__MAX_RETRIES=0 # a failed LLM call shows as a failed run, not a retry
export RAGD__LLM__DEFAULT_PROVIDER=openai
export RAGD__SERVER__MAX_CONCURRENT_REQUESTS="$MAX_REQUESTS"

step "starting $RAGD_BIN serve on $DATA (max_concurrent_requests $MAX_REQUESTS)"
ragd_key_create "$DATA"
ragd_serve_start "$DATA"
echo "listening on $RAGD_URL (pid $RAGD_PID)" >&2

# --- the knowledge: --docs through the API; the app: the flow over that dataset ---------------------------
ragd_upload_docs chat-load "$DOCS" "$OUT/upload.err"
DATASET="$RAGD_DATASET"

step "creating the app from $FLOW"
APP="$(sed "s/00000000-0000-0000-0000-00000000da7a/$DATASET/g" "$FLOW" |
  ragd_api POST /v1/apps -H 'Content-Type: application/yaml' --data-binary @-)"
APP_KEY="$(printf '%s' "$APP" | ragd_json_field '["api_key"]')"
echo "app $(printf '%s' "$APP" | ragd_json_field '["id"]') ($(printf '%s' "$APP" | ragd_json_field '["mode"]'))" >&2

# --- request bodies: distinct queries per scenario (benches/load_queries.py) -----------------------------
step "writing request bodies"
python3 - "$OUT" "${LEVELS[@]}" <<'PY'
import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, "benches")
from load_queries import queries
out, levels = sys.argv[1], sys.argv[2:]
# The retrieval the flow's knowledge node runs (rag-chat.yml): hybrid, weighted 0.7 / 0.3, top_k 3.
retrieval = {
    "search_method": "hybrid_search", "reranking_enable": False, "top_k": 3,
    "score_threshold_enabled": False, "reranking_mode": "weighted_score",
    "weights": {
        "weight_type": "customized",
        "vector_setting": {"vector_weight": 0.7, "embedding_provider_name": "", "embedding_model_name": ""},
        "keyword_setting": {"keyword_weight": 0.3},
    },
}
names = ["warmup"] + [f"{kind}_c{c}" for c in levels for kind in ("retrieve", "stream", "block", "ttfb", "ttfbq")]
for k, name in enumerate(names):
    texts = queries(k, len(names))
    with open(f"{out}/bodies-{name}.jsonl", "w") as f:
        for q in texts:
            if name.startswith("retrieve"):
                body = {"query": q, "retrieval_model": retrieval}
            else:
                mode = "blocking" if name.startswith("block") else "streaming"
                body = {"query": q, "inputs": {}, "user": "load", "response_mode": mode, "conversation_id": ""}
            f.write(json.dumps(body) + "\n")
print(f"{len(names)} scenarios, {len(texts)}+ distinct queries each", file=sys.stderr)
PY

# --- the runs --------------------------------------------------------------------------------------------
CHAT="$RAGD_URL/v1/chat-messages"
RETRIEVE="$RAGD_URL/v1/datasets/$DATASET/retrieve"
# CPU time (clock ticks) of ragd and of the instant LLM, and the 1-min load average, around each scenario.
TICKS="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
snap() { # NAME before|after
  echo "$(cpu_ticks "$RAGD_PID") $(cpu_ticks "$LLM_PID") $(date +%s.%N) $(cut -d' ' -f1 /proc/loadavg)" >"$OUT/$1.cpu.$2"
}
oha_run() { # NAME CONCURRENCY DURATION URL [oha args…]
  snap "$1" before
  ragd_oha "$OUT" "$@"
  snap "$1" after
}
post_args() { # BODIES_FILE KEY
  printf '%s\0' -m POST -H "Authorization: Bearer $2" -H "Content-Type: application/json" -Z "$1"
}
ttfb_run() { # NAME CONCURRENCY [sse_ttfb args…]
  local name="$1" conc="$2"
  shift 2
  snap "$name" before
  curl -s "$RAGD_URL/metrics" >"$OUT/$name.metrics.before"
  python3 benches/sse_ttfb.py --url "$CHAT" --key "$APP_KEY" --bodies "$OUT/bodies-$name.jsonl" \
    --concurrency "$conc" --duration "$DURATION_S" --processes "$CLIENT_PROCESSES" --label "$name" \
    --json "$OUT/$name.json" "$@" >&2
  curl -s "$RAGD_URL/metrics" >"$OUT/$name.metrics.after"
  snap "$name" after
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

step "warm-up (2 s streaming chat at $MAX_CONC connections, not reported)"
mapfile -d '' args < <(post_args "$OUT/bodies-warmup.jsonl" "$APP_KEY")
oha_run warmup "$MAX_CONC" 2s "$CHAT" "${args[@]}"

scenarios=()
for c in "${LEVELS[@]}"; do
  step "c=$c: GET /health, $DURATION"
  oha_run "health_c$c" "$c" "$DURATION" "$RAGD_URL/health"
  step "c=$c: retrieve hybrid_search (the flow's retrieval), $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-retrieve_c$c.jsonl" "$RAGD_KEY")
  oha_run "retrieve_c$c" "$c" "$DURATION" "$RETRIEVE" "${args[@]}"
  step "c=$c: chat, streaming (oha), $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-stream_c$c.jsonl" "$APP_KEY")
  oha_run "stream_c$c" "$c" "$DURATION" "$CHAT" "${args[@]}"
  # Right after oha's streaming run, so the two clients' rates compare on the same machine load.
  step "c=$c: chat, streaming, time to first byte (sse_ttfb.py), $DURATION"
  ttfb_run "ttfb_c$c" "$c"
  step "c=$c: chat, blocking (oha), $DURATION"
  mapfile -d '' args < <(post_args "$OUT/bodies-block_c$c.jsonl" "$APP_KEY")
  oha_run "block_c$c" "$c" "$DURATION" "$CHAT" "${args[@]}"
  # Diagnostic: the same with the client acknowledging every segment at once (TCP_QUICKACK). ragd's
  # listener does not set TCP_NODELAY, so Nagle holds a small SSE write until the previous one is ACKed, and
  # a client's delayed ACK (up to 40 ms on Linux) then stalls the stream; this row shows how much.
  step "c=$c: chat, streaming, time to first byte, client ACKing at once (diagnostic), $DURATION"
  ttfb_run "ttfbq_c$c" "$c" --quickack
  scenarios+=("health_c$c" "retrieve_c$c" "stream_c$c" "block_c$c" "ttfb_c$c" "ttfbq_c$c")
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the run log: every chat message is a run; a 200 SSE stream can still hold a failed run --------------
step "stopping the server (flushes the run log), counting runs by status"
ragd_serve_stop
for status in succeeded failed stopped running partial-succeeded; do
  "$RAGD_BIN" runs --data-dir "$DATA" --status "$status" --limit 1000000000 --json |
    python3 -c 'import json, sys; print(sys.argv[1], len(json.load(sys.stdin)))' "$status"
done >"$OUT/runs.txt"

# --- summary ---------------------------------------------------------------------------------------------
step "summary"
python3 - "$OUT" "$DURATION" "$RAGD_BIN" "$RAGD_UPLOADED" "$RAGD_SEGMENTS" "$REPLY_TOKENS" "$LOAD_BEFORE" \
  "$LOAD_AFTER" "$(nproc)" "$TICKS" "$TOKENS_PER_CHUNK" "${scenarios[@]}" <<'PY' | tee "$OUT/summary.md"
import json, re, sys
out, duration, binary, docs, segments, reply_tokens, load_before, load_after, cores, ticks, per_chunk = sys.argv[1:12]
scenarios = sys.argv[12:]
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')

def metrics(path):
    values = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            values[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return values

def delta(name, before, after):
    """Sum over all label sets of a counter's increase."""
    keys = {k for k in after if k[0] == name}
    return sum(after.get(k, 0.0) - before.get(k, 0.0) for k in keys)

def mean_ms(name, labels, before, after):
    s = after.get((name + "_sum", labels), 0.0) - before.get((name + "_sum", labels), 0.0)
    n = after.get((name + "_count", labels), 0.0) - before.get((name + "_count", labels), 0.0)
    return (1000.0 * s / n) if n > 0 else None

def cpu(name):
    """ragd's and the instant LLM's CPU over the scenario (% of one core), and the 1-min load average after."""
    b = [float(v) for v in open(f"{out}/{name}.cpu.before").read().split()]
    a = [float(v) for v in open(f"{out}/{name}.cpu.after").read().split()]
    wall = a[2] - b[2]
    pct = lambda i: 100.0 * (a[i] - b[i]) / float(ticks) / wall if wall > 0 else 0.0
    return pct(0), pct(1), a[3]

def fmt(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"

KINDS = {
    "health": "GET /health",
    "retrieve": "retrieve hybrid_search (0.7/0.3, top_k 3)",
    "stream": "chat, streaming (oha)",
    "block": "chat, blocking (oha)",
}
rows, rate, ttfb = [], {}, []
for name in scenarios:
    kind, conc = name.rsplit("_c", 1)
    before, after = metrics(f"{out}/{name}.metrics.before"), metrics(f"{out}/{name}.metrics.after")
    extra = dict(embed=mean_ms("ragd_embed_seconds", '{kind="query"}', before, after),
                 shed=delta("ragd_http_shed_total", before, after),
                 dropped=delta("ragd_runlog_dropped_total", before, after))
    extra["ragd_cpu"], extra["llm_cpu"], extra["load"] = cpu(name)
    r = json.load(open(f"{out}/{name}.json"))
    if kind in ("ttfb", "ttfbq"):
        rate[name] = r["ok_per_s"]
        ttfb.append((conc, r, extra))
        continue
    codes = r.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    bad = sum(codes.values()) - ok + sum(r.get("errorDistribution", {}).values())
    # Only 2xx answers count toward the rate.
    seconds = r["summary"]["total"]
    rate[name] = ok / seconds if seconds else 0.0
    p = r.get("latencyPercentiles", {})
    ms = lambda v: None if v is None else v * 1000
    rows.append((KINDS[kind], conc, rate[name], ms(p.get("p50")), ms(p.get("p99")), bad, extra))

print(f"ragd chat load test: {binary}, {docs} documents / {segments} segments, instant LLM answering "
      f"{reply_tokens} tokens, {per_chunk} per chunk, {duration} per scenario; load average "
      f"{load_before} before, {load_after} after, {cores} cores\n")
print("| scenario | conns | req/s | p50 ms | p99 ms | non-2xx / errors | shed | ÷ retrieve | embed ms (mean) "
      "| ragd CPU % | LLM CPU % | load 1m |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, conc, r, p50, p99, bad, x in rows:
    ref = rate.get(f"retrieve_c{conc}")
    ratio = fmt(r / ref, 2) if ref and label.startswith("chat") else "–"
    print(f"| {label} | {conc} | {r:.1f} | {fmt(p50, 2)} | {fmt(p99, 2)} | {bad} | {x['shed']:.0f} | {ratio} | "
          f"{fmt(x['embed'], 2)} | {x['ragd_cpu']:.0f} | {x['llm_cpu']:.0f} | {x['load']:.2f} |")

print("\nstreaming chat, per request, measured from the request's write (benches/sse_ttfb.py):\n")
print("| conns | client ACKs | msgs/s | headers p50 / p99 ms | first `data:` p50 / p99 ms "
      "| first `message` p50 / p99 ms | full response p50 / p99 ms | non-200 / errors | client CPU % | ragd CPU % "
      "| load 1m |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for conc, r, x in ttfb:
    q = r["latency_ms"]
    pair = lambda phase: f"{fmt(q[phase]['p50'], 2)} / {fmt(q[phase]['p99'], 2)}"
    bad = r["requests"] - r["ok"] + sum(v for k, v in r["errors"].items() if not k.startswith("bad answer"))
    acks = "at once (diagnostic)" if r.get("quickack") else "delayed (as clients do)"
    print(f"| {conc} | {acks} | {r['ok_per_s']:.1f} | {pair('headers')} | {pair('first_data')} | {pair('first_message')} "
          f"| {pair('total')} | {bad} | {r['client_cpu_pct']:.0f} ({r['processes']} proc) | {x['ragd_cpu']:.0f} "
          f"| {x['load']:.2f} |")

print()
for conc, r, _ in ttfb:
    oha_rate = rate.get(f"stream_c{conc}")
    if oha_rate and not r.get("quickack"):
        print(f"c={conc}: TTFB client {r['ok_per_s']:.1f} msgs/s vs oha {oha_rate:.1f} msgs/s streaming "
              f"({r['ok_per_s'] / oha_rate:.2f}); client CPU {r['client_cpu_pct']:.0f} % of one core over "
              f"{r['processes']} process(es)")
    if r["errors"]:
        print(f"c={conc}: TTFB client errors: {r['errors']}")
runs = dict(line.split() for line in open(f"{out}/runs.txt"))
chat_ok = sum(
    json.load(open(f"{out}/{n}.json")).get("statusCodeDistribution", {}).get("200", 0)
    for n in ["warmup"] + [s for s in scenarios if s.startswith(("stream", "block"))]
) + sum(r["status_codes"].get("200", 0) for _, r, _ in ttfb)
dropped = sum(x["dropped"] for _, _, _, _, _, _, x in rows) + sum(x["dropped"] for _, _, x in ttfb)
print(f"run log: {', '.join(f'{k} {v}' for k, v in runs.items())}; chat requests answered 200 "
      f"(warm-up included): {chat_ok}; runs dropped by the run log during the scenarios: {dropped:.0f}")
print(f"\nraw oha / sse_ttfb JSON and /metrics snapshots: {out}")
PY
