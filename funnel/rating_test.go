package funnel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// TestRatingAverage: the funnel counts the answers of a scenario's rating
// questions, as the engine saves them, and shows their average; a bad
// answer, a "0" (the portal's operator call) and playground dialogs count
// nothing.
func TestRatingAverage(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../examples/claims.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "claims.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := scenarios.NewRegistry(dir, time.Now)
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	sc := reg.Current().Set.ByName["claims"]
	store := memstore.New()
	now := time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC)
	b := New(store, reg, nil, func() time.Time { return now })
	// run plays one dialog through the engine, committing every step to the funnel
	run := func(key string, texts ...string) engine.Dialog {
		d := engine.Dialog{Key: key}
		evs := []engine.Event{{Type: engine.Start}}
		for _, s := range texts {
			evs = append(evs, engine.Event{Type: engine.Message, Text: s})
		}
		for i, ev := range evs {
			ev.Time = now.Add(time.Duration(i) * time.Minute)
			res, err := engine.Step(sc, d, ev)
			if err != nil {
				t.Fatal(err)
			}
			b.Committed(dialogs.Step{Old: d, New: res.Dialog, Result: res})
			d = res.Dialog
		}
		return d
	}
	for _, tc := range []struct {
		name         string
		key          string
		texts        []string
		ratings, sum int64
		avg          float64
	}{
		{"a four in stars", "api:1", []string{"Rate our service", "★★★★"}, 1, 4, 4},
		{"a bad answer, then a five", "api:2", []string{"2", "7", "5/5"}, 2, 9, 4.5},
		{"a one in words", "api:3", []string{"2", "terrible"}, 3, 10, 3.33},
		{"0 is the portal's operator call", "api:4", []string{"2", "0"}, 3, 10, 3.33},
		{"playground dialogs do not count", engine.KeyPlayground + "x", []string{"2", "5"}, 3, 10, 3.33},
		{"a claim has no rating", "api:5", []string{"1", "123456"}, 3, 10, 3.33},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(tc.key, tc.texts...)
			f, err := b.View(t.Context(), "claims")
			if err != nil {
				t.Fatal(err)
			}
			v := ViewOf(f, sc.Version)
			if f.Ratings != tc.ratings || f.RatingSum != tc.sum || v.RatingAverage != tc.avg {
				t.Fatalf("ratings %d sum %d average %v, want %d %d %v", f.Ratings, f.RatingSum, v.RatingAverage, tc.ratings, tc.sum, tc.avg)
			}
		})
	}
	// the counts survive a flush and a new book
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	again := New(store, reg, nil, nil)
	f, err := again.View(t.Context(), "claims")
	if err != nil {
		t.Fatal(err)
	}
	if f.Ratings != 3 || f.RatingSum != 10 || f.RatingAverage() != 3.33 {
		t.Fatalf("after a flush: ratings %d sum %d, want 3 and 10", f.Ratings, f.RatingSum)
	}
	got := gather(t, again)
	want := map[string]float64{
		`olbot_ratings_total{scenario="claims"}`: 3, `olbot_rating_sum_total{scenario="claims"}`: 10, `olbot_rating_average{scenario="claims"}`: 3.33,
	}
	if len(got) != len(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("metrics %v, want %v", got, want)
		}
	}
	if got := gather(t, New(store, reg, nil, nil)); len(got) != 0 {
		t.Fatalf("a book that read nothing yet reports %v, want nothing", got)
	}
}

// gather scrapes a book's rating metrics as name{labels} -> value.
func gather(t *testing.T, b *Book) map[string]float64 {
	t.Helper()
	r := prometheus.NewRegistry()
	r.MustRegister(b.Collector())
	families, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}
