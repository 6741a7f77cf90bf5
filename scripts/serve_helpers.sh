# shellcheck shell=bash
# Shell functions to run a throw-away `ragd serve` from scripts (sourced, not run):
#
#   source scripts/serve_helpers.sh
#   RAGD_BIN=target/release/ragd       # required: the binary to run
#   ragd_key_create "$dir"            # → RAGD_KEY (a dataset-… key, created before serving)
#   ragd_serve_start "$dir" [args…]   # → RAGD_URL (http://127.0.0.1:PORT), RAGD_PID; logs in $dir/serve.*.log
#   ragd_api GET /v1/datasets          # curl with the key; prints the body, fails on a non-2xx status
#   ragd_serve_stop                    # SIGTERM, then SIGKILL after 15 s
#   ragd_upload_docs NAME DIR ERRFILE  # a dataset of DIR's files uploaded through the API, indexed
#                                      #   → RAGD_DATASET, RAGD_UPLOADED, RAGD_SEGMENTS
#   ragd_oha OUT NAME CONC DUR URL …   # one oha run (needs OHA, see ensure_oha in lib.sh), /metrics around it
#
# The server binds 127.0.0.1:0 (a free port) and is ready once it prints its listening line.
# ragd_upload_docs uses `step` from scripts/lib.sh (source it first).

RAGD_URL=""
RAGD_PID=""
RAGD_KEY="${RAGD_KEY:-}"

# ragd_key_create DATA_DIR: creates a key named "bench" in DATA_DIR and sets RAGD_KEY.
ragd_key_create() {
  local dir="$1" json
  [[ -n "${RAGD_BIN:-}" ]] || { echo "error: set RAGD_BIN to the ragd binary" >&2; return 1; }
  json="$("$RAGD_BIN" keys create --name bench --json --data-dir "$dir")" || return 1
  RAGD_KEY="$(printf '%s' "$json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')" || return 1
}

# ragd_serve_start DATA_DIR [extra serve args]: starts the server and waits (up to 180 s) for it to listen.
ragd_serve_start() {
  local dir="$1"
  shift
  local out="$dir/serve.stdout.log" err="$dir/serve.stderr.log"
  [[ -n "${RAGD_BIN:-}" ]] || { echo "error: set RAGD_BIN to the ragd binary" >&2; return 1; }
  : >"$out"
  "$RAGD_BIN" serve --bind 127.0.0.1:0 --data-dir "$dir" "$@" >"$out" 2>"$err" &
  RAGD_PID=$!
  local waited=0 line
  while :; do
    line="$(grep -m1 '^ragd listening on ' "$out" 2>/dev/null || true)"
    if [[ -n "$line" ]]; then
      RAGD_URL="$(printf '%s' "$line" | awk '{print $4}')"
      RAGD_URL="${RAGD_URL%/}"
      return 0
    fi
    if ! kill -0 "$RAGD_PID" 2>/dev/null; then
      echo "error: ragd serve exited before listening; stderr:" >&2
      tail -n 40 "$err" >&2
      RAGD_PID=""
      return 1
    fi
    if ((waited >= 1800)); then
      echo "error: ragd serve did not listen within 180 s; stderr:" >&2
      tail -n 40 "$err" >&2
      ragd_serve_stop
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# ragd_serve_stop: SIGTERM the server started by ragd_serve_start (only that pid), SIGKILL after 15 s.
ragd_serve_stop() {
  [[ -n "$RAGD_PID" ]] || return 0
  if kill -0 "$RAGD_PID" 2>/dev/null; then
    kill -TERM "$RAGD_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$RAGD_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$RAGD_PID" 2>/dev/null; then
      echo "warning: ragd serve ($RAGD_PID) ignored SIGTERM for 15 s; killing it" >&2
      kill -KILL "$RAGD_PID" 2>/dev/null || true
    fi
  fi
  wait "$RAGD_PID" 2>/dev/null || true
  RAGD_PID=""
}

# ragd_api METHOD PATH [curl args…]: one authenticated request; prints the body, returns non-zero (and
# prints the status and body to stderr) unless the status is 2xx.
ragd_api() {
  local method="$1" path="$2"
  shift 2
  local body status
  body="$(curl -sS -X "$method" -H "Authorization: Bearer $RAGD_KEY" -w '\n%{http_code}' "$@" "$RAGD_URL$path")" || return 1
  status="${body##*$'\n'}"
  body="${body%$'\n'*}"
  if [[ "$status" != 2* ]]; then
    echo "error: $method $path -> HTTP $status: $body" >&2
    return 1
  fi
  printf '%s' "$body"
}

# ragd_status METHOD PATH [curl args…]: the HTTP status of one authenticated request (000 if it failed).
ragd_status() {
  local method="$1" path="$2"
  shift 2
  curl -s -o /dev/null -X "$method" -H "Authorization: Bearer $RAGD_KEY" -w '%{http_code}' "$@" "$RAGD_URL$path" || true
}

# ragd_json_field EXPR: prints EXPR (e.g. '["id"]') of the JSON on stdin.
ragd_json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

# ragd_upload_docs NAME DIR ERRFILE: creates a high_quality dataset NAME, uploads every file under DIR with
# one create-by-file each (automatic process rule; a rejected file is skipped with a warning, its error in
# ERRFILE), and waits (up to 900 s) until every batch is indexed. Sets RAGD_DATASET (the id),
# RAGD_UPLOADED (files accepted) and RAGD_SEGMENTS (segments indexed).
ragd_upload_docs() {
  local name="$1" docs="$2" errfile="$3"
  local settings='{"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}};type=application/json'
  local file answer batch status state started
  local -a batches=()
  step "uploading $docs (create-by-file per file)"
  RAGD_DATASET="$(ragd_api POST /v1/datasets -H 'Content-Type: application/json' \
    -d "{\"name\": \"$name\", \"indexing_technique\": \"high_quality\"}" | ragd_json_field '["id"]')" || return 1
  RAGD_UPLOADED=0
  RAGD_SEGMENTS=0
  while IFS= read -r -d '' file; do
    if answer="$(ragd_api POST "/v1/datasets/$RAGD_DATASET/document/create-by-file" \
      -F "file=@$file" -F "data=$settings" 2>"$errfile")"; then
      batches+=("$(printf '%s' "$answer" | ragd_json_field '["batch"]')")
      RAGD_UPLOADED=$((RAGD_UPLOADED + 1))
    else
      echo "warning: skipped $file: $(cat "$errfile")" >&2
    fi
  done < <(find "$docs" -type f -print0 | sort -z)
  ((RAGD_UPLOADED > 0)) || { echo "error: no file of $docs was accepted" >&2; return 1; }

  step "waiting for $RAGD_UPLOADED documents to be indexed"
  started=$SECONDS
  for batch in "${batches[@]}"; do
    while :; do
      status="$(ragd_api GET "/v1/datasets/$RAGD_DATASET/documents/$batch/indexing-status")" || return 1
      state="$(printf '%s' "$status" | ragd_json_field '["data"][0]["indexing_status"]')"
      case "$state" in
        completed)
          RAGD_SEGMENTS=$((RAGD_SEGMENTS + $(printf '%s' "$status" | ragd_json_field '["data"][0]["total_segments"]')))
          break ;;
        error | paused)
          echo "warning: batch $batch ended $state: $status" >&2
          break ;;
      esac
      if ((SECONDS - started > 900)); then
        echo "error: indexing not finished after 900 s" >&2
        return 1
      fi
      sleep 0.2
    done
  done
  echo "indexed $RAGD_UPLOADED documents, $RAGD_SEGMENTS segments in $((SECONDS - started)) s" >&2
}

# ragd_oha OUT NAME CONCURRENCY DURATION URL [oha args…]: oha for DURATION at CONCURRENCY connections
# (waiting for the requests in flight at the end), its JSON report in OUT/NAME.json, the server's /metrics
# before and after in OUT/NAME.metrics.before|after. Needs OHA (ensure_oha in scripts/lib.sh).
ragd_oha() {
  local out="$1" name="$2" conc="$3" dur="$4" url="$5"
  shift 5
  # DUR is a time (10s, 1m) or n=COUNT for a fixed number of requests.
  local amount=(-z "$dur")
  [[ "$dur" == n=* ]] && amount=(-n "${dur#n=}")
  curl -s "$RAGD_URL/metrics" >"$out/$name.metrics.before"
  curl -s "$RAGD_URL/cache/stats?secs=1" >"$out/$name.cache.before" || true
  # ragd's CPU time (user + system clock ticks) around the scenario.
  awk '{print $14 + $15}' "/proc/$RAGD_PID/stat" >"$out/$name.cpu.before" 2>/dev/null || true
  "$OHA" --no-tui --output-format json -w -c "$conc" "${amount[@]}" "$@" "$url" >"$out/$name.json" || return 1
  curl -s "$RAGD_URL/metrics" >"$out/$name.metrics.after"
  curl -s "$RAGD_URL/cache/stats?secs=1" >"$out/$name.cache.after" || true
  awk '{print $14 + $15}' "/proc/$RAGD_PID/stat" >"$out/$name.cpu.after" 2>/dev/null || true
}
