package retention

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
)

// TestLongRun is the retention harness of RELIABILITY.md: a bbolt store
// that gets a wave of finished dialogs every simulated hour (each with
// collected fields, 8 processed message ids, a parked and a pending call)
// and is swept with a retention of `keep` hours. After each sweep the
// store must hold exactly the dialogs that ended within the retention (the
// live set), its outbox exactly their calls, and once the first waves have
// been deleted the file must stop growing: new dialogs reuse the pages the
// deleted ones freed. The default run is short; RELIABILITY.md's figures
// come from
//
//	OLBOT_LONGRUN=1 go test -count=1 -run TestLongRun -v ./retention
func TestLongRun(t *testing.T) {
	rounds, wave, keep := 48, 100, 12
	if os.Getenv("OLBOT_LONGRUN") != "" {
		rounds, wave, keep = 24*14, 400, 48 // two weeks of hours, 2 days' retention
	}
	path := filepath.Join(t.TempDir(), "olbot.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := t0
	sw := New(s, Config{Keep: time.Duration(keep) * time.Hour, Playground: DefaultPlayground}, nil, slog.New(slog.DiscardHandler), func() time.Time { return now })
	ctx := t.Context()
	sizes := make([]int64, rounds)
	for r := range rounds {
		now = t0.Add(time.Duration(r) * time.Hour)
		var wg sync.WaitGroup
		errs := make(chan error, wave)
		for i := range wave {
			wg.Go(func() {
				key := fmt.Sprintf("b24:m%d:chat%d", i%7, r*wave+i)
				d := engine.Dialog{Key: key, Scenario: "support", State: "thanks", Status: engine.Finished, Rev: 1,
					Fields: map[string]string{"name": "Анна " + strconv.Itoa(i), "email": "anna" + strconv.Itoa(i) + "@example.com", "phone": "+7999" + strconv.Itoa(1000000+i)},
					Client: "Анна", Line: 1, Started: now.Add(-5 * time.Minute), LastIn: now, Updated: now, Ended: now}
				for m := range engine.RecentIDs {
					d.Remember("m" + strconv.Itoa(r*wave*10+i*10+m))
				}
				calls := []engine.Call{
					{Portal: "m", Method: "imbot.message.add", Params: []byte(`{"MESSAGE":"Thank you, Анна!"}`), Created: now, Parked: true, Error: "ACCESS_DENIED"},
					{Portal: "m", Method: "imopenlines.bot.session.finish", Params: []byte(`{"CHAT_ID":1}`), Created: now},
				}
				if err := s.Commit(ctx, engine.Commit{Dialog: d, Calls: calls}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := sw.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		live := min(r+1, keep) * wave // ended after now-keep
		n := 0
		if err := s.ScanDialogs(ctx, func(engine.Dialog) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		pending, parked, _ := s.Depth(ctx)
		if n != live || pending != live || parked != live {
			t.Fatalf("round %d: %d records, %d pending and %d parked calls; want the live set, %d each", r, n, pending, parked, live)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes[r] = st.Size()
		if r%max(1, rounds/12) == 0 || r == rounds-1 {
			t.Logf("round %3d (hour %3d): %5d records (live set %5d), %5d pending + %5d parked calls, file %6.2f MiB",
				r, r, n, live, pending, parked, float64(st.Size())/(1<<20))
		}
	}
	// The file may grow while the live set builds up and for a few rounds
	// after (bbolt frees pages one transaction late); from twice the
	// retention on it must not grow.
	settled := min(2*keep, rounds-1)
	if sizes[rounds-1] > sizes[settled] {
		t.Fatalf("the file grew from %d bytes at round %d to %d at round %d: deleted pages are not reused", sizes[settled], settled, sizes[rounds-1], rounds-1)
	}
	t.Logf("file %d bytes at round %d and %d at round %d; %d dialogs written, %d kept", sizes[settled], settled, sizes[rounds-1], rounds-1, rounds*wave, keep*wave)
}
