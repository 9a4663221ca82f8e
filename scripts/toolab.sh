#!/usr/bin/env bash
# Two load tools against the same olbot binary, alternately (A B B A per
# round), each run on a fresh embedded store: events/s, the no-op route of
# the same run and the ratio, p50, and the server's and the tool's CPU per
# event. For before and after figures of a change to `olbot load` itself
# (BENCHMARKS.md, "A leaner load tool"): the tool shares the cores with the
# server, so its own cost moves every figure.
#
#   scripts/toolab.sh SERVER_OLBOT TOOL_A_OLBOT TOOL_B_OLBOT   # ROUNDS=2 CONC=32 DIALOGS=10000 MODE=json BASELINE=1
#   MODE=bitrix24 CONC=64 scripts/toolab.sh …                  # the form route (the tool's fake portal installs the server)
#   BASELINE=0 …                                               # without the no-op phase
set -euo pipefail
cd "$(dirname "$0")/.."
S=$1 TA=$2 TB=$3
ROUNDS=${ROUNDS:-2}
CONC=${CONC:-32}
DIALOGS=${DIALOGS:-10000}
MODE=${MODE:-json}
BASELINE=${BASELINE:-1}
work=$(mktemp -d)
cp -r examples "$work/scenarios"
pid=0
cleanup() { [ "$pid" != 0 ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=18700
one() { # label tool
  port=$((port + 2))
  local pp=$((port + 1)) sflags=() lflags=()
  if [ "$MODE" = bitrix24 ]; then
    sflags=(--bot-api v1 --oauth-url "http://127.0.0.1:$pp/oauth/token/" --app-client-id local.fakeportal.app --app-client-secret fake-client-secret)
    lflags=(--mode bitrix24 --portal-listen "127.0.0.1:$pp")
  elif [ "$MODE" != json ]; then
    echo "MODE must be json or bitrix24"; exit 2
  fi
  [ "$BASELINE" = 1 ] || lflags+=(--baseline=false)
  "$S" serve --listen "127.0.0.1:$port" --scenarios "$work/scenarios" --store "$work/$port.db" \
    --rate 1000000,1000000 --log-level error "${sflags[@]}" >"$work/$port.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  "$2" load --target "http://127.0.0.1:$port" --dialogs "$DIALOGS" --concurrency "$CONC" --server-pid "$pid" --quiet "${lflags[@]}" >"$work/out.txt" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=0
  awk -v l="$1" -v c="$CONC" -v m="$MODE" '
    $1 == "noop" && $2 ~ /^[0-9]+$/ { noop = $6 }
    $1 == m && $2 ~ /^[0-9]+$/ { rate = $6; p50 = $7; ratio = $11 }
    /^cpu:/ { srv = $5; tool = $9 }
    END { printf "%-4s %4s clients: %6s events/s  noop %6s  %-6s p50 %-8s cpu/event server %s µs, tool %s µs\n", l, c, rate, (noop ? noop : "-"), (noop ? ratio : ""), p50, srv, tool }' "$work/out.txt"
}
echo "server = $S"; echo "A = $TA"; echo "B = $TB"; echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "$ROUNDS"); do
  one A "$TA"; one B "$TB"; one B "$TB"; one A "$TA"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
