#!/usr/bin/env bash
# The HTTP API benchmark: goose (dialer-loadtest) against `dialer serve` on the embedded store,
# over loopback, one fresh server and data directory per scenario.
#
#   bash bench/api.sh                      # both scenarios, 60 s each, at the target rates
#   RUN_TIME=30s bash bench/api.sh initiate
#
# Targets (2 cores): initiate-call p99 <= 10 ms at 1,000 req/s; callbacks p99 <= 10 ms at
# 2,000 req/s. goose's --throttle-requests delivers about 90 % of the rate it is given on this
# kind of machine, so the throttles are set 12 % above the targets (INITIATE_RATE, CALLBACK_RATE
# override them); the summary prints the rate actually achieved, and that is what counts.
# Results go to bench/RESULTS.md by hand, with the machine and this command.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_TIME=${RUN_TIME:-60s}
USERS=${USERS:-64}
scenarios=("${@:-initiate callbacks}")
read -r -a scenarios <<<"${scenarios[*]}"

cargo build --release --bin dialer --bin dialer-loadtest --bin dialer-provider-sim
bin=target/release
BENCH_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_TOKEN
out=$(mktemp -d)
echo "logs and reports in $out"

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop EXIT

for scenario in "${scenarios[@]}"; do
  case "$scenario" in
    initiate) rate=${INITIATE_RATE:-1120} ;;
    callbacks) rate=${CALLBACK_RATE:-2250} ;;
    *) echo "unknown scenario $scenario (initiate or callbacks)" >&2; exit 2 ;;
  esac
  # callbacks: enough calls dialing that no call gets its callbacks twice in the run (each
  # transaction plays one call's three callbacks); duplicates would measure the late-report path.
  case "$RUN_TIME" in
    *h) secs=$(( ${RUN_TIME%h} * 3600 )) ;; *m) secs=$(( ${RUN_TIME%m} * 60 )) ;;
    *s) secs=${RUN_TIME%s} ;; *) secs=$RUN_TIME ;;
  esac
  calls=$(( rate * secs * 105 / 300 ))
  data="$out/$scenario-data"
  "$bin/dialer-provider-sim" --listen 127.0.0.1:18090 --mode accept 2>"$out/$scenario-provider.log" &
  pids+=($!)
  DIALER_DATA_DIR="$data" "$bin/dialer" serve --config bench/api/dialer.yaml \
    >"$out/$scenario-serve.out" 2>"$out/$scenario-serve.log" &
  pids+=($!)
  until curl -sf http://127.0.0.1:18080/readyz >/dev/null; do sleep 0.2; done

  echo "== $scenario: throttle $rate req/s for $RUN_TIME, $USERS users"
  "$bin/dialer-loadtest" --scenario "$scenario" --token "$BENCH_TOKEN" --calls "$calls" \
    --host http://127.0.0.1:18080 --users "$USERS" --increase-rate "$USERS" \
    --run-time "$RUN_TIME" --throttle-requests "$rate" \
    --report-file "$out/$scenario-report.html" --quiet 2>"$out/$scenario-goose.log" \
    | tee "$out/$scenario-summary.txt"
  curl -sf -H "X-Auth-Token: $BENCH_TOKEN" http://127.0.0.1:18080/api/v1/metrics >"$out/$scenario-system.json" || true
  ps -o rss=,comm= -p "${pids[1]}" | awk '{printf "dialer RSS after the run: %.0f MiB\n", $1/1024}'
  stop
done
