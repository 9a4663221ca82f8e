package loadtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func testDialer() *net.Dialer {
	return &net.Dialer{Timeout: time.Second, Control: loopbackOnly}
}

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestRawClient(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
	tests := []struct {
		name        string
		handler     http.Handler
		prefix      string
		requests    int
		ctype, auth string
		body        string
		wantStatus  int
		wantBody    string
		wantConns   int // connections the server accepted for all requests
	}{
		{name: "keep-alive: one connection", handler: echo, requests: 10, ctype: "application/json", auth: "Bearer t",
			body: `{"a":1}`, wantStatus: http.StatusCreated, wantBody: `{"a":1}`, wantConns: 1},
		{name: "empty POST body", handler: echo, requests: 2, body: "", wantStatus: http.StatusCreated, wantBody: "", wantConns: 1},
		{name: "chunked answer", requests: 3, wantStatus: http.StatusOK, wantBody: "onetwo", wantConns: 1,
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "one")
				w.(http.Flusher).Flush()
				io.WriteString(w, "two")
			})},
		{name: "Connection: close answers", requests: 3, wantStatus: http.StatusOK, wantBody: "x", wantConns: 3,
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				io.WriteString(w, "x")
			})},
		{name: "a target with a path", prefix: "/base", requests: 1, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}), wantStatus: http.StatusOK, wantBody: "/base/v1/events", wantConns: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := countingServer(t, tc.handler)
			rc := newRawClient(srv.URL+tc.prefix, 5*time.Second, testDialer())
			if rc == nil {
				t.Fatal("no raw client for", srv.URL)
			}
			defer rc.closeIdle()
			for i := range tc.requests {
				a := rc.do(context.Background(), http.MethodPost, "/v1/events", tc.ctype, tc.auth, []byte(tc.body))
				if a.err != nil || a.status != tc.wantStatus || string(a.body) != tc.wantBody {
					t.Fatalf("request %d: status %d body %q err %v, want %d %q", i, a.status, a.body, a.err, tc.wantStatus, tc.wantBody)
				}
			}
			if got := conns(); got != tc.wantConns {
				t.Fatalf("%d connections for %d requests, want %d", got, tc.requests, tc.wantConns)
			}
		})
	}
}

func TestRawClientRequestHead(t *testing.T) {
	seen := make(chan *http.Request, 1)
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		seen <- r
	}))
	rc := newRawClient(srv.URL, 5*time.Second, testDialer())
	defer rc.closeIdle()
	if a := rc.do(context.Background(), http.MethodPost, "/v1/events", "application/json", "Bearer tok", []byte(`{"x":"y"}`)); a.err != nil || a.status != 200 {
		t.Fatalf("%+v", a)
	}
	r := <-seen
	b, _ := io.ReadAll(r.Body)
	if r.Method != "POST" || r.URL.Path != "/v1/events" || r.Host != strings.TrimPrefix(srv.URL, "http://") ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer tok" ||
		r.ContentLength != 9 || string(b) != `{"x":"y"}` {
		t.Fatalf("the server saw %s %s host %s headers %v length %d body %q", r.Method, r.URL, r.Host, r.Header, r.ContentLength, b)
	}
}

// A server that closes a kept-alive connection without saying so (an idle
// timeout): a connection idle past probeAfter is checked before it is used;
// one whose close crosses the request is retried on a new connection. Either
// way every request is answered once and the server sees each once.
func TestRawClientServerClosedIdle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		probeAfter time.Duration
	}{
		{"checked before use", 0},
		{"retried after the close crossed it", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var mu sync.Mutex
			accepted, requests := 0, 0
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					accepted++
					mu.Unlock()
					go func(c net.Conn) {
						defer c.Close()
						req, err := http.ReadRequest(bufio.NewReader(c))
						if err != nil {
							return
						}
						io.Copy(io.Discard, req.Body)
						mu.Lock()
						requests++
						mu.Unlock()
						// one answer, keep-alive in all but fact: then the close
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}(c)
				}
			}()
			rc := newRawClient("http://"+ln.Addr().String(), 5*time.Second, testDialer())
			rc.probeAfter = tc.probeAfter
			defer rc.closeIdle()
			for i := range 3 {
				if a := rc.do(context.Background(), http.MethodPost, "/v1/noop", "", "", []byte("{}")); a.err != nil || string(a.body) != "ok" {
					t.Fatalf("request %d: %+v", i, a)
				}
				time.Sleep(20 * time.Millisecond) // the server's close arrives first
			}
			mu.Lock()
			defer mu.Unlock()
			if accepted != 3 || requests != 3 {
				t.Fatalf("%d connections accepted, %d requests read; want 3 and 3 (one per request, each closed after its answer)", accepted, requests)
			}
		})
	}
}

func TestRawClientFailures(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	huge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 4<<20+10))
	})
	tests := []struct {
		name    string
		handler http.Handler
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		check   func(a answer) bool
		want    string
	}{
		{name: "timeout", handler: slow, timeout: 100 * time.Millisecond, ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			check: func(a answer) bool { return netKind(a.err) == "timeout" }, want: "a timeout"},
		{name: "interrupted", handler: slow, timeout: 5 * time.Second, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, check: func(a answer) bool { return errors.Is(a.err, context.Canceled) }, want: "context.Canceled"},
		{name: "answer over 4 MB", handler: huge, timeout: 5 * time.Second, ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			check: func(a answer) bool { return errors.Is(a.err, errBodyTooLong) && len(a.body) == 4<<20 }, want: "errBodyTooLong"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := countingServer(t, tc.handler)
			rc := newRawClient(srv.URL, tc.timeout, testDialer())
			defer rc.closeIdle()
			ctx, cancel := tc.ctx()
			defer cancel()
			a := rc.do(ctx, http.MethodPost, "/", "", "", nil)
			if !tc.check(a) {
				t.Fatalf("err %v (%d bytes), want %s", a.err, len(a.body), tc.want)
			}
		})
	}
}

func TestRawClientTargets(t *testing.T) {
	for _, tc := range []struct {
		target string
		raw    bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080/olbot", true},
		{"http://[::1]:8080", true},
		{"https://127.0.0.1:8443", false}, // net/http does TLS
	} {
		if got := newRawClient(tc.target, time.Second, testDialer()) != nil; got != tc.raw {
			t.Errorf("%s: raw client %v, want %v", tc.target, got, tc.raw)
		}
	}
	// the dialer's loopback check holds for the raw client too
	rc := newRawClient("http://10.255.255.1:80", time.Second, testDialer())
	if a := rc.do(context.Background(), http.MethodGet, "/", "", "", nil); a.err == nil || !strings.Contains(a.err.Error(), "not a loopback address") {
		t.Fatalf("err %v, want a refusal of the non-loopback address", a.err)
	}
}
