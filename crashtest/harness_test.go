package crashtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/server"
)

// Bounds of the waits for outcomes; the tests never assert on timing.
const (
	readyTimeout = 60 * time.Second  // a started olbot answers /readyz
	drainTimeout = 120 * time.Second // every acknowledged call reaches the portal
	eventTimeout = 120 * time.Second // one event is acknowledged, re-sent as often as needed
	faultTimeout = 30 * time.Second  // a fault shows (503, readiness) or goes away
)

// sizes are a run's dimensions, from the environment.
type sizes struct{ kills, chats, rate int }

func runSizes(tb testing.TB) sizes {
	tb.Helper()
	return sizes{
		kills: envInt(tb, "OLBOT_CRASH_KILLS", 5),
		chats: envInt(tb, "OLBOT_CRASH_CHATS", 16),
		rate:  envInt(tb, "OLBOT_CRASH_RATE", 100),
	}
}

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a whole number of 1 or more", name, v)
	}
	return n
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// proc is one `olbot serve` child process, restarted on the same address.
type proc struct {
	tb     testing.TB
	name   string
	args   []string
	addr   string
	logDir string
	probe  *http.Client

	runs int
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run exited
	logs []string      // log file of each run
}

func newProc(tb testing.TB, name, logDir string, args []string) *proc {
	p := &proc{tb: tb, name: name, args: args, addr: freeAddr(tb), logDir: logDir, probe: &http.Client{Timeout: 2 * time.Second}}
	tb.Cleanup(p.stop)
	return p
}

func (p *proc) base() string { return "http://" + p.addr }

// start runs olbot and waits until it is ready.
func (p *proc) start() {
	p.tb.Helper()
	p.runs++
	logPath := filepath.Join(p.logDir, fmt.Sprintf("%s-run%03d.log", p.name, p.runs))
	f, err := os.Create(logPath)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.logs = append(p.logs, logPath)
	args := append([]string{"serve", "--listen", p.addr}, p.args...)
	cmd := exec.Command(olbotBinary(p.tb), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	if err := cmd.Start(); err != nil {
		f.Close()
		p.tb.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	waitFor(p.tb, readyTimeout, p.name+" to be ready", func() (bool, string) {
		select {
		case <-done:
			p.tb.Fatalf("%s exited during start: %s\n%s", p.name, cmd.ProcessState, tail(logPath, 40))
		default:
		}
		status, body := p.get("/readyz")
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
	})
}

// childEnv is the test's environment without OLBOT_* settings.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLBOT_") {
			env = append(env, kv)
		}
	}
	return env
}

// running reports whether the current run has not exited.
func (p *proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL and waits for it to be gone.
func (p *proc) kill() {
	p.tb.Helper()
	if !p.running() {
		p.tb.Fatalf("%s is not running (run %d exited: %v)", p.name, p.runs, p.cmd.ProcessState)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.tb.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// stop ends the process with SIGTERM (SIGKILL after a grace period).
func (p *proc) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// get fetches a route; status 0 when the server did not answer.
func (p *proc) get(path string) (int, string) {
	resp, err := p.probe.Get(p.base() + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// problems returns the interesting lines of every run's log and the tail of
// the last one, for a failed test.
func (p *proc) problems() string {
	var b strings.Builder
	for _, path := range p.logs {
		n := 0
		forLines(path, func(line string) {
			if n < 15 && (strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") || strings.Contains(line, "fatal")) {
				fmt.Fprintf(&b, "%s: %s\n", filepath.Base(path), line)
				n++
			}
		})
	}
	if len(p.logs) > 0 {
		last := p.logs[len(p.logs)-1]
		fmt.Fprintf(&b, "--- tail of %s:\n%s", filepath.Base(last), tail(last, 40))
	}
	return b.String()
}

func forLines(path string, fn func(string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
}

func tail(path string, n int) string {
	var lines []string
	forLines(path, func(l string) {
		lines = append(lines, l)
		if len(lines) > n {
			lines = lines[1:]
		}
	})
	return strings.Join(lines, "\n")
}

// window is a time span in which duplicate deliveries may arise: from a
// kill (or the start of a fault) until the replacement was ready (or the
// fault was gone).
type window struct {
	from, to time.Time
	what     string
}

// cluster is a fake portal, a scenario folder and one or more olbot
// processes on one store, driven by many chats.
type cluster struct {
	t       *testing.T
	store   string // "bolt" or "postgres", for the report
	portal  *fakeportal.Portal
	dir     string // scenario folder
	logDir  string
	procs   []*proc
	client  *http.Client
	started time.Time

	mu      sync.Mutex
	windows []window
	kills   int
}

// newCluster starts a fake portal and prepares nprocs olbot processes with
// the store flags storeArgs; start starts them.
func newCluster(t *testing.T, store string, nprocs int, storeArgs []string) *cluster {
	t.Helper()
	portal, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	t.Cleanup(srv.Close)
	c := &cluster{t: t, store: store, portal: portal, dir: scenarioDir(t), logDir: t.TempDir(), started: time.Now(),
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	cfg := portal.Config()
	args := append([]string{
		"--scenarios", c.dir,
		"--oauth-url", portal.TokenURL(),
		"--app-client-id", cfg.ClientID,
		"--app-client-secret", cfg.ClientSecret,
		"--bot-api", "v1", // the v1 wire: the portal posts ONIMBOT* events
		"--rate", "1000000,1000000",
	}, storeArgs...)
	for i := range nprocs {
		c.procs = append(c.procs, newProc(t, fmt.Sprintf("olbot%d", i+1), c.logDir, args))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("%s log (%d runs):\n%s", p.name, p.runs, p.problems())
			}
		}
	})
	return c
}

// scenarioDir copies the example scenarios (not their tests).
func scenarioDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no example scenarios: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, scenarios.TestSuffix) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// start starts every process in turn and installs the application through
// the first; it returns when the bot is registered on the portal.
func (c *cluster) start() {
	c.t.Helper()
	for _, p := range c.procs {
		p.start()
	}
	resp, err := c.portal.Post(context.Background(), c.procs[0].base()+"/bitrix24/events", c.portal.InstallEvent())
	if err != nil {
		c.t.Fatalf("ONAPPINSTALL: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("ONAPPINSTALL: %d %s", resp.StatusCode, b)
	}
	waitFor(c.t, drainTimeout, "the bot registration on the portal", func() (bool, string) {
		return len(c.portal.Bots()) > 0, fmt.Sprint(c.portal.CallsOf(bitrix24.MethodRegister))
	})
}

// kill SIGKILLs p, waits pause and starts it again on the same store; the
// span until it is ready may see duplicate deliveries.
func (c *cluster) kill(p *proc, pause time.Duration) {
	c.t.Helper()
	from := time.Now()
	p.kill()
	time.Sleep(pause)
	p.start()
	c.mu.Lock()
	c.kills++
	c.windows = append(c.windows, window{from: from, to: time.Now(), what: "kill of " + p.name})
	c.mu.Unlock()
}

// fault records a fault's span (see window).
func (c *cluster) fault(from, to time.Time, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.windows = append(c.windows, window{from: from, to: to, what: what})
}

// randomUptime is how long a process runs before the next kill: mostly
// 0.3–2 s, sometimes within 0.2 s of being ready (while it still flushes
// what the previous run left).
func randomUptime() time.Duration {
	if rand.IntN(5) == 0 {
		return time.Duration(rand.Int64N(int64(200 * time.Millisecond)))
	}
	return 300*time.Millisecond + time.Duration(rand.Int64N(int64(1700*time.Millisecond)))
}

// ----- the driver -----

var clientNames = []string{"Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ilya", "Kira", "Lev", "Maria", "Nikita", "Olga", "Pavel", "Raisa", "Semen"}

// chatRun is one client's chat and the events the server acknowledged.
type chatRun struct {
	chat  *fakeportal.Chat
	name  string
	key   string
	acked []engine.Event // acknowledged events, each once, in order
}

// stats count the driver's posts.
type stats struct {
	posts, acked       atomic.Int64
	netErrors, refused atomic.Int64 // no answer (connection refused or cut); 503
	appliedUnacked     atomic.Int64 // re-sent events the server had applied before it could answer
	unexpectedMu       sync.Mutex
	unexpected         []string // answers that are neither 200 nor a 503 with a JSON error
}

func (s *stats) unexpectedf(format string, args ...any) {
	s.unexpectedMu.Lock()
	defer s.unexpectedMu.Unlock()
	if len(s.unexpected) < 20 {
		s.unexpected = append(s.unexpected, fmt.Sprintf(format, args...))
	}
}

// driver posts the chats' events at a steady overall rate.
type driver struct {
	c     *cluster
	ctx   context.Context
	runs  []*chatRun // appended by the test's goroutine only (addChats)
	stats stats
	tick  *time.Ticker
	wg    sync.WaitGroup
}

// drive opens n chats on line 1 (the support scenario) and runs them until
// ctx ends; stop waits until every chat's event in progress is acknowledged.
func (c *cluster) drive(ctx context.Context, n, rate int) *driver {
	d := &driver{c: c, ctx: ctx, tick: time.NewTicker(time.Second / time.Duration(rate))}
	d.addChats(n)
	return d
}

// addChats opens n more chats and starts them.
func (d *driver) addChats(n int) {
	for range n {
		i := len(d.runs)
		name := clientNames[i%len(clientNames)]
		chat := d.c.portal.Chat(1, 9001+i, bitrix24.User{FirstName: name, LastName: "Crash"})
		r := &chatRun{chat: chat, name: name, key: fmt.Sprintf("%s%s:chat%d", engine.KeyPortal, d.c.portal.Config().MemberID, chat.ChatID)}
		d.runs = append(d.runs, r)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.chat(d.ctx, r)
		}()
	}
}

func (d *driver) stop() {
	d.wg.Wait()
	d.tick.Stop()
}

// chat plays the support scenario's happy path with one bad email, again
// and again: join, "Leave a request", the name, a bad email, the email.
func (d *driver) chat(ctx context.Context, r *chatRun) {
	for step := 0; ctx.Err() == nil; step++ {
		var form url.Values
		ev := engine.Event{Line: r.chat.Line, LeadID: r.chat.LeadID, Client: r.name}
		say := func(text string) {
			form = r.chat.Say(text)
			ev.Type, ev.Text, ev.ID = engine.Message, text, "m"+form.Get("data[PARAMS][MESSAGE_ID]")
		}
		switch step % 5 {
		case 0:
			form, ev.Type = r.chat.Join(), engine.Start
		case 1:
			say("Leave a request")
		case 2:
			say(strings.ToLower(r.name))
		case 3:
			say("not an email")
		case 4:
			say(strings.ToLower(r.name) + "@example.com")
		}
		if !d.send(r, form) {
			return
		}
		r.acked = append(r.acked, ev)
	}
}

// send posts one event until the server acknowledges it (a client typing
// its unanswered message again), each attempt to a random process.
func (d *driver) send(r *chatRun, form url.Values) bool {
	deadline := time.Now().Add(eventTimeout)
	body := form.Encode()
	for attempt := 1; ; attempt++ {
		<-d.tick.C
		if time.Now().After(deadline) {
			d.stats.unexpectedf("chat %d: event %s not acknowledged after %s of attempts", r.chat.ChatID, form.Get("event"), eventTimeout)
			return false
		}
		p := d.c.procs[rand.IntN(len(d.c.procs))]
		d.stats.posts.Add(1)
		req, err := http.NewRequest(http.MethodPost, p.base()+"/bitrix24/events", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := d.c.client.Do(req)
		if err != nil {
			d.stats.netErrors.Add(1)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer struct {
			OK      bool   `json:"ok"`
			Outcome string `json:"outcome"`
			Code    string `json:"code"`
			Error   string `json:"error"`
		}
		jsonErr := json.Unmarshal(b, &answer)
		switch {
		case resp.StatusCode == http.StatusOK && jsonErr == nil && answer.OK:
			d.stats.acked.Add(1)
			if attempt > 1 && (answer.Outcome == "duplicate" || answer.Outcome == string(engine.Ignored)) {
				d.stats.appliedUnacked.Add(1)
			}
			return true
		case resp.StatusCode == http.StatusServiceUnavailable:
			d.stats.refused.Add(1)
			if jsonErr != nil || answer.Code != "unavailable" || answer.Error == "" {
				d.stats.unexpectedf("503 without the JSON error: %s", b)
			}
		default:
			d.stats.unexpectedf("chat %d: %s: %d %s", r.chat.ChatID, form.Get("event"), resp.StatusCode, b)
			return false
		}
	}
}

// ----- verification -----

// report is a run's figures.
type report struct {
	Test, Store                    string
	Replicas, Kills, Faults, Chats int
	Events, Posts                  int64 // acknowledged events; posts including re-sends
	NetErrors, Refused503          int64
	AppliedUnacked                 int64
	Calls, Delivered, Duplicates   int
	Lost                           int
	Seconds                        float64
}

func (r report) line() string {
	return fmt.Sprintf("CRASHTEST test=%s store=%s replicas=%d kills=%d faults=%d chats=%d events_acked=%d posts=%d no_answer=%d refused_503=%d applied_unacked=%d calls_expected=%d delivered=%d duplicates=%d lost=%d seconds=%.0f",
		r.Test, r.Store, r.Replicas, r.Kills, r.Faults, r.Chats, r.Events, r.Posts, r.NetErrors, r.Refused503, r.AppliedUnacked, r.Calls, r.Delivered, r.Duplicates, r.Lost, r.Seconds)
}

// portalCall is a call the portal answered with success, rendered by canon.
type portalCall struct {
	text string
	at   time.Time
}

// calls returns the portal's successful calls about the chat, in order.
func (c *cluster) calls(chat *fakeportal.Chat) []portalCall {
	dialog := "chat" + strconv.Itoa(chat.ChatID)
	var out []portalCall
	for _, pc := range c.portal.Calls() {
		if !pc.OK() {
			continue
		}
		about := pc.Int("CHAT_ID") == chat.ChatID || pc.Str("DIALOG_ID") == dialog
		if strings.HasPrefix(pc.Method, "crm.lead.") {
			about = chat.LeadID != 0 && pc.Int("id") == chat.LeadID
		}
		if about {
			out = append(out, portalCall{text: canon(pc.Method, pc.Params), at: pc.Time})
		}
	}
	return out
}

// matching is how a chat's delivered calls line up with the expected ones.
type matching struct {
	matched     int      // expected calls delivered, in order
	dups        []string // descriptions of duplicate deliveries
	stray       []string // deliveries that are neither expected next nor a repeat of the last one
	unexplained []string // duplicates that straddle no kill or fault
}

// match walks the delivered calls: each is the next expected one, or a
// repeat of the call just matched (at-least-once delivery), which must
// straddle a kill or a fault.
func (c *cluster) match(want []string, got []portalCall) matching {
	c.mu.Lock()
	windows := append([]window(nil), c.windows...)
	c.mu.Unlock()
	var m matching
	var last portalCall
	for _, g := range got {
		switch {
		case m.matched < len(want) && g.text == want[m.matched]:
			m.matched++
			last = g
		case m.matched > 0 && g.text == want[m.matched-1]:
			d := fmt.Sprintf("%s (first %s, again %s)", g.text, last.at.Format("15:04:05.000"), g.at.Format("15:04:05.000"))
			m.dups = append(m.dups, d)
			explained := false
			for _, w := range windows {
				if last.at.Before(w.to) && g.at.After(w.from) {
					explained = true
					break
				}
			}
			if !explained {
				m.unexplained = append(m.unexplained, d)
			}
		default:
			m.stray = append(m.stray, g.text)
		}
	}
	return m
}

// verify waits for the outbox to drain, then checks every chat against an
// uninterrupted replay of its acknowledged events and reports the figures.
func (c *cluster) verify(d *driver) report {
	t := c.t
	t.Helper()
	if len(d.stats.unexpected) > 0 {
		t.Fatalf("unexpected answers:\n%s", strings.Join(d.stats.unexpected, "\n"))
	}
	set, probs := scenarios.LoadPaths(c.dir)
	if probs.HasErrors() {
		t.Fatal(probs.Errors().Error())
	}
	wants := make([][]string, len(d.runs))
	records := make([]engine.Dialog, len(d.runs))
	for i, r := range d.runs {
		records[i], wants[i] = replay(t, set, r)
	}
	// every call of an acknowledged event reaches the portal
	waitFor(t, drainTimeout, "every acknowledged call to reach the portal", func() (bool, string) {
		missing := 0
		for i, r := range d.runs {
			m := c.match(wants[i], c.calls(r.chat))
			missing += len(wants[i]) - m.matched
		}
		return missing == 0, fmt.Sprintf("%d calls not delivered yet", missing)
	})
	rep := report{Test: t.Name(), Store: c.store, Replicas: len(c.procs), Chats: len(d.runs),
		Events: d.stats.acked.Load(), Posts: d.stats.posts.Load(), NetErrors: d.stats.netErrors.Load(),
		Refused503: d.stats.refused.Load(), AppliedUnacked: d.stats.appliedUnacked.Load()}
	c.mu.Lock()
	rep.Kills = c.kills
	rep.Faults = len(c.windows) - c.kills
	c.mu.Unlock()
	for i, r := range d.runs {
		m := c.match(wants[i], c.calls(r.chat))
		rep.Calls += len(wants[i])
		rep.Delivered += m.matched
		rep.Duplicates += len(m.dups)
		rep.Lost += len(wants[i]) - m.matched
		if len(m.stray) > 0 {
			t.Errorf("chat %d: %d deliveries out of order or not expected, first: %s", r.chat.ChatID, len(m.stray), m.stray[0])
		}
		if len(m.unexplained) > 0 {
			t.Errorf("chat %d: duplicate deliveries with no kill or fault between them: %s", r.chat.ChatID, strings.Join(m.unexplained, "; "))
		}
		c.checkRecord(r, records[i])
	}
	rep.Seconds = time.Since(c.started).Seconds()
	line := rep.line()
	t.Log(line)
	fmt.Println(line)
	if path := os.Getenv("OLBOT_CRASH_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, time.Now().UTC().Format(time.RFC3339), line)
			f.Close()
		}
	}
	if rep.Lost != 0 {
		t.Errorf("%d calls of acknowledged events were lost", rep.Lost)
	}
	return rep
}

// checkRecord compares the stored record (GET /v1/dialogs) with the replay
// and requires no pending or parked call left.
func (c *cluster) checkRecord(r *chatRun, want engine.Dialog) {
	t := c.t
	t.Helper()
	var got server.DialogView
	waitFor(t, drainTimeout, fmt.Sprintf("chat %d's outbox to empty", r.chat.ChatID), func() (bool, string) {
		p := c.procs[rand.IntN(len(c.procs))]
		status, body := p.get("/v1/dialogs/" + r.key)
		if status != http.StatusOK {
			return false, fmt.Sprintf("GET /v1/dialogs/%s: %d %s", r.key, status, body)
		}
		got = server.DialogView{}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			return false, err.Error()
		}
		return len(got.Calls) == 0, fmt.Sprintf("%d calls left: %+v", len(got.Calls), got.Calls)
	})
	gotF, wantF := fmt.Sprint(got.Fields), fmt.Sprint(want.Fields)
	if got.Scenario != want.Scenario || got.Version != want.Version || got.State != want.State || got.Status != string(want.Status) ||
		gotF != wantF || got.Retries != want.Retries || got.Line != want.Line {
		t.Errorf("chat %d: stored record %s/%s state %q status %q fields %s retries %d line %d; the replay of its %d acknowledged events gives %s/%s state %q status %q fields %s retries %d line %d",
			r.chat.ChatID, got.Scenario, got.Version, got.State, got.Status, gotF, got.Retries, got.Line, len(r.acked),
			want.Scenario, want.Version, want.State, want.Status, wantF, want.Retries, want.Line)
	}
}

// replay applies the acknowledged events to a fresh dialog as the server
// does (engine.Step with the line's scenario, or the running one), and
// returns the final record and the portal calls the steps produce.
func replay(tb testing.TB, set *scenarios.Set, r *chatRun) (engine.Dialog, []string) {
	tb.Helper()
	d := engine.Dialog{Key: r.key}
	var calls []string
	for i, ev := range r.acked {
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
			tb.Fatalf("chat %d: replay of event %d (%+v): %v", r.chat.ChatID, i, ev, err)
		}
		if res.Outcome == engine.Ignored {
			continue
		}
		nd := res.Dialog
		nd.Remember(ev.ID)
		d = nd
		for _, a := range res.Actions {
			calls = append(calls, expectedCall(tb, r.chat, a))
		}
	}
	return d, calls
}

// expectedCall renders the portal call for an action exactly as the server
// builds it (server/portal.go calls) and canon renders delivered ones.
func expectedCall(tb testing.TB, chat *fakeportal.Chat, a engine.Action) string {
	tb.Helper()
	var r bitrix24.Request
	switch a := a.(type) {
	case engine.Greet:
		if a.Welcome {
			r = bitrix24.SessionMessageSendRequest(chat.ChatID, bitrix24.GreetWelcome, "")
		} else {
			r = bitrix24.SessionMessageSendRequest(chat.ChatID, bitrix24.GreetDefault, a.Text)
		}
	case engine.Say:
		r = bitrix24.MessageAddRequest("chat"+strconv.Itoa(chat.ChatID), chat.BotID, a.Text, a.Buttons, a.Numbered)
	case engine.CRM:
		if a.LeadID != 0 {
			r = bitrix24.LeadUpdateRequest(a.LeadID, a.Fields)
		} else {
			r = bitrix24.LeadAddRequest(a.Fields)
		}
	case engine.Operator:
		r = bitrix24.SessionOperatorRequest(chat.ChatID)
	case engine.Transfer:
		r = bitrix24.SessionTransferRequest(chat.ChatID, a.User, a.Line, a.Leave)
	case engine.Finish:
		r = bitrix24.SessionFinishRequest(chat.ChatID)
	default:
		tb.Fatalf("no portal call for action %T", a)
	}
	b, err := json.Marshal(r.Params)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		tb.Fatal(err)
	}
	return canon(r.Method, params)
}

// canon renders a call as "method {params}" with canonical params: sorted
// keys, scalars as strings, form groups keyed 0..n-1 as lists, JSON-valued
// strings decoded, auth and CLIENT_ID left out — so that a call sent as
// JSON and one sent inside a batch (form-encoded) read the same.
func canon(method string, params map[string]any) string {
	return strings.ToLower(method) + " " + fakeportal.CanonicalParams(params)
}

// readyState polls /readyz of p until it answers want (200 or 503).
func readyState(tb testing.TB, p *proc, want int, what string) string {
	tb.Helper()
	var body string
	waitFor(tb, faultTimeout, what, func() (bool, string) {
		var status int
		status, body = p.get("/readyz")
		return status == want, fmt.Sprintf("%d %s", status, body)
	})
	return body
}
