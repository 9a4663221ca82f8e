package outbox

import (
	"slices"
	"testing"

	"github.com/olbot/olbot/engine"
)

func ids(calls []engine.Call) []uint64 {
	out := []uint64{}
	for _, c := range calls {
		out = append(out, c.ID)
	}
	return out
}

// TestTake: a claim hands out again the calls this replica is sending and
// those whose send ended while the claim ran (it may have read them before
// their outcome was written); a portal with a round in flight gets no
// second one, while the other portals' calls are taken.
func TestTake(t *testing.T) {
	p1, p2, q1 := engine.Call{ID: 1, Portal: "p"}, engine.Call{ID: 2, Portal: "p"}, engine.Call{ID: 3, Portal: "q"}
	steps := []struct {
		name    string
		ended   []engine.Call // sends that end while the claim runs
		claimed []engine.Call
		want    []uint64
	}{
		{"a first round of p", nil, []engine.Call{p1}, []uint64{1}},
		{"p's round in flight: p waits, q goes", nil, []engine.Call{p1, p2, q1}, []uint64{3}},
		{"p1 ended during the claim that read it", []engine.Call{p1}, []engine.Call{p1, p2}, []uint64{2}},
		{"p2 and q1 end; the claim found nothing", []engine.Call{p2, q1}, nil, []uint64{}},
		{"a later claim takes p1 again (a retry due)", nil, []engine.Call{p1}, []uint64{1}},
	}
	o := &Outbox{inFlight: map[uint64]bool{}, ended: map[uint64]bool{}, busy: map[string]int{}}
	for _, st := range steps {
		o.mu.Lock()
		o.claiming = true
		o.mu.Unlock()
		for _, c := range st.ended {
			o.done([]engine.Call{c})
		}
		if got := ids(o.take(st.claimed)); !slices.Equal(got, st.want) {
			t.Fatalf("%s: took %v, want %v", st.name, got, st.want)
		}
	}
}
