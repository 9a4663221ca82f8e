#!/usr/bin/env bash
# Memory and store size with N stored (idle) dialogs: fills a bbolt file with
# N support dialogs waiting for an answer, starts `olbot serve` on it, and
# prints the file size per dialog and the server's RSS (RssAnon: bbolt maps
# its file, so file pages show in RssFile, not RssAnon) before and after
# some traffic.
#
#   N=1000000 scripts/million.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PORT=${PORT:-18481}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
echo "filling $N dialogs…"
OLBOT_MILLION="$work/olbot.db" OLBOT_MILLION_N="$N" go test -count=1 -run '^TestFillMillion$' -v ./bolt/ | grep -E "dialogs, file|ok|FAIL"
size=$(stat -c %s "$work/olbot.db")
go build -o "$work/olbot" ./cmd/olbot
"$work/olbot" serve --listen "127.0.0.1:$PORT" --store "$work/olbot.db" --scenarios examples --log-level warn &
server=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.5; done
rss() { grep -E '^(VmRSS|RssAnon|RssFile)' /proc/$server/status | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
echo "store: $size bytes, $((size / N)) bytes per dialog"
echo "after start: $(rss)"
go run ./cmd/olbot load --target "http://127.0.0.1:$PORT" --dialogs 2000 --concurrency 64 --baseline=false --quiet | head -4
echo "after 8000 events: $(rss)"
