package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// BenchmarkEventRoute plays the load tool's support conversation (start,
// menu choice, name, email: 4 events per dialog) through the server's
// handler — routing, the request decode, the step, a memory-store commit,
// the funnel, the answer — without the network, one event per op, so that
// -benchmem gives the allocations an event costs on olbot's side of HTTP.
func BenchmarkEventRoute(b *testing.B) {
	store := memstore.New()
	r := Assemble(b, Config{Listen: "127.0.0.1:0"}, Wiring{Store: store, Registry: scenarios.NewRegistry("../examples", nil)})
	if err := r.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	h := r.Handler()
	steps := []string{
		`{"dialog":"%s","line":1,"type":"start","client":"Anna"}`,
		`{"dialog":"%s","line":1,"type":"message","text":"Leave a request"}`,
		`{"dialog":"%s","line":1,"type":"message","text":"anna"}`,
		`{"dialog":"%s","line":1,"type":"message","text":"anna@example.com"}`,
	}
	bodies := make([][]byte, 0, b.N+4)
	for i := 0; len(bodies) < b.N; i++ {
		for _, s := range steps {
			bodies = append(bodies, fmt.Appendf(nil, s, fmt.Sprintf("bench-%d", i)))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(bodies[i]))
		req.Host = "127.0.0.1"
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d: %s", w.Code, w.Body)
		}
	}
}
