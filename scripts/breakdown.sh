# Sourced by scripts/bench.sh and scripts/benchab.sh:
#   breakdown BINARY PROFILE EVENTS
# prints the CPU per event of the parts of olbot's event path in a CPU
# profile of `olbot serve` (the samples passing through each part's
# functions, divided by the events answered during the profile).
breakdown() {
  local bin=$1 prof=$2 events=$3
  part() { # WHAT FOCUS [IGNORE]
    local args=(-top -nodecount=100000 -focus="$2")
    [ -n "${3:-}" ] && args+=(-ignore="$3")
    go tool pprof "${args[@]}" "$bin" "$prof" 2>/dev/null |
      awk -v n="$events" -v what="$1" '
        /^Showing nodes accounting for/ { v = $5; sub(/,$/, "", v)
          u = 1; if (v ~ /ms$/) { u = 1e-3; sub(/ms$/, "", v) } else if (v ~ /us$|µs$/) { u = 1e-6; sub(/(us|µs)$/, "", v) } else { sub(/s$/, "", v) }
          printf "  %-58s %6.1f µs\n", what, v * u * 1e6 / n; found = 1; exit }
        END { if (!found) printf "  %-58s %6.1f µs\n", what, 0 }'
  }
  local handler='echo/v4\.\(\*Echo\)\.ServeHTTP'
  part "all of the server's CPU" '.'
  part "net/http (reading, writing; not the handler)" 'net/http\.\(\*conn\)\.serve' "$handler"
  part "the handler (Echo, middleware, everything below)" "$handler"
  part "  request decode (JSON)" 'server\.decodeEventRequest'
  part "  request decode (form: read, parse, verify)" 'server\.readForm|server\.parseEvent|server\.\(\*Server\)\.verify'
  part "  store read" 'olbot/bolt\.\(\*Store\)\.Dialog$'
  part "  engine step" 'olbot/engine\.Step$'
  part "  portal calls of the step (outbox.Calls)" 'olbot/outbox\.\(\*Outbox\)\.Calls$'
  part "  waiting for the commit (handler side)" 'olbot/bolt\.\(\*Store\)\.Commit$'
  part "  funnel bookkeeping" 'olbot/funnel\.\(\*Book\)\.Committed'
  part "  the answer (JSON)" 'server\.answerEvent|server\.answerBitrixEvent|server\.responseOf|echo/v4\.\(\*context\)\.JSON$'
  part "the store's writer (group commit: the log, the B-tree)" 'olbot/bolt\.\(\*batcher\)|olbot/bolt\.\(\*Store\)\.applyLoop'
  part "the outbox (claims, REST calls to the portal, results)" 'olbot/outbox\.' "$handler"
  part "garbage collector (background and assists)" 'runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge|runtime\.gcAssistAlloc'
  part "scheduler, timers, netpoll" 'runtime\.schedule|runtime\.findRunnable|runtime\.mcall|runtime\.park_m'
  echo "  top functions (flat):"
  go tool pprof -top -nodecount=15 "$bin" "$prof" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/  /'
}
