#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs the main job on the embedded default:
# build the release binary, fetch the pinned models (the embedding model and the local chat model
# SmolLM2-135M; idempotent), import the demo documents in fixtures/docs into the dataset "demo" of the
# local data dir (idempotent), create an API key for it and a chat app on it (fixtures/flows/rag-chat.yml),
# and start `ragd serve` with a working retrieval and a streamed chat through curl. Ctrl-C stops the server.
#
# Environment: RAGD_BIND (default 127.0.0.1:5001), RAGD__DATA_DIR (default ~/.local/share/ragd), and any
# other RAGD__SECTION__KEY setting.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

bind="${RAGD_BIND:-127.0.0.1:5001}"
ragd=target/release/ragd

require_toolchain
step "building ragd (release)"
cargo build --release --locked
step "fetching the models (embedding, local chat)"
"$ragd" models fetch
step "importing fixtures/docs into the dataset \"demo\""
"$ragd" import fixtures/docs --dataset demo --create
step "creating an API key for the demo dataset"
key_json="$("$ragd" keys create --name "demo (setup.sh)" --dataset demo --json)"
key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' <<<"$key_json")"
dataset="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["datasets"][0])' <<<"$key_json")"

step "creating the chat app \"demo chat\" (fixtures/flows/rag-chat.yml on the demo dataset)"
flow="$(mktemp --suffix .yml)"
sed "s/00000000-0000-0000-0000-00000000da7a/$dataset/" fixtures/flows/rag-chat.yml >"$flow"
"$ragd" apps list --json | python3 -c '
import json, sys
for app in json.load(sys.stdin):
    if app["name"] == "demo chat":
        print(app["id"])
' | while read -r old; do "$ragd" apps delete "$old" >/dev/null; done
app_json="$("$ragd" apps create "$flow" --name "demo chat" --json)"
rm -f "$flow"
app_key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' <<<"$app_json")"

step "starting ragd serve on http://$bind"
"$ragd" serve --bind "$bind" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 120); do
  if curl -fsS "http://$bind/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "error: ragd serve exited; see the messages above" >&2; exit 1; fi
  sleep 0.5
done

example="curl -s http://$bind/v1/datasets/$dataset/retrieve \\
  -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
  -d '{\"query\": \"how do honey bees survive the winter\", \"retrieval_model\": {\"search_method\": \"hybrid_search\", \"reranking_enable\": false, \"top_k\": 3, \"score_threshold_enabled\": false}}'"
step "a retrieval through the API"
echo "$example"
eval "$example" | python3 -c '
import json, sys
body = json.load(sys.stdin)
for r in body["records"]:
    s = r["segment"]
    score, name, content = r["score"], s["document"]["name"], s["content"][:90]
    print(f"  {score:.3f}  {name}: {content!r}")
kind = body["cache"]["kind"]
print(f"  cache: {kind}")
'
step "the same question again, reworded in case and spacing: answered by the cache"
eval "${example/how do honey bees survive the winter/How do honey bees  survive the WINTER}" -D - -o /dev/null |
  tr -d '\r' | grep -i '^x-ragd-cache' | sed 's/^/  /' || true
chat="curl -sN http://$bind/v1/chat-messages \\
  -H 'Authorization: Bearer $app_key' -H 'Content-Type: application/json' \\
  -d '{\"query\": \"How do honey bees survive the winter?\", \"inputs\": {}, \"user\": \"demo\", \"response_mode\": \"streaming\"}'"
step "a streamed chat (SmolLM2-135M on this machine: a weak model, but real tokens)"
echo "$chat"
eval "$chat" | python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("data: "):
        continue
    event = json.loads(line[6:])
    if event["event"] == "message":
        print(event["answer"], end="", flush=True)
    elif event["event"] == "message_end":
        u = event["metadata"]["usage"]
        tokens, sources = u["completion_tokens"], len(event["metadata"]["retriever_resources"])
        ttft = u.get("time_to_first_token") or 0
        print(f"\n  [{tokens} tokens, {sources} sources, first token after {ttft:.2f} s]")
    elif event["event"] == "error":
        print("\n  error:", event["message"])
'
cat <<MSG

ragd is serving the demo dataset on http://$bind (Ctrl-C stops it). The key above works for "demo" only.
  API docs:         http://$bind/docs   (OpenAPI: /openapi.json)
  Health, metrics:  http://$bind/ready  http://$bind/metrics
  Cache:            http://$bind/cache   (hit ratio and latency; JSON: /cache/stats; repeat a query: X-Ragd-Cache)
  More keys:        $ragd keys create --name NAME [--dataset NAME]
  Import via API:   $ragd import --server http://$bind --api-key KEY PATH... --dataset NAME --create
  Chat app key:     $app_key   (POST /v1/chat-messages; with the server stopped: $ragd chat "demo chat")
  Run logs:         $ragd runs   ($ragd runs show RUN_ID)
MSG
wait $server
