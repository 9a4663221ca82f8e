#!/usr/bin/env bash
# End-to-end throughput and latency of olbot serve with each store, each as a
# ratio to the no-op route of the same server in the same run (olbot load's
# baseline), plus latency at a fixed 1,000 events/s and a hot-reload run.
# Figures go to BENCHMARKS.md. Loopback only; every run is bounded.
#
#   scripts/bench.sh                 # all of it
#   DIALOGS=20000 scripts/bench.sh   # more dialogs per run
#
# Each run plays DIALOGS support conversations (4 events each) with CONC
# concurrent clients; the embedded store also runs with CONC_HIGH clients
# (more writes per fsync). The hot-reload run rewrites support.yaml every
# RELOAD_EVERY seconds, longer than the watcher's debounce, so each write is
# one reload.
# The open-loop runs send each event at its due time on its own goroutine
# (latency from the due time: no coordinated omission) at 1,000 and 5,000
# events/s, and search for the highest rate whose p99 stays within 10 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
DIALOGS=${DIALOGS:-10000}
CONC=${CONC:-64}
CONC_HIGH=${CONC_HIGH:-256}
RELOAD_EVERY=${RELOAD_EVERY:-0.5}
OPEN_FOR=${OPEN_FOR:-10s}        # each open-loop run (whole seconds)
OPEN_INFLIGHT=${OPEN_INFLIGHT:-4096} # open loop: cap on requests in flight
PROBE=${PROBE:-5s}               # each probe of the rate search
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
work=$(mktemp -d)
go build -o "$work/olbot" ./cmd/olbot
cp -r examples "$work/scenarios"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() { # port store [extra flags]
  local port=$1 store=$2; shift 2
  "$work/olbot" serve --listen "127.0.0.1:$port" --scenarios "$work/scenarios" --store "$store" \
    --rate 1000000,1000000 --log-level error "$@" >>"$work/serve-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "server on $port did not start"; cat "$work/serve-$port.log"; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
load() { "$work/olbot" load --dialogs "$DIALOGS" --concurrency "$CONC" --quiet "$@"; }

echo "### memory store"
start 18501 memory; load --target http://127.0.0.1:18501; stop_all
echo; echo "### embedded store (bbolt, durable, group commit)"
start 18502 "$work/olbot.db"; load --target http://127.0.0.1:18502
echo; echo "### embedded store, $CONC_HIGH concurrent clients"
load --target http://127.0.0.1:18502 --concurrency "$CONC_HIGH"
echo; echo "### embedded store at a fixed 1,000 events/s"
load --target http://127.0.0.1:18502 --rate 1000 --baseline=false
echo; echo "### embedded store, open loop at fixed 1,000 and 5,000 events/s (OPEN_FOR each)"
echo "load average: $(cat /proc/loadavg)"
for r in 1000 5000; do
  load --target http://127.0.0.1:18502 --open --rate "$r" --concurrency "$OPEN_INFLIGHT" --duration "$OPEN_FOR" \
    --dialogs $(( r * ${OPEN_FOR%s} / 4 + 1 )) --baseline=false
done
echo; echo "### embedded store, highest open-loop rate with p99 <= 10ms"
echo "load average: $(cat /proc/loadavg)"
"$work/olbot" load --target http://127.0.0.1:18502 --find-rate 10ms --probe "$PROBE" --concurrency "$OPEN_INFLIGHT" --quiet
echo "load average: $(cat /proc/loadavg)"
echo; echo "### embedded store, flat out, without and with a hot reload every $RELOAD_EVERY s"
load --target http://127.0.0.1:18502 --baseline=false
before=$(curl -s http://127.0.0.1:18502/metrics | awk '/^olbot_scenario_reloads_total\{result="success"\}/{print $2}')
touch "$work/reloading"
( i=0; while [ -e "$work/reloading" ]; do sleep "$RELOAD_EVERY"; i=$((i + 1)); echo "# reload $i" >>"$work/scenarios/support.yaml"; done ) &
rl=$!
load --target http://127.0.0.1:18502 --baseline=false
rm -f "$work/reloading"; wait $rl 2>/dev/null || true
after=$(curl -s http://127.0.0.1:18502/metrics | awk '/^olbot_scenario_reloads_total\{result="success"\}/{print $2}')
echo "hot reloads applied during the run: $(( ${after%.*} - ${before%.*} ))"
curl -s http://127.0.0.1:18502/metrics | grep -E '^olbot_scenario_reloads_total'
stop_all
schema="bench_$RANDOM$RANDOM"
echo; echo "### PostgreSQL, one replica (schema $schema)"
start 18503 "$PG" --store-schema "$schema"; load --target http://127.0.0.1:18503; stop_all
echo; echo "### PostgreSQL, two replicas, half the dialogs each, at once"
start 18504 "$PG" --store-schema "$schema"; start 18505 "$PG" --store-schema "$schema"
load --target http://127.0.0.1:18504 --dialogs $((DIALOGS / 2)) > "$work/r1.txt" &
l1=$!
load --target http://127.0.0.1:18505 --dialogs $((DIALOGS / 2)) > "$work/r2.txt" &
l2=$!
wait $l1 $l2 || true
echo "replica 1:"; cat "$work/r1.txt"; echo "replica 2:"; cat "$work/r2.txt"
stop_all
psql "$PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
