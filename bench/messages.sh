#!/usr/bin/env bash
# The messaging benchmark: a campaign of RECIPIENTS (default 100,000) SMS sent through the
# provider simulator over HTTP at RATE messages/s (default 1,000), with the same guarantees as
# calls, checked against the simulator's own witness: every message reaches a final state,
# none is lost, no attempt is sent twice.
#
#   bash bench/messages.sh
#   RECIPIENTS=10000 RATE=500 bash bench/messages.sh
#
# The simulator's fates (seed 1): read 50 %, delivered 35 %, undelivered 30003 10 % (retried
# after 5 s, up to 3 attempts), failed 30006 5 % (permanent); its receipts come at 1/10 of the
# real delays. Results go to bench/RESULTS.md by hand, with the machine and this command.
set -euo pipefail
cd "$(dirname "$0")/.."

RECIPIENTS=${RECIPIENTS:-100000}
RATE=${RATE:-1000}
cargo build --release --bin dialer --bin dialer-provider-sim
bin=target/release
BENCH_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_TOKEN
out=$(mktemp -d)
echo "logs in $out"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT

"$bin/dialer-provider-sim" --listen 127.0.0.1:18090 --mode http --speed 10 \
  --callback-token "$BENCH_TOKEN" 2>"$out/provider.log" &
pids+=($!)
DIALER_DATA_DIR="$out/data" "$bin/dialer" serve --config bench/messages/dialer.yaml \
  >"$out/serve.out" 2>"$out/serve.log" &
serve_pid=$!
pids+=($serve_pid)
until curl -sf http://127.0.0.1:18080/readyz >/dev/null; do sleep 0.2; done

api() { # method path [curl args…]
  local method=$1 path=$2
  shift 2
  curl -sf -X "$method" -H "X-Auth-Token: $BENCH_TOKEN" "$@" "http://127.0.0.1:18080$path"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== importing $RECIPIENTS recipients"
t0=$(date +%s.%N)
python3 - "$RECIPIENTS" >"$out/recipients.ndjson" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"phone_number": f"+1415{2000000 + i:07d}", "first_name": f"R{i}", "list": "bench"}))
PY
api POST /api/v1/recipients/import -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$out/recipients.ndjson" | json 'd.get("added", d)'
t1=$(date +%s.%N)
api PUT /api/v1/segments/bench -H 'Content-Type: application/json' \
  -d '{"rule": {"eq": {"attr": "list", "value": "bench"}}}' >/dev/null
api PUT /api/v1/templates/code/sms/en -H 'Content-Type: application/json' \
  -d '{"text": "Hi {first_name}, your code is 1234"}' >/dev/null
campaign=$(api POST /api/v1/campaigns -H 'Content-Type: application/json' -d "{\"name\": \"bench\", \"settings\": {
  \"channel\": \"sms\", \"provider\": \"loadsim\", \"zone_policy\": \"campaign\", \"time_zone\": \"UTC\",
  \"calling_hours\": [{\"day_of_week\": \"daily\", \"start_time\": \"00:00\", \"end_time\": \"24:00\"}],
  \"messaging\": {\"template\": \"code\", \"segment\": \"bench\", \"max_messages_per_second\": $RATE,
                  \"max_attempts\": 3, \"retry_after_secs\": 5}}}" | json 'd["id"]')
echo "== sending: campaign $campaign at $RATE/s"
start=$(date +%s.%N)
cpu0=$(awk '{print $14 + $15}' /proc/$serve_pid/stat)
api POST "/api/v1/campaigns/$campaign/start" >/dev/null
while :; do
  sleep 2
  stats=$(api GET "/api/v1/campaigns/$campaign/message-stats")
  open=$(echo "$stats" | json 'sum(v for k, v in d["by_status"].items() if k in ("pending", "queued", "sending", "sent"))')
  total=$(echo "$stats" | json 'd["messages"]')
  echo "  $(date +%T) messages $total, not final $open"
  if [ "$total" -ge "$RECIPIENTS" ] && [ "$open" -eq 0 ]; then break; fi
done
end=$(date +%s.%N)
cpu1=$(awk '{print $14 + $15}' /proc/$serve_pid/stat)
rss=$(awk '/VmHWM/ {print $2}' /proc/$serve_pid/status)
witness=$(curl -sf http://127.0.0.1:18090/stats)
python3 - "$stats" "$witness" "$t0" "$t1" "$start" "$end" "$cpu0" "$cpu1" "$rss" "$RECIPIENTS" "$RATE" <<'PY'
import json, sys
stats, witness = json.loads(sys.argv[1]), json.loads(sys.argv[2])["messages"]
t0, t1, start, end = map(float, sys.argv[3:7])
cpu = (int(sys.argv[8]) - int(sys.argv[7])) / 100
rss_mb = int(sys.argv[9]) / 1024
n, rate = int(sys.argv[10]), int(sys.argv[11])
wall = end - start
final = sum(v for k, v in stats["by_status"].items() if k not in ("pending", "queued", "sending", "sent"))
print(json.dumps({
    "recipients": n, "rate_limit_per_second": rate,
    "import_seconds": round(t1 - t0, 1),
    "send_wall_seconds": round(wall, 1),
    "messages": stats["messages"], "final": final, "lost": n - final,
    "by_status": stats["by_status"], "failures_by_code": stats["failures_by_code"],
    "delivered_percent": round(stats["delivered_percent"], 2),
    "witness_sends": witness["sent"], "witness_duplicate_sends_of_one_attempt": witness["duplicate_sends_of_one_attempt"],
    "witness_peak_messages_in_one_second": witness["peak_messages_in_one_second"],
    "witness_median_messages_per_second": witness["median_messages_per_second"],
    "witness_outcomes": witness["outcomes"],
    "sends_per_second": round(witness["sent"] / wall, 1),
    "engine_cpu_seconds": cpu, "engine_peak_rss_mb": round(rss_mb, 1),
}, indent=2))
PY
