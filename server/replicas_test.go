package server

// Several replicas on one PostgreSQL schema, in one process: each is a real
// server (New + Open on 127.0.0.1:0) with a postgres.Store of its own, the
// same scenario folder and the same local application of one fake portal.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/scenarios"
)

// replicaDSN returns the PostgreSQL test server's URL (OLBOT_TEST_POSTGRES,
// as in package postgres). When it cannot be reached the test fails under
// CI (CI set and not false) and is skipped elsewhere.
func replicaDSN(tb testing.TB) string {
	tb.Helper()
	const def = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	dsn := os.Getenv("OLBOT_TEST_POSTGRES")
	if dsn == "" {
		dsn = def
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = c.Ping(ctx)
		c.Close(ctx)
	}
	if err != nil {
		msg := "PostgreSQL test server unreachable (OLBOT_TEST_POSTGRES names it, default " + def + "): " + err.Error()
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			tb.Fatal(msg + " — CI is set, so this fails instead of skipping")
		}
		tb.Skip(msg)
	}
	return dsn
}

// replicaSchema names a schema of the test's own, dropped when it ends
// (after the replicas: cleanups run last-registered first).
func replicaSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "olbot_replicas_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// replicaNode is one olbot replica of the test.
type replicaNode struct {
	name  string
	srv   *Replica
	store *postgres.Store
	base  string
	logs  *logBuf
	dead  atomic.Bool
	// crash ends every portal request of the replica that is still open,
	// as the end of its process would (see tagged).
	crash context.CancelFunc
}

// startReplica starts a replica on schema with the scenario folder dir, in
// local-application mode against portal; fix adjusts its configuration.
func startReplica(t *testing.T, name, dsn, schema, dir string, portal *fakeportal.Portal, fix func(*Config, *outbox.Config)) *replicaNode {
	t.Helper()
	r := &replicaNode{name: name, logs: &logBuf{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name)
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, Logger: log})
	if err != nil {
		t.Fatalf("%s: open the store: %v", name, err)
	}
	r.store = st
	b24 := localApp(portal)
	var crashed context.Context
	crashed, r.crash = context.WithCancel(context.Background())
	t.Cleanup(r.crash)
	b24.HTTPClient = tagged(name, crashed)
	cfg := Config{Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second}
	if fix != nil {
		fix(&cfg, &b24)
	}
	srv := Assemble(t, cfg, Wiring{Store: st, Registry: scenarios.NewRegistry(dir, nil), Logger: log, Outbox: b24})
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.srv, r.base = srv, "http://"+srv.Addr()
	t.Cleanup(func() {
		if !r.dead.Load() {
			if err := r.srv.Close(); err != nil {
				t.Errorf("%s: close: %v", name, err)
			}
		}
		r.store.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, r.logs.String())
		}
	})
	return r
}

// kill ends the replica as a crash would, as far as other replicas can
// tell: its listener and every connection close at once, its background
// work (delivery, sweeper, watcher) stops, and its store connections close —
// without Close: no drain, no final flush, no release of its outbox leases.
// The store closes before its portal requests in flight end, so that none
// of their outcomes is recorded: a process that died records nothing (a
// graceful shutdown, by contrast, lets them finish and records them).
func (r *replicaNode) kill() {
	s := r.srv
	r.dead.Store(true)
	s.setReady(false)
	_ = s.http.Close()
	s.cancel()      // no claim of its own goes on
	r.store.Close() // nothing more is written
	r.crash()       // its requests in flight end unanswered
	s.wg.Wait()
	r.srv.Dialogs.Wait() // events cut off by the kill give up (their clients saw the connection close)
}

// replicaHeader names the replica that makes a portal call (see tagged).
const replicaHeader = "X-Test-Replica"

// tagged is an HTTP client for one replica's portal calls: each request
// says which replica sent it, and ends when crashed does (the replica's
// process died).
func tagged(name string, crashed context.Context) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: tagTransport{name: name, crashed: crashed, base: http.DefaultTransport.(*http.Transport).Clone()}}
}

type tagTransport struct {
	name    string
	crashed context.Context
	base    http.RoundTripper
}

func (t tagTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// The request's own context stays in charge; the crash only adds an
	// end (the answer's body is read under the same context, so it is
	// not cancelled when RoundTrip returns).
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.crashed, cancel)
	context.AfterFunc(ctx, func() { stop() }) // the request ended first: forget it
	r = r.Clone(ctx)
	r.Header.Set(replicaHeader, t.name)
	return t.base.RoundTrip(r)
}

// portalFront serves the fake portal with every REST answer held back a
// little after the portal has done the call, so that calls are in flight:
// done on the portal, not yet in the outbox. A frozen replica's calls are
// done on the portal and never answered: a replica that dies now has calls
// in flight whose outcome it never learns.
type portalFront struct {
	p      *fakeportal.Portal
	delay  time.Duration
	frozen atomic.Pointer[string]
	// candidates, once set, freezes the first of them to make an outbox
	// call: which replica claims calls next is up to the shared outbox,
	// and a replica fixed in advance may make none before the load ends.
	candidates atomic.Pointer[map[string]bool]
	lost       atomic.Int64 // calls of the frozen replica done on the portal, never answered
	// abandoned counts calls done on the portal whose live sender hung up
	// before the answer (its send was cut off at the lease's end, which a
	// loaded machine reaches): at-least-once delivery sends them again.
	abandoned atomic.Int64
}

func (f *portalFront) freeze(replica string) { f.frozen.Store(&replica) }

// freezeFirstOf freezes whichever of replicas next makes an outbox call.
func (f *portalFront) freezeFirstOf(replicas ...string) {
	m := make(map[string]bool, len(replicas))
	for _, r := range replicas {
		m[r] = true
	}
	f.candidates.Store(&m)
}

// frozenName is the frozen replica, or "" before any is.
func (f *portalFront) frozenName() string {
	if fr := f.frozen.Load(); fr != nil {
		return *fr
	}
	return ""
}

func (f *portalFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/rest/") {
		f.p.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &answerRecorder{header: http.Header{}, code: http.StatusOK}
	f.p.ServeHTTP(rec, r)
	from := r.Header.Get(replicaHeader)
	// a read of the line's settings (its bot timeout, in the background)
	// is no outbox call: it hangs too when frozen, uncounted
	outboxCall := !strings.Contains(r.URL.Path, bitrix24.MethodConfigGet)
	if c := f.candidates.Load(); c != nil && (*c)[from] && outboxCall && f.frozen.Load() == nil {
		f.frozen.CompareAndSwap(nil, &from)
	}
	if fr := f.frozen.Load(); fr != nil && *fr == from {
		if outboxCall {
			f.lost.Add(1)
		}
		<-r.Context().Done()
		return
	}
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		f.abandoned.Add(int64(callsIn(r.URL.Path, body)))
		return // the caller hung up: it never learns the outcome
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.code)
	_, _ = w.Write([]byte(rec.body.String()))
}

// callsIn is the number of portal calls one request carries: the
// commands of a batch, else one.
func callsIn(path string, body []byte) int {
	if !strings.HasSuffix(path, "/batch") {
		return 1
	}
	var b struct {
		Cmd map[string]json.RawMessage `json:"cmd"`
	}
	if json.Unmarshal(body, &b) != nil || len(b.Cmd) == 0 {
		return 1
	}
	return len(b.Cmd)
}

type answerRecorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (a *answerRecorder) Header() http.Header         { return a.header }
func (a *answerRecorder) WriteHeader(code int)        { a.code = code }
func (a *answerRecorder) Write(b []byte) (int, error) { return a.body.Write(b) }

// newPortalFront starts a fake portal behind a portalFront.
func newPortalFront(t *testing.T, delay time.Duration) (*fakeportal.Portal, *portalFront) {
	t.Helper()
	portal := fakeportal.New(fakeportal.Config{Burst: -1})
	front := &portalFront{p: portal, delay: delay}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	portal.SetBaseURL(srv.URL)
	return portal, front
}

// leaseCounter returns a function that counts the outbox calls an owner
// (a replica) holds claimed in schema.
func leaseCounter(t *testing.T, dsn, schema string) func(owner string) int {
	t.Helper()
	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	outbox := pgx.Identifier{schema, "outbox"}.Sanitize()
	var mu sync.Mutex
	return func(owner string) int {
		mu.Lock()
		defer mu.Unlock()
		var n int
		if err := db.QueryRow(context.Background(), "SELECT count(*) FROM "+outbox+" WHERE lease_owner = $1", owner).Scan(&n); err != nil {
			t.Errorf("count the leases of %s: %v", owner, err)
		}
		return n
	}
}

// installVia installs the application through replica r and waits until the
// bot is registered; it returns the bot's id and the paths (with query) of
// its handlers by event key (EVENT_WELCOME_MESSAGE, EVENT_MESSAGE_ADD).
func installVia(t *testing.T, r *replicaNode, portal *fakeportal.Portal) (int, map[string]string) {
	t.Helper()
	resp, err := portal.Post(context.Background(), r.base+"/bitrix24/events", portal.InstallEvent())
	if err != nil {
		t.Fatal(err)
	}
	if status, body := decodeResp(t, resp); status != http.StatusOK {
		t.Fatalf("ONAPPINSTALL: %d %v", status, body)
	}
	var bot int
	waitFor(t, "the bot registration", func() (bool, string) {
		in, err := r.srv.Outbox.Portals().Get(context.Background(), portal.Config().MemberID)
		bot = in.BotID
		return err == nil && bot > 0, fmt.Sprintf("%+v %v", in, err)
	})
	// and the bindings of ONAPPUNINSTALL and ONAPPUPDATE, queued with it
	waitFor(t, "the event bindings", func() (bool, string) {
		return len(portal.Bound(bitrix24.EventAppUninstall)) == 1 && len(portal.Bound(bitrix24.EventAppUpdate)) == 1, "not bound yet"
	})
	bots := portal.Bots()
	if len(bots) != 1 || bots[0].ID != bot {
		t.Fatalf("bots on the portal: %+v, want one, %d", bots, bot)
	}
	paths := map[string]string{}
	for _, key := range []string{"EVENT_WELCOME_MESSAGE", "EVENT_MESSAGE_ADD"} {
		u, err := url.Parse(bots[0].Handlers[key])
		if err != nil || u.Path == "" {
			t.Fatalf("handler %s: %q %v", key, bots[0].Handlers[key], err)
		}
		paths[key] = u.RequestURI()
	}
	return bot, paths
}

// replicaChat is one client's chat and the events the replicas acknowledged.
type replicaChat struct {
	chat  *fakeportal.Chat
	name  string
	key   string
	acked []engine.Event
}

func randN(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

// TestReplicas runs three replicas on one schema and drives 60 chats
// through the support scenario, each event to a random replica and about
// one in four to two replicas at once. Mid-load one replica is killed (see
// kill) while it holds claimed calls, some of them done on the portal but
// not yet answered. Then every dialog must be in the state a single server
// reaches by applying its acknowledged events in order, every portal call
// of those events must have reached the portal in order per chat, and the
// only duplicates allowed are calls the killed replica held claimed and
// calls a live replica gave up waiting for after the portal had done them
// (a send is cut off before its lease ends; a loaded machine gets there):
// at most that many, and at least the killed replica's unanswered ones (the
// other replicas send them again once the dead replica's leases end).
func TestReplicas(t *testing.T) {
	dsn := replicaDSN(t)
	schema := replicaSchema(t, dsn)
	const (
		nReplicas   = 3
		nChats      = 60
		lease       = 6 * time.Second // the killed replica's calls go out again after it
		answerDelay = 20 * time.Millisecond
	)
	portal, front := newPortalFront(t, answerDelay)
	dir := defaultScenarios(t)
	reps := make([]*replicaNode, nReplicas)
	for i := range reps {
		reps[i] = startReplica(t, fmt.Sprintf("replica%d", i+1), dsn, schema, dir, portal, func(_ *Config, o *outbox.Config) { o.Lease = lease })
	}
	heldBy := leaseCounter(t, dsn, schema)
	sameVersion(t, reps) // every replica serves the same scenarios

	// install once, through the first replica; any replica registers the bot
	bot, handlerPath := installVia(t, reps[0], portal)

	names := []string{"Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ilya", "Kira", "Lev"}
	chats := make([]*replicaChat, nChats)
	for i := range chats {
		name := names[i%len(names)]
		c := portal.Chat(1, 7001+i, bitrix24.User{FirstName: name, LastName: "Replica"})
		chats[i] = &replicaChat{chat: c, name: name, key: fmt.Sprintf("%s%s:chat%d", engine.KeyPortal, portal.Config().MemberID, c.ChatID)}
	}
	load := &replicaLoad{t: t, reps: reps, paths: handlerPath,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	total := int64(nChats * 5)
	running := load.play(chats)

	// Mid-load, kill a replica while it has calls in flight: from a third
	// of the events on, its portal calls get no answer; at the first such
	// call, it dies.
	// The victim is whichever replica but the first (the install's) makes
	// the next outbox call.
	for load.acked.Load() < total/3 && running() {
		time.Sleep(time.Millisecond)
	}
	candidates := make([]string, 0, nReplicas-1)
	for _, r := range reps[1:] {
		candidates = append(candidates, r.name)
	}
	front.freezeFirstOf(candidates...)
	for front.lost.Load() == 0 {
		if !running() {
			t.Fatalf("none of %v made a portal call under load (%d of %d events acknowledged)", candidates, load.acked.Load(), total)
		}
		time.Sleep(time.Millisecond)
	}
	var victim *replicaNode
	for _, r := range reps {
		if r.name == front.frozenName() {
			victim = r
		}
	}
	owner := victim.srv.Outbox.Owner()
	victim.kill()
	killedAt := load.acked.Load()
	held, lost := heldBy(owner), int(front.lost.Load())
	load.wait()
	if t.Failed() {
		return
	}
	load.noUnexpected()
	if held < lost {
		t.Fatalf("the killed %s holds %d claimed calls, fewer than the %d it had in flight", victim.name, held, lost)
	}

	// what a single server does: apply each chat's acknowledged events in order
	set, probs := scenarios.LoadPaths(dir)
	if probs.HasErrors() {
		t.Fatal(probs.Errors().Error())
	}
	live := reps[0]
	wants := make([][]string, len(chats))
	records := make([]engine.Dialog, len(chats))
	for i, c := range chats {
		records[i], wants[i] = replayChat(t, live, set, c)
		if flow := supportFlow(t, c.chat, bot, c.name); !reflect.DeepEqual(wants[i], flow) {
			checkCalls(t, wants[i], flow) // the replay is the support flow
		}
	}
	waitAllDelivered(t, portal, chats, wants)
	dups, expected := checkReplicated(t, live, portal, chats, wants, records)
	abandoned := int(front.abandoned.Load())
	t.Logf("REPLICAS replicas=%d chats=%d events_acked=%d posts=%d doubled=%d cut_off=%d killed=%s after %d events, holding %d claimed calls, %d of them done on the portal but unanswered; abandoned by live senders=%d; calls expected=%d duplicates=%d",
		nReplicas, nChats, load.acked.Load(), load.posts.Load(), load.doubled.Load(), load.cutOff.Load(), victim.name, killedAt, held, lost, abandoned, expected, dups)
	switch {
	case dups > held+abandoned:
		t.Errorf("%d duplicate deliveries, but the killed replica held only %d calls and live senders abandoned %d done calls: duplicates no crash or cut-off explains", dups, held, abandoned)
	case dups < lost:
		t.Errorf("%d duplicate deliveries, but %d calls were done on the portal and unanswered when their replica died: the others must have sent them again", dups, lost)
	}
}

// sameVersion checks that every replica serves the same scenario version hash.
func sameVersion(t *testing.T, reps []*replicaNode) {
	t.Helper()
	var version string
	for _, r := range reps {
		v := r.srv.scenariosView().Version
		if version == "" {
			version = v
		}
		if v == "" || v != version {
			t.Fatalf("%s serves scenario version %q, another %q", r.name, v, version)
		}
	}
}

// replicaLoad posts the chats' events to random replicas and counts what
// happened.
type replicaLoad struct {
	t      *testing.T
	reps   []*replicaNode
	paths  map[string]string
	client *http.Client
	done   chan struct{}

	acked, posts, doubled, cutOff atomic.Int64
	unexpectedMu                  sync.Mutex
	unexpected                    []string
}

// post sends an event to one replica and reports whether it acknowledged it.
func (l *replicaLoad) post(r *replicaNode, path string, body string) bool {
	l.posts.Add(1)
	req, err := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.client.Do(req)
	if err != nil {
		l.cutOff.Add(1) // the killed replica: no answer
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		OK bool `json:"ok"`
	}
	if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &answer) == nil && answer.OK {
		return true
	}
	l.unexpectedMu.Lock()
	l.unexpected = append(l.unexpected, fmt.Sprintf("%s: %d %s", r.name, resp.StatusCode, b))
	l.unexpectedMu.Unlock()
	return false
}

// targets is one random replica, or two different ones (one post in four).
func (l *replicaLoad) targets() []*replicaNode {
	n := len(l.reps)
	targets := []*replicaNode{l.reps[randN(n)]}
	if randN(4) == 0 {
		other := l.reps[randN(n)]
		for other == targets[0] {
			other = l.reps[randN(n)]
		}
		targets = append(targets, other)
		l.doubled.Add(1)
	}
	return targets
}

// send delivers one event until a replica acknowledges it: to a random
// replica, or to two at once. A post the killed replica cut off is sent
// again, the same event (same MESSAGE_ID), as a client retypes an
// unanswered message: the replicas apply it once whether or not the
// killed one committed it.
func (l *replicaLoad) send(form url.Values) {
	path := l.paths["EVENT_MESSAGE_ADD"]
	if form.Get("event") == bitrix24.EventJoinChat {
		path = l.paths["EVENT_WELCOME_MESSAGE"]
	}
	body := form.Encode()
	for attempt := 1; ; attempt++ {
		var ok atomic.Bool
		var wg sync.WaitGroup
		for _, r := range l.targets() {
			wg.Go(func() {
				if l.post(r, path, body) {
					ok.Store(true)
				}
			})
		}
		wg.Wait()
		if ok.Load() {
			l.acked.Add(1)
			return
		}
		if attempt == 50 {
			l.t.Errorf("event %s not acknowledged after %d attempts", form.Get("event"), attempt)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// play starts the load, every chat playing the support conversation, and
// returns a function that reports whether it still runs.
func (l *replicaLoad) play(chats []*replicaChat) (running func() bool) {
	var wg sync.WaitGroup
	for _, c := range chats {
		wg.Go(func() {
			for i, next := range supportEvents(c.chat, c.name) {
				form := next()
				ev := engine.Event{Line: c.chat.Line, LeadID: c.chat.LeadID, Client: c.name, Type: engine.Start}
				if i > 0 {
					ev.Type, ev.Text, ev.ID = engine.Message, form.Get("data[PARAMS][MESSAGE]"), "m"+form.Get("data[PARAMS][MESSAGE_ID]")
				}
				l.send(form)
				c.acked = append(c.acked, ev)
				time.Sleep(time.Duration(randN(20)) * time.Millisecond)
			}
		})
	}
	l.done = make(chan struct{})
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return func() bool {
		select {
		case <-l.done:
			return false
		default:
			return true
		}
	}
}

func (l *replicaLoad) wait() { <-l.done }

// noUnexpected fails on answers that are neither 200 nor a cut-off connection.
func (l *replicaLoad) noUnexpected() {
	l.unexpectedMu.Lock()
	defer l.unexpectedMu.Unlock()
	if len(l.unexpected) > 0 {
		l.t.Fatalf("answers that are neither 200 nor a cut-off connection:\n%s", strings.Join(l.unexpected, "\n"))
	}
}

// tally is how the calls delivered to a chat match the calls wanted.
type tally struct{ matched, dups, stray int }

// matchCalls: each wanted call in order; a repeat of the call just
// delivered is a duplicate; anything else is stray.
func matchCalls(want, got []string) (m tally) {
	for _, g := range got {
		switch {
		case m.matched < len(want) && g == want[m.matched]:
			m.matched++
		case m.matched > 0 && g == want[m.matched-1]:
			m.dups++
		default:
			m.stray++
		}
	}
	return m
}

// waitAllDelivered waits until every call of an acknowledged event reached
// the portal.
func waitAllDelivered(t *testing.T, portal *fakeportal.Portal, chats []*replicaChat, wants [][]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		for i, c := range chats {
			m := matchCalls(wants[i], delivered(portal, about(c.chat)))
			missing += len(wants[i]) - m.matched
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls of acknowledged events never reached the portal", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkReplicated checks every chat's calls (in order, duplicates counted)
// and stored record against the single-server replay, and the outbox
// empty; it returns the duplicates and the calls expected.
func checkReplicated(t *testing.T, live *replicaNode, portal *fakeportal.Portal, chats []*replicaChat, wants [][]string, records []engine.Dialog) (dups, expected int) {
	t.Helper()
	for i, c := range chats {
		got := delivered(portal, about(c.chat))
		m := matchCalls(wants[i], got)
		expected += len(wants[i])
		dups += m.dups
		if m.stray > 0 {
			t.Errorf("chat %d: delivered calls out of order or unexpected:\n%s\nwant:\n%s", c.chat.ChatID, strings.Join(got, "\n"), strings.Join(wants[i], "\n"))
		}
		d, err := live.store.Dialog(context.Background(), c.key)
		if err != nil {
			t.Fatalf("chat %d: %v", c.chat.ChatID, err)
		}
		w := records[i]
		if d.Scenario != w.Scenario || d.Version != w.Version || d.State != w.State || d.Status != w.Status ||
			!reflect.DeepEqual(d.Fields, w.Fields) || d.Retries != w.Retries {
			t.Errorf("chat %d: stored %s/%s state %q status %q fields %v retries %d; a single server applying its %d acknowledged events reaches %s/%s state %q status %q fields %v retries %d",
				c.chat.ChatID, d.Scenario, d.Version, d.State, d.Status, d.Fields, d.Retries, len(c.acked),
				w.Scenario, w.Version, w.State, w.Status, w.Fields, w.Retries)
		}
	}
	if pending, parked, err := live.store.Depth(context.Background()); err != nil || pending != 0 || parked != 0 {
		t.Errorf("outbox after delivery: %d pending, %d parked, %v; want none", pending, parked, err)
	}
	return dups, expected
}

// replayChat applies a chat's acknowledged events to a fresh dialog as one
// server does (engine.Step with the line's scenario, or the running one) and
// returns the final record and the portal calls of the steps, rendered as
// the portal's calls are (see call).
func replayChat(tb testing.TB, r *replicaNode, set *scenarios.Set, c *replicaChat) (engine.Dialog, []string) {
	tb.Helper()
	d := engine.Dialog{Key: c.key}
	ch := engine.Channel{Dialog: fmt.Sprintf("chat%d", c.chat.ChatID), Chat: c.chat.ChatID, Bot: c.chat.BotID}
	var calls []string
	for i, ev := range c.acked {
		if d.Seen(ev.ID) {
			continue
		}
		sc := set.Lookup(ev.Line)
		if d.Status == engine.Active && d.Scenario != "" {
			sc = set.ByName[d.Scenario]
		}
		ev.Time = time.Unix(1_700_000_000+int64(i), 0)
		res, err := engine.Step(sc, d, ev)
		if err != nil {
			tb.Fatalf("chat %d: replay of event %d (%+v): %v", c.chat.ChatID, i, ev, err)
		}
		if res.Outcome == engine.Ignored {
			continue
		}
		d = res.Dialog
		d.Remember(ev.ID)
		d.Channel = ch
		out, err := outbox.Calls(d, res.Actions, ev.Time)
		if err != nil {
			tb.Fatal(err)
		}
		for _, oc := range out {
			calls = append(calls, want(tb, oc.Method, string(oc.Params)))
		}
	}
	return d, calls
}

// TestReplicaReleasesOnClose: a replica shut down while a call of its
// claim is unanswered releases the call on Close, so another replica sends
// it — and the dialog's later calls — at once, long before the lease (a
// minute here) would have ended.
func TestReplicaReleasesOnClose(t *testing.T) {
	dsn := replicaDSN(t)
	schema := replicaSchema(t, dsn)
	portal, front := newPortalFront(t, 0)
	dir := defaultScenarios(t)
	heldBy := leaseCounter(t, dsn, schema)
	a := startReplica(t, "replica-a", dsn, schema, dir, portal, func(c *Config, o *outbox.Config) {
		o.Lease, c.ShutdownGrace = time.Minute, 300*time.Millisecond
	})
	bot, paths := installVia(t, a, portal)

	// a alone delivers; its calls are done on the portal and never answered
	front.freeze(a.name)
	chat := portal.Chat(1, 7500, bitrix24.User{FirstName: "Anna", LastName: "Release"})
	resp, err := portal.Post(context.Background(), a.base+paths["EVENT_WELCOME_MESSAGE"], chat.Join())
	if err != nil {
		t.Fatal(err)
	}
	if status, body := decodeResp(t, resp); status != http.StatusOK {
		t.Fatalf("join: %d %v", status, body)
	}
	waitFor(t, "a's first call to reach the portal", func() (bool, string) {
		return front.lost.Load() > 0, fmt.Sprint(heldBy(a.srv.Outbox.Owner()), " claimed")
	})
	b := startReplica(t, "replica-b", dsn, schema, dir, portal, func(_ *Config, o *outbox.Config) { o.Lease = time.Minute })

	if err := a.srv.Close(); err != nil {
		t.Fatalf("close a: %v", err)
	}
	a.dead.Store(true) // closed already
	if n := heldBy(a.srv.Outbox.Owner()); n != 0 {
		t.Fatalf("after Close a still holds %d claimed calls, want 0 (released)", n)
	}
	// b sends the join's calls now: the greeting, which a sent (once, or
	// twice with its final flush) without learning the outcome, again — at
	// least once — and then the menu
	flow := supportFlow(t, chat, bot, "Anna")
	var want []string
	for range front.lost.Load() + 1 {
		want = append(want, flow[0])
	}
	want = append(want, flow[1])
	checkCalls(t, waitDelivered(t, portal, len(want), about(chat)), want)
	waitFor(t, "b to finish its calls", func() (bool, string) {
		n := heldBy(b.srv.Outbox.Owner())
		return n == 0, fmt.Sprint(n, " claimed")
	})
}
