package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rawClient sends the tool's requests over HTTP/1.1 keep-alive connections
// of its own: the request written in one write, the answer read with
// http.ReadResponse. The tool shares the cores with the server it measures,
// and net/http's client spends much of its time on machinery a load tool
// does not need (two goroutines per connection, the channels and selects
// between them and the caller, context watching): BENCHMARKS.md has the
// figures. Only plain http targets take it; https goes through net/http.
type rawClient struct {
	addr    string // host:port to dial
	host    string // the Host header
	prefix  string // the target's path, before each request's
	timeout time.Duration
	dialer  *net.Dialer
	// probeAfter: a connection idle longer than this is checked before
	// it carries a request (has the server closed it meanwhile?)
	probeAfter time.Duration

	mu   sync.Mutex
	idle []*rawConn
}

// rawConn is one keep-alive connection.
type rawConn struct {
	c         net.Conn
	br        *bufio.Reader
	wbuf      []byte
	idleSince time.Time
}

// newRawClient returns a client for target (http://host:port[/path]), or nil
// when target is not plain http.
func newRawClient(target string, timeout time.Duration, dialer *net.Dialer) *rawClient {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawClient{addr: addr, host: u.Host, prefix: u.EscapedPath(), timeout: timeout, dialer: dialer, probeAfter: time.Second}
}

// errBodyTooLong marks an answer longer than the tool reads.
var errBodyTooLong = errors.New("loadtest: answer body longer than 4 MB")

// do sends one request and reads its answer (at most 4 MB of body).
func (rc *rawClient) do(ctx context.Context, method, path, ctype, auth string, body []byte) answer {
	for attempt := 0; ; attempt++ {
		pc, reused, err := rc.get(ctx)
		if err != nil {
			return answer{err: err}
		}
		a, keep, fresh := rc.exchange(ctx, pc, method, path, ctype, auth, body)
		if keep {
			rc.put(pc)
		} else {
			pc.c.Close()
		}
		// A server closes a connection that was idle too long (node's
		// after 5 s): get checks one idle for over probeAfter before
		// using it, and when the close crossed the request anyway —
		// nothing came back on the kept-alive connection, which the
		// server had closed without reading the request — the request
		// goes once more on a new connection.
		if a.err != nil && reused && fresh && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return a
	}
}

// exchange writes the request on pc and reads the answer. keep: pc may
// carry the next request; fresh: the request failed before any byte of an
// answer came back on a connection that was closed under it.
func (rc *rawClient) exchange(ctx context.Context, pc *rawConn, method, path, ctype, auth string, body []byte) (a answer, keep, fresh bool) {
	deadline := time.Now().Add(rc.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := pc.c.SetDeadline(deadline); err != nil {
		return answer{err: err}, false, false
	}
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			keep = false // the cancel's deadline may land after the next request set its own
		}
	}()

	w := append(pc.wbuf[:0], method...)
	w = append(w, ' ')
	w = append(w, rc.prefix...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, rc.host...)
	w = append(w, "\r\nUser-Agent: olbot-load\r\n"...)
	if ctype != "" {
		w = append(w, "Content-Type: "...)
		w = append(w, ctype...)
		w = append(w, "\r\n"...)
	}
	if auth != "" {
		w = append(w, "Authorization: "...)
		w = append(w, auth...)
		w = append(w, "\r\n"...)
	}
	if body != nil || method == http.MethodPost {
		w = append(w, "Content-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	if cap(w) <= 64<<10 {
		pc.wbuf = w
	}
	if _, err := pc.c.Write(w); err != nil {
		return answer{err: ctxErr(ctx, err)}, false, closedUnder(err)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return answer{err: ctxErr(ctx, err)}, false, closedUnder(err)
	}
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		return answer{err: ctxErr(ctx, err)}, false, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20+1))
	resp.Body.Close()
	switch {
	case err != nil:
		return answer{status: resp.StatusCode, body: b, err: ctxErr(ctx, err)}, false, false
	case len(b) > 4<<20:
		return answer{status: resp.StatusCode, body: b[:4<<20], err: errBodyTooLong}, false, false
	}
	return answer{status: resp.StatusCode, body: b}, !resp.Close, false
}

// closedUnder reports whether err says the peer had closed the connection.
func closedUnder(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ctxErr is err, or the context's own error when the context ended it (the
// deadline set by AfterFunc shows as a timeout otherwise).
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

func (rc *rawClient) get(ctx context.Context) (*rawConn, bool, error) {
	for {
		rc.mu.Lock()
		n := len(rc.idle)
		if n == 0 {
			rc.mu.Unlock()
			break
		}
		pc := rc.idle[n-1]
		rc.idle = rc.idle[:n-1]
		rc.mu.Unlock()
		if time.Since(pc.idleSince) <= rc.probeAfter || pc.alive() {
			return pc, true, nil
		}
		pc.c.Close()
	}
	c, err := rc.dialer.DialContext(ctx, "tcp", rc.addr)
	if err != nil {
		return nil, false, err
	}
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}, false, nil
}

// alive reports whether the server has neither closed the idle
// connection nor sent anything on it: a peek at the socket that does not
// wait (a read deadline in the past would fail before it reads).
func (pc *rawConn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false // bytes nobody asked for
	}
	sc, ok := pc.c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, perr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = errors.Is(perr, unix.EAGAIN) // nothing to read: open, and quiet
		return true
	})
	return err == nil && alive
}

func (rc *rawClient) put(pc *rawConn) {
	pc.idleSince = time.Now()
	rc.mu.Lock()
	rc.idle = append(rc.idle, pc)
	rc.mu.Unlock()
}

// closeIdle closes the idle connections.
func (rc *rawClient) closeIdle() {
	rc.mu.Lock()
	idle := rc.idle
	rc.idle = nil
	rc.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}
