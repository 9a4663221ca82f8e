# Developer targets. Users need none of them: the playground's assets are
# committed and embedded (go:embed), so `go run ./cmd/olbot serve` is enough.

.PHONY: editor test check

# editor rebuilds server/web/editor.js, the playground's scenario editor
# (CodeMirror 6, from editor/src/main.js), with the exact versions of
# editor/package-lock.json. Needs Node.js and npm; commit the result.
editor:
	cd editor && npm ci --no-audit --no-fund && npm run build

check:
	go run ./cmd/olbot check examples

test:
	go test -race ./...
