package crashtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// storeFault is one way the store fails and comes back.
type storeFault struct {
	what   string
	inject func(d *driver) // d: the running driver, to add chats
	repair func()
}

// runStoreFaults drives chats through the first process while each fault
// in turn makes the store fail: events must get 503 (with the JSON error;
// nothing is acknowledged that is not committed), readiness must go false,
// and both must come back by themselves once the fault is repaired. Then
// every acknowledged event's dialog record and calls are checked as after
// the kills.
func runStoreFaults(t *testing.T, c *cluster, faults ...storeFault) report {
	t.Helper()
	sz := runSizes(t)
	p := c.procs[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := c.drive(ctx, sz.chats, sz.rate)
	time.Sleep(time.Second) // traffic before the first fault
	for _, f := range faults {
		before := d.stats.refused.Load()
		from := time.Now()
		f.inject(d)
		body := readyState(t, p, 503, "readiness to go false: "+f.what)
		t.Logf("%s: /readyz says %s", f.what, body)
		waitFor(t, faultTimeout, "events refused with 503: "+f.what, func() (bool, string) {
			n := d.stats.refused.Load() - before
			return n > 0, fmt.Sprintf("%d refused, %d acknowledged", n, d.stats.acked.Load())
		})
		time.Sleep(time.Second) // the fault lasts; the driver keeps posting
		f.repair()
		readyState(t, p, 200, "readiness to come back by itself: "+f.what)
		c.fault(from, time.Now(), f.what)
		t.Logf("%s: %d events refused with 503 meanwhile", f.what, d.stats.refused.Load()-before)
		time.Sleep(500 * time.Millisecond) // traffic after
	}
	cancel()
	d.stop()
	if !p.running() {
		t.Fatalf("%s exited during the faults", p.name)
	}
	rep := c.verify(d)
	if rep.NetErrors != 0 {
		t.Errorf("%d posts got no answer: the server must answer 503, not drop the connection", rep.NetErrors)
	}
	return rep
}

// TestStoreFaultPostgres cuts olbot's connection to PostgreSQL with a TCP
// proxy in between (the real server keeps running for the other tests): a
// restart (every connection dropped, new ones refused for a while) and an
// outage (connections dropped, new ones go unanswered until the connect
// timeout).
func TestStoreFaultPostgres(t *testing.T) {
	dsn := pgDSN(t)
	schema := newSchema(t, dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.Host, u.RawQuery = proxy.addr(), q.Encode()
	c := newCluster(t, "postgres", 1, []string{"--store", u.String(), "--store-schema", schema})
	c.start()
	runStoreFaults(t, c,
		storeFault{"PostgreSQL restart", func(*driver) { proxy.set(modeRefuse) }, func() { proxy.set(modeForward) }},
		storeFault{"PostgreSQL unreachable", func(*driver) { proxy.set(modeBlackhole) }, func() { proxy.set(modeForward) }},
	)
}

// proxy modes
const (
	modeForward   = iota // pass bytes both ways
	modeRefuse           // close new connections at once (a server restarting)
	modeBlackhole        // accept new connections and never answer (a partition)
)

// tcpProxy forwards loopback connections to target; set changes its mode
// and drops every connection it holds.
type tcpProxy struct {
	tb     testing.TB
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  int
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newTCPProxy(tb testing.TB, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{tb: tb, ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) set(mode int) {
	p.mu.Lock()
	p.mode = mode
	conns := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case modeRefuse:
			in.Close()
			continue
		case modeBlackhole:
			if !p.track(in) {
				in.Close()
			}
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				in.Close()
				return
			}
			if !p.track(in) || !p.track(out) {
				in.Close()
				out.Close()
				return
			}
			var pipes sync.WaitGroup
			pipe := func(dst, src net.Conn) {
				defer pipes.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				in.Close()
				out.Close()
			}
			pipes.Add(2)
			go pipe(out, in)
			go pipe(in, out)
			pipes.Wait()
		}()
	}
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
