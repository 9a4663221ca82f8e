#!/usr/bin/env bash
# End-to-end throughput and latency of olbot serve, each figure beside a
# same-run reference: the no-op route of the same server (olbot load's
# baseline), the botbuilder-js peer (bench/botbuilder) driven by the same
# load tool, the JSON route beside the Bitrix24 form route; then latency at
# fixed open-loop rates, a rate search for p99 <= 10 ms, a hot-reload run,
# the memory store and PostgreSQL. Figures go to BENCHMARKS.md.
# Loopback only; every run is bounded.
#
#   scripts/bench.sh                 # all of it
#   DIALOGS=20000 scripts/bench.sh   # more dialogs per run
#   PPROF=0 PG=skip scripts/bench.sh # no CPU profile, no PostgreSQL
#   ROUNDS=5 scripts/bench.sh        # the same-run ratios 5 times (default 3)
#
# Each closed-loop run plays DIALOGS support conversations (4 events each:
# start, menu choice, name, email) with the given number of concurrent
# clients, on a server started on a fresh store. Every olbot run reports the
# server's and the load tool's CPU per event (olbot load --server-pid).
# The peer needs node and npm (npm ci installs its locked packages into
# bench/botbuilder/node_modules); without them its section is skipped.
# The open-loop runs send each event at its due time on its own goroutine
# (latency from the due time: no coordinated omission) at 1,000 and 5,000
# events/s, and search for the highest rate whose p99 stays within 10 ms.
# Every same-run ratio is taken ROUNDS times (a round: each run it needs,
# one after the other) and the summary gives the median with every round's
# figure. PPROF=1 (default) takes a CPU profile of the server during a 256-client
# run and prints where an event's CPU goes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/breakdown.sh
DIALOGS=${DIALOGS:-10000}
CONC=${CONC:-64}
CONC_HIGH=${CONC_HIGH:-256}
CONC_LOW=${CONC_LOW:-32}
RELOAD_EVERY=${RELOAD_EVERY:-0.5}
OPEN_FOR=${OPEN_FOR:-10s}        # each open-loop run (whole seconds)
OPEN_INFLIGHT=${OPEN_INFLIGHT:-4096} # open loop: cap on requests in flight
PROBE=${PROBE:-5s}               # each probe of the rate search
PPROF=${PPROF:-1}
ROUNDS=${ROUNDS:-3}              # rounds of the same-run ratios (the summary gives their median)
PROFILE_SECONDS=${PROFILE_SECONDS:-4}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
TOKEN=bench-admin-token
work=$(mktemp -d)
go build -o "$work/olbot" ./cmd/olbot
cp -r examples "$work/scenarios"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

server_pid=0
start() { # port store [extra flags]
  local port=$1 store=$2; shift 2
  "$work/olbot" serve --listen "127.0.0.1:$port" --scenarios "$work/scenarios" --store "$store" \
    --rate 1000000,1000000 --log-level error --admin-token "$TOKEN" "$@" >>"$work/serve-$port.log" 2>&1 &
  server_pid=$!
  pids+=($server_pid)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "server on $port did not start"; cat "$work/serve-$port.log"; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
# olbot load exits 1 when some events failed: the figures are still shown
# (with the errors), and the script goes on
load() { "$work/olbot" load --dialogs "$DIALOGS" --concurrency "$CONC" --admin-token "$TOKEN" --quiet "$@" || echo "(olbot load: exit status $?, see the errors above)"; }
loadavg() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# row FILE PHASE: events/s, p50, p99 of a phase row of olbot load's table
row() { awk -v ph="$2" '$1 == ph && $2 ~ /^[0-9]+$/ { print $6, $7, $9; exit }' "$1"; }
rate_of() { row "$1" "$2" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
median() { printf '%s\n' "$@" | grep -v '^-$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A R # same-run figures for the summary

# fresh LABEL CONC [serve flags]: an olbot run on a new embedded store,
# noop baseline first, CPU per event; keeps the report in $work/LABEL.txt
fresh_port=18610
fresh() {
  local label=$1 conc=$2; shift 2
  fresh_port=$((fresh_port + 1))
  start "$fresh_port" "$work/$label.db" "$@"
  load --target "http://127.0.0.1:$fresh_port" --concurrency "$conc" --server-pid "$server_pid" "${LOAD_EXTRA[@]}" | tee "$work/$label.txt"
  stop_all
}

# The machine, so that runs on different machines can be told apart: the
# ratios are same-run, but the figures beside them depend on the CPU and on
# how fast the disk makes a small append durable (the commit log's fdatasync).
echo "### the machine"
echo "$(nproc) CPUs: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); $(go version | cut -d' ' -f3-)"
echo "one commit-log group appended and fdatasynced (BenchmarkLogSync, in $(dirname "$work")):"
TMPDIR=$(dirname "$work") go test -run '^$' -bench LogSync -benchtime 1000x ./bolt/ | awk '/^BenchmarkLogSync/ { printf "  %-36s %8.0f µs/op %8s CPU-µs/op\n", $1, $3 / 1000, $5 }'
echo
# peer LABEL CONC: the botbuilder-js peer started afresh and driven by the same
# tool; keeps the report in $work/LABEL.txt
peer_ok=0
if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd bench/botbuilder && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  peer_ok=1
fi
peer() {
  local label=$1 c=$2
  node bench/botbuilder/index.js --listen 127.0.0.1:18520 >>"$work/peer.log" 2>&1 &
  local p=$!; pids+=($p)
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18520/healthz >/dev/null && break; sleep 0.1; done
  { "$work/olbot" load --mode botframework --target http://127.0.0.1:18520 --dialogs "$DIALOGS" --concurrency "$c" \
    --baseline=false --server-pid "$p" --quiet || echo "(olbot load: exit status $?)"; } | tee "$work/$label.txt"
  stop_all
}
# the Bitrix24 form route's server: the load tool's fake portal proves the
# install (its OAuth server) and takes the REST calls
portal=(--bot-api v1 --oauth-url http://127.0.0.1:18540/oauth/token/ --app-client-id local.fakeportal.app --app-client-secret fake-client-secret)

# Each same-run ratio is taken ROUNDS times, a round being every run it needs
# one after the other (olbot at CONC_HIGH and CONC_LOW clients with the no-op
# route first, the peer at both, the JSON and the form route); the summary
# gives the median of the rounds' ratios and their spread. On a shared
# machine one run of a few seconds can come out 20 % off.
declare -A RR # per-round ratios: RR[name] = "r1 r2 …"
for round in $(seq 1 "$ROUNDS"); do
  echo "### same-run ratios, round $round of $ROUNDS: embedded store (bbolt, durable, group commit), each on a fresh store"
  loadavg
  LOAD_EXTRA=()
  echo; echo "## $CONC_HIGH clients"; fresh "emb-high-$round" "$CONC_HIGH"
  echo; echo "## $CONC_LOW clients"; fresh "emb-low-$round" "$CONC_LOW"
  high=$(rate_of "$work/emb-high-$round.txt" json); high_noop=$(rate_of "$work/emb-high-$round.txt" noop)
  low=$(rate_of "$work/emb-low-$round.txt" json); low_noop=$(rate_of "$work/emb-low-$round.txt" noop)
  RR[high]+="$(ratio "$high" "$high_noop") "; RR[low]+="$(ratio "$low" "$low_noop") "
  R[high]+="$high/$high_noop "; R[low]+="$low/$low_noop "
  if [ "$peer_ok" = 1 ]; then
    echo; echo "### the botbuilder-js peer (bench/botbuilder: MemoryStorage, a waterfall dialog; POST /api/messages, replies in the answer)"
    echo "node $(node --version), botbuilder $(node -p 'require("./bench/botbuilder/node_modules/botbuilder/package.json").version')"
    echo; echo "## peer, $CONC_LOW clients"; peer "peer-low-$round" "$CONC_LOW"
    echo; echo "## peer, $CONC_HIGH clients"; peer "peer-high-$round" "$CONC_HIGH"
    peer_low=$(rate_of "$work/peer-low-$round.txt" botframework); peer_high=$(rate_of "$work/peer-high-$round.txt" botframework)
    RR[peer_low]+="$(ratio "$low" "$peer_low") "; RR[peer_high]+="$(ratio "$high" "$peer_high") "
    R[peer_low]+="$low/$peer_low "; R[peer_high]+="$high/$peer_high "
  else
    echo "node or npm missing: the peer is skipped"
  fi
  echo; echo "### the Bitrix24 form route beside the JSON route ($CONC clients, fresh stores, --bot-api v1)"
  loadavg
  LOAD_EXTRA=(--mode json); echo "## JSON: POST /v1/events"; fresh "route-json-$round" "$CONC" "${portal[@]}"
  LOAD_EXTRA=(--mode bitrix24 --portal-listen 127.0.0.1:18540)
  echo; echo "## form: POST /bitrix24/events (fake portal installed, olbot delivers every REST call to it)"; fresh "route-form-$round" "$CONC" "${portal[@]}"
  LOAD_EXTRA=()
  json=$(rate_of "$work/route-json-$round.txt" json); form=$(rate_of "$work/route-form-$round.txt" bitrix24)
  RR[form]+="$(ratio "$form" "$json") "; R[form]+="$form/$json "
  echo
done
echo "### embedded store, $CONC clients"
fresh emb-mid "$CONC"

# profile LABEL CONC DIALOGS SERVE_FLAGS… -- LOAD_FLAGS…: a PROFILE_SECONDS CPU profile
# of a server on a fresh embedded store, one second into a flat-out run,
# and the CPU per event of the parts of the event path
profile() {
  local label=$1 conc=$2 n=$3; shift 3
  local sflags=() lflags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do sflags+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  lflags=("$@")
  start 18530 "$work/prof-$label.db" --pprof "${sflags[@]}"
  "$work/olbot" load --target http://127.0.0.1:18530 --dialogs "$n" --concurrency "$conc" --admin-token "$TOKEN" \
    --baseline=false --server-pid "$server_pid" --quiet "${lflags[@]}" >"$work/prof-$label.txt" &
  local lp=$!
  sleep 1
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18530/debug/pprof/profile?seconds=$PROFILE_SECONDS" >"$work/$label.prof"
  wait $lp || true
  cat "$work/prof-$label.txt"
  stop_all
  local rate events
  rate=$(awk '$2 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ { print $6; exit }' "$work/prof-$label.txt")
  events=$(awk -v r="$rate" -v s="$PROFILE_SECONDS" 'BEGIN { print r * s }')
  echo "per event, at $rate events/s (profile: $PROFILE_SECONDS s from 1 s into the run):"
  breakdown "$work/olbot" "$work/$label.prof" "$events"
}

if [ "$PPROF" = 1 ]; then
  echo; echo "### where an event's CPU goes: CPU profiles of the server (fresh embedded stores)"
  echo "## JSON route, $CONC_HIGH clients"
  profile json "$CONC_HIGH" $((DIALOGS * 5))
  echo; echo "## Bitrix24 form route, $CONC clients"
  profile form "$CONC" $((DIALOGS / 2)) "${portal[@]}" -- --mode bitrix24 --portal-listen 127.0.0.1:18540
fi

echo; echo "### embedded store, open loop at fixed 1,000 and 5,000 events/s (OPEN_FOR each)"
start 18502 "$work/olbot.db"
loadavg
for r in 1000 5000; do
  load --target http://127.0.0.1:18502 --open --rate "$r" --concurrency "$OPEN_INFLIGHT" --duration "$OPEN_FOR" \
    --dialogs $(( r * ${OPEN_FOR%s} / 4 + 1 )) --baseline=false --server-pid "$server_pid" | tee "$work/open-$r.txt"
done
echo; echo "### embedded store, highest open-loop rate with p99 <= 10ms"
loadavg
{ "$work/olbot" load --target http://127.0.0.1:18502 --admin-token "$TOKEN" --find-rate 10ms --probe "$PROBE" --concurrency "$OPEN_INFLIGHT" --quiet || true; } | tee "$work/find.txt"
loadavg
echo; echo "### summary: same-run ratios (targets of issue 20), the median of $ROUNDS rounds"
# summary NAME LABEL TARGET: the median of a ratio's rounds, their spread and figures
summary() {
  local rs=${RR[$1]:-}
  [ -z "$rs" ] && return
  printf "  %-36s %s× (rounds: %s; events/s: %s)%s\n" "$2:" "$(median $rs)" "$(echo $rs | sed 's/ /, /g')" "$(echo ${R[$1]} | sed 's/ /, /g')" "${3:+; target $3}"
}
summary high "embedded / noop, $CONC_HIGH clients" ">= 0.5"
summary low "embedded / noop, $CONC_LOW clients" ">= 0.3"
summary peer_low "embedded / peer, $CONC_LOW clients" ">= 10"
summary peer_high "embedded / peer, $CONC_HIGH clients" ""
summary form "form route / JSON route, $CONC clients" "within 10% (>= 0.9)"
for r in 1000 5000; do
  printf "  open loop %5s events/s: p50 / p99 %s / %s\n" "$r" "$(row "$work/open-$r.txt" json | cut -d' ' -f2)" "$(row "$work/open-$r.txt" json | cut -d' ' -f3)"
done
grep -E '^highest rate' "$work/find.txt" | sed 's/^/  /' || true
loadavg

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

echo; echo "### memory store"
start 18501 memory; load --target http://127.0.0.1:18501 --server-pid "$server_pid"; stop_all

if [ "$PG" != skip ]; then
  schema="bench_$RANDOM$RANDOM"
  echo; echo "### PostgreSQL, one replica (schema $schema)"
  start 18503 "$PG" --store-schema "$schema"; load --target http://127.0.0.1:18503 --server-pid "$server_pid"; stop_all
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
fi

