package bolt

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestLinger: a group that queued behind an append takes the writes that
// keep arriving within the linger gap, and no more than one append's time
// of them; a lull, a full group or no commit log (no append time) ends it.
// The test's margins are ten times or more the gaps it relies on, so that a
// slow machine changes nothing but how long it runs.
func TestLinger(t *testing.T) {
	const never = time.Hour
	tests := []struct {
		name    string
		size    int
		gap     time.Duration
		syncAvg time.Duration // the appends' moving average (0: no log)
		every   time.Duration // between the writes sent after the first append
		writes  int           // sent after the first append
		want    func(groups []int) bool
		wantMsg string
	}{
		{"writes within the gap join the group", 1000, time.Second, 20 * time.Second, 10 * time.Millisecond, 3,
			func(g []int) bool { return slices.Equal(g, []int{1, 4}) }, "[1 4]: the queued write and the three after it"},
		{"a lull ends the wait", 1000, 20 * time.Millisecond, 20 * time.Second, 400 * time.Millisecond, 2,
			func(g []int) bool { return slices.Equal(g, []int{1, 1, 1, 1}) }, "[1 1 1 1]: each write alone"},
		{"no longer than one append", 1000, time.Second, 100 * time.Millisecond, 10 * time.Millisecond, 100,
			func(g []int) bool { return len(g) > 2 && g[1] < 60 }, "the writes of 1 s in more than one group after the first"},
		{"a full group goes at once", 3, never, never, 0, 2,
			func(g []int) bool { return len(g) >= 2 && g[0] == 1 && g[1] == 3 }, "[1 3 …]: the second group as soon as it has 3"},
		{"without the log it does not wait", 1000, never, 0, 200 * time.Millisecond, 2,
			func(g []int) bool { return slices.Equal(g, []int{1, 1, 1, 1}) }, "[1 1 1 1]: each write alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatcher(nil, 0, tt.size)
			b.lingerGap = tt.gap
			var (
				mu      sync.Mutex
				groups  []int
				first   = true
				started = make(chan struct{})
				release = make(chan struct{})
			)
			b.runner = func(b *batcher, batch []*request) {
				if first {
					first = false
					close(started)
					<-release // the test queues a write behind this append
					if tt.syncAvg > 0 {
						b.noteSync(tt.syncAvg)
					}
				}
				mu.Lock()
				groups = append(groups, len(batch))
				mu.Unlock()
				for _, r := range batch {
					r.done <- nil
				}
			}
			var wg sync.WaitGroup
			send := func() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = b.send(&request{done: make(chan error, 1)})
				}()
			}
			send()
			<-started // the first append has begun, alone
			send()
			for b.queued() != 1 {
				time.Sleep(time.Millisecond)
			}
			close(release)
			for range tt.writes {
				time.Sleep(tt.every)
				send()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(30 * time.Second):
				t.Fatal("writes still waiting after 30 s: the group lingered on")
			}
			b.close()
			mu.Lock()
			defer mu.Unlock()
			if !tt.want(groups) {
				t.Errorf("groups %v, want %s", groups, tt.wantMsg)
			}
		})
	}
}
