#!/usr/bin/env bash
# Two olbot binaries under the same load, alternately (A B B A per round),
# each run on a fresh embedded store, driven by one load tool (the current
# tree's olbot load): events/s, ratio to the noop route of the same run,
# p50/p99, and the server's and the load tool's CPU per event. For before
# and after figures of a change (BENCHMARKS.md).
#
#   scripts/benchab.sh OLD_OLBOT NEW_OLBOT   # ROUNDS=2 CONCS="256 32" DIALOGS=10000 PPROF=1
#   MODE=bitrix24 CONCS=64 scripts/benchab.sh OLD_OLBOT NEW_OLBOT
#     the Bitrix24 form route instead of POST /v1/events: each server installed
#     by the load tool's fake portal, to which it delivers every REST call
#   LOAD_A=OLD_OLBOT LOAD_B=NEW_OLBOT PPROF=0 scripts/benchab.sh OLBOT OLBOT
#     one server binary driven by two load tools (a change to olbot load
#     itself: the tool shares the cores, so its own cost moves every figure)
#   BASELINE=0: without the no-op phase before each run
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/breakdown.sh
PPROF=${PPROF:-1}                # then a CPU profile of each at the first of CONCS
PROFILE_SECONDS=${PROFILE_SECONDS:-4}
A=$1 B=$2
ROUNDS=${ROUNDS:-2}
CONCS=${CONCS:-256 32}
DIALOGS=${DIALOGS:-10000}
MODE=${MODE:-json}
BASELINE=${BASELINE:-1}
sflags=() lflags=()
portal_flags() { # port: the server's and the tool's flags of MODE for a server on port
  sflags=() lflags=()
  if [ "$MODE" = bitrix24 ]; then
    local pp=$(($1 + 1000))
    sflags=(--bot-api v1 --oauth-url "http://127.0.0.1:$pp/oauth/token/" --app-client-id local.fakeportal.app --app-client-secret fake-client-secret)
    lflags=(--mode bitrix24 --portal-listen "127.0.0.1:$pp")
  elif [ "$MODE" != json ]; then
    echo "MODE must be json or bitrix24"; exit 2
  fi
  [ "$BASELINE" = 1 ] || lflags+=(--baseline=false)
}
work=$(mktemp -d)
go build -o "$work/load" ./cmd/olbot
LOAD_A=${LOAD_A:-$work/load} LOAD_B=${LOAD_B:-$work/load} # the load tool of each side
cp -r examples "$work/scenarios"
pid=0
cleanup() { [ "$pid" != 0 ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=18600
one() { # label binary conc
  port=$((port + 1))
  portal_flags "$port"
  local tool=$LOAD_A
  [ "$1" = B ] && tool=$LOAD_B
  "$2" serve --listen "127.0.0.1:$port" --scenarios "$work/scenarios" --store "$work/$port.db" \
    --rate 1000000,1000000 --log-level error "${sflags[@]}" >"$work/$port.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  "$tool" load --target "http://127.0.0.1:$port" --dialogs "$DIALOGS" --concurrency "$3" --server-pid "$pid" --quiet "${lflags[@]}" >"$work/out.txt" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=0
  awk -v l="$1" -v c="$3" -v m="$MODE" '
    $1 == "noop" && $2 ~ /^[0-9]+$/ { noop = $6 }
    $1 == m && $2 ~ /^[0-9]+$/ { rate = $6; p50 = $7; p99 = $9; ratio = $11 }
    /^cpu:/ { srv = $5; tool = $9; nsrv = $13; ntool = $17 }
    END { if (!noop) noop = "-"; printf "%-4s %4s clients: %6s events/s  noop %6s  %s  p50 %-8s p99 %-8s  cpu/event server %s µs (noop %s), tool %s µs (noop %s)\n", l, c, rate, noop, ratio, p50, p99, srv, nsrv, tool, ntool }' "$work/out.txt"
}
echo "A = $A (load tool $LOAD_A)"; echo "B = $B (load tool $LOAD_B)"; echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONCS; do
    one A "$A" "$c"; one B "$B" "$c"; one B "$B" "$c"; one A "$A" "$c"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$PPROF" = 1 ]; then
  conc=${CONCS%% *}
  for l in A B; do
    bin=$A; [ "$l" = B ] && bin=$B
    port=$((port + 1))
    portal_flags "$port"
    "$bin" serve --listen "127.0.0.1:$port" --scenarios "$work/scenarios" --store "$work/$port.db" \
      --rate 1000000,1000000 --log-level error --pprof --admin-token bench "${sflags[@]}" >"$work/$port.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    "$work/load" load --target "http://127.0.0.1:$port" --admin-token bench --dialogs $((DIALOGS * 5)) --concurrency "$conc" \
      --baseline=false --server-pid "$pid" --quiet "${lflags[@]}" >"$work/prof.txt" &
    lp=$!
    sleep 1
    curl -sf -H "Authorization: Bearer bench" "http://127.0.0.1:$port/debug/pprof/profile?seconds=$PROFILE_SECONDS" >"$work/$l.prof"
    wait "$lp" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=0
    rate=$(awk -v m="$MODE" '$1 == m && $2 ~ /^[0-9]+$/ { print $6; exit }' "$work/prof.txt")
    echo; echo "$l: CPU profile, $conc clients, $rate events/s ($PROFILE_SECONDS s from 1 s into the run); per event:"
    breakdown "$bin" "$work/$l.prof" "$(awk -v r="$rate" -v s="$PROFILE_SECONDS" 'BEGIN { print r * s }')"
  done
fi
