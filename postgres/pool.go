package postgres

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool is a small connection pool over pgx.Conn.
//
// It stands in for pgxpool, which needs github.com/jackc/puddle/v2 — a
// module that go.sum does not list yet. It keeps pgxpool's defaults that
// matter here: at most max(4, GOMAXPROCS) connections, a ping before reusing
// a connection idle for over a second, and Close waiting for the
// connections in use. A connection that comes back broken or inside a
// transaction is closed instead of reused.
type pool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per connection in use or being opened

	mu     sync.Mutex
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

const (
	pingIdle = time.Second      // ping a connection idle for longer before use
	maxIdle  = 30 * time.Minute // close a connection idle for longer
)

func newPool(cfg *pgx.ConnConfig, maxConns int) *pool {
	if maxConns <= 0 {
		maxConns = max(4, runtime.GOMAXPROCS(0))
	}
	return &pool{cfg: cfg, slots: make(chan struct{}, maxConns)}
}

// acquire returns a connection for the caller's sole use until release.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		ic, ok, err := p.takeIdle()
		if err != nil {
			<-p.slots
			return nil, err
		}
		if !ok {
			break
		}
		if time.Since(ic.since) < pingIdle || ic.c.Ping(ctx) == nil {
			return ic.c, nil
		}
		closeConn(ic.c)
		if err := ctx.Err(); err != nil {
			<-p.slots
			return nil, err
		}
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// takeIdle pops the most recently used idle connection, closing those idle
// for too long.
func (p *pool) takeIdle() (idleConn, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return idleConn{}, false, ErrClosed
	}
	var stale []*pgx.Conn
	for len(p.idle) > 0 && time.Since(p.idle[0].since) > maxIdle {
		stale = append(stale, p.idle[0].c)
		p.idle = p.idle[1:]
	}
	var ic idleConn
	ok := len(p.idle) > 0
	if ok {
		ic = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
	}
	p.mu.Unlock()
	for _, c := range stale {
		closeConn(c)
	}
	return ic, ok, nil
}

// release gives back a connection that acquire returned.
func (p *pool) release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	if c.IsClosed() || c.PgConn().IsBusy() || c.PgConn().TxStatus() != 'I' {
		closeConn(c)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		closeConn(c)
		return
	}
	p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
	p.mu.Unlock()
}

// close waits for the connections in use and closes every connection.
// Later acquires return ErrClosed. It may be called more than once.
func (p *pool) close() {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.c)
	}
	if already {
		return
	}
	// Take every slot: each one in use comes back through release.
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	for range cap(p.slots) {
		<-p.slots
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}
