package bolt

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// TestFillMillion writes N idle dialog records (a support dialog waiting for
// the email, as most stored dialogs are) into the bolt file named by
// OLBOT_MILLION, for the memory and store-size figures in BENCHMARKS.md
// (scripts/million.sh). It is skipped unless OLBOT_MILLION is set.
func TestFillMillion(t *testing.T) {
	path := os.Getenv("OLBOT_MILLION")
	if path == "" {
		t.Skip("set OLBOT_MILLION=FILE (and OLBOT_MILLION_N, default 1000000) to fill a store")
	}
	n := 1_000_000
	if v := os.Getenv("OLBOT_MILLION_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	const workers = 256
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				d := engine.Dialog{
					Key: fmt.Sprintf("b24:bac1cd5c8940947a75e0d71b1a84e348:chat%d", 100000+i), Scenario: "support", Version: "f3d0474263c3",
					State: "ask_email", Status: engine.Active, Fields: map[string]string{"name": "Anna"}, Client: "Anna", Line: 1, LeadID: 1209,
					Started: at, LastIn: at.Add(time.Minute), Updated: at.Add(time.Minute), Rev: 1,
					Recent:  []string{"m86101", "m86102"},
					Channel: engine.Channel{Member: "bac1cd5c8940947a75e0d71b1a84e348", Dialog: fmt.Sprintf("chat%d", 100000+i), Chat: 100000 + i, Bot: 1011, Domain: "example.bitrix24.com"},
				}
				if err := s.Commit(ctx, engine.Commit{Dialog: d}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d dialogs, file %d bytes, %.0f bytes per dialog", n, st.Size(), float64(st.Size())/float64(n))
}
