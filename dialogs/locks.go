package dialogs

import "sync"

// keyLocks serialises events of one dialog inside the process; events of
// different dialogs run in parallel. Entries are reference-counted and
// removed when unused, so idle dialogs cost no memory; removed entries are
// reused (every event takes one).
type keyLocks struct {
	mu   sync.Mutex
	m    map[string]*keyLock
	free sync.Pool // *keyLock with refs 0, in no map
}

type keyLock struct {
	mu   sync.Mutex
	refs int
	key  string
	set  *keyLocks
}

// lock takes key's lock and returns its release.
func (l *keyLocks) lock(key string) func() { return l.acquire(key).release }

// acquire takes key's lock; release gives it back.
func (l *keyLocks) acquire(key string) *keyLock {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k := l.m[key]
	if k == nil {
		k, _ = l.free.Get().(*keyLock)
		if k == nil {
			k = &keyLock{set: l}
		}
		k.key = key
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return k
}

func (k *keyLock) release() {
	k.mu.Unlock()
	l := k.set
	l.mu.Lock()
	k.refs--
	free := k.refs == 0
	if free {
		delete(l.m, k.key)
		k.key = ""
	}
	l.mu.Unlock()
	if free {
		l.free.Put(k)
	}
}
