#!/usr/bin/env bash
# Soak: olbot serve (embedded store) under a steady event rate across a fixed
# set of dialogs for a long time, with a hot reload every RELOAD_EVERY seconds.
# Samples RSS, goroutines and outbox depth from /metrics; every load round's
# report (throughput, p50/p90/p99/max, errors) goes to runs.jsonl.
#
#   DURATION=3600 RATE=500 DIALOGS=10000 scripts/soak.sh   # the RELIABILITY.md run
#   DURATION=120 RATE=200 DIALOGS=1000 scripts/soak.sh     # a quick look
#
# Everything runs on loopback and stops by itself after DURATION seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
RATE=${RATE:-500}
DIALOGS=${DIALOGS:-10000}
RELOAD_EVERY=${RELOAD_EVERY:-120}
SAMPLE_EVERY=${SAMPLE_EVERY:-30}
PORT=${PORT:-18480}
OUT=${OUT:-$(mktemp -d /tmp/olbot-soak.XXXXXX)}
mkdir -p "$OUT"
work=$(mktemp -d)
bin="$work/olbot"
go build -o "$bin" ./cmd/olbot
cp -r examples "$work/scenarios"
"$bin" serve --listen "127.0.0.1:$PORT" --scenarios "$work/scenarios" --store "$work/olbot.db" \
  --rate 1000000,1000000 --log-level warn >"$OUT/serve.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

start=$(date +%s)
end=$((start + DURATION))
echo "soak: $DURATION s at $RATE events/s over $DIALOGS dialogs; output in $OUT"

( # hot reloads: change the support scenario's content (a comment) every RELOAD_EVERY s
  n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep "$RELOAD_EVERY"; n=$((n + 1))
    echo "# soak reload $n" >>"$work/scenarios/support.yaml"
    echo "$(date +%s) reload $n" >>"$OUT/reloads.log"
  done ) &

( # samples: elapsed, RSS bytes, goroutines, pending calls, events applied
  printf 'elapsed_s\trss_bytes\tgoroutines\toutbox_pending\tevents_applied\treloads_ok\n' >"$OUT/samples.tsv"
  while [ "$(date +%s)" -lt "$end" ]; do
    m=$(curl -sf "http://127.0.0.1:$PORT/metrics" || true)
    rss=$(echo "$m" | awk '/^process_resident_memory_bytes /{print $2}')
    gr=$(echo "$m" | awk '/^go_goroutines /{print $2}')
    pend=$(echo "$m" | awk '/^olbot_outbox_calls\{state="pending"\}/{print $2}')
    ev=$(echo "$m" | awk '/^olbot_events_total\{outcome="applied"/{s+=$2} END{print s+0}')
    rl=$(echo "$m" | awk '/^olbot_scenario_reloads_total\{result="success"\}/{print $2}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$rss" "$gr" "$pend" "$ev" "$rl" >>"$OUT/samples.tsv"
    sleep "$SAMPLE_EVERY"
  done ) &

round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  left=$(( end - $(date +%s) ))
  "$bin" load --target "http://127.0.0.1:$PORT" --run-id soak --dialogs "$DIALOGS" --rate "$RATE" \
    --concurrency 256 --baseline=false --duration "${left}s" --drain-timeout 60s --quiet --json \
    >>"$OUT/runs.jsonl" 2>>"$OUT/load.log" || echo "round $round: load exited $?" >>"$OUT/load.log"
done
sleep 1
echo "done: $round rounds; samples in $OUT/samples.tsv, reports in $OUT/runs.jsonl"
# Summary: each round's latency p99 (the run's "latency_ms" block) and the
# memory and goroutines of the first and last quarter of the samples.
awk '/"latency_ms"/{in_lat=1} in_lat && /"p99"/{gsub(/[",]/,""); print $2; in_lat=0}' "$OUT/runs.jsonl" | sort -g >"$OUT/p99.txt"
if [ -s "$OUT/p99.txt" ]; then
  n=$(wc -l <"$OUT/p99.txt")
  echo "latency p99 per round (ms): min $(head -n1 "$OUT/p99.txt"), median $(sed -n "$(( (n + 1) / 2 ))p" "$OUT/p99.txt"), max $(tail -n1 "$OUT/p99.txt") over $n rounds"
fi
awk -F'\t' 'NR > 1 { rss[NR] = $2; gr[NR] = $3; n = NR }
  END { q = int((n - 1) / 4); if (q < 1) q = 1
    for (i = 2; i < 2 + q; i++) { r1 += rss[i]; g1 += gr[i] }
    for (i = n - q + 1; i <= n; i++) { r2 += rss[i]; g2 += gr[i] }
    printf "RSS MB first quarter %.1f, last quarter %.1f; goroutines %.0f, %.0f\n", r1 / q / 1e6, r2 / q / 1e6, g1 / q, g2 / q }' "$OUT/samples.tsv"
tail -n 3 "$OUT/samples.tsv"
