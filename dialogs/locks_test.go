package dialogs

import (
	"sync"
	"testing"
)

// TestKeyLocks: events of one key run one at a time, the entries go away
// when unused, and a reused entry serves its new key only.
func TestKeyLocks(t *testing.T) {
	var l keyLocks
	for _, tc := range []struct {
		name    string
		keys    []string
		workers int
	}{
		{"one key", []string{"api:a"}, 16},
		{"two keys", []string{"api:a", "api:b"}, 16},
		{"many keys", []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"}, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inside := map[string]int{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 200 {
						key := tc.keys[(w+i)%len(tc.keys)]
						k := l.acquire(key)
						mu.Lock()
						inside[key]++
						if n := inside[key]; n != 1 {
							t.Errorf("%s: %d holders at once", key, n)
						}
						mu.Unlock()
						mu.Lock()
						inside[key]--
						mu.Unlock()
						k.release()
					}
				}()
			}
			wg.Wait()
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.m) != 0 {
				t.Errorf("%d entries left after every release", len(l.m))
			}
		})
	}
	unlock := l.lock("x")
	unlock()
	if len(l.m) != 0 {
		t.Errorf("lock/unlock left %d entries", len(l.m))
	}
}
