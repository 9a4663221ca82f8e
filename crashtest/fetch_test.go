package crashtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// The fetch route (imbot.v2, `olbot serve --webhook`): the fake portal
// runs in the test process and queues each chat's events until a poll's
// offset confirms them; olbot processes poll it. A client writes its next
// message once the bot answered the last one, so every chat's transcript
// is known in advance. After the kills, every chat must have its whole
// transcript (nothing lost), no reply beyond it (nothing applied twice: a
// replayed message would be answered in the wrong state), every event
// confirmed, and each repeated reply must straddle a kill (a call in
// flight: done by the portal, not yet recorded by the killed process).

// fetchTranscript is a chat's expected replies (the support scenario,
// as in cmd/olbot's TestServeFetchMode) after each client step.
var fetchTranscript = []struct {
	say     string // "" joins the chat
	replies []string
}{
	{"", []string{"greeting: Hello, %s! I am the support assistant.", "bot: [SEND=1]1. Leave a request[/SEND][BR][SEND=2]2. Talk to a person[/SEND]"}},
	{"Leave a request", []string{"bot: How may I call you?"}},
	{"%s", []string{"bot: %s, what is your email?"}},
	{"%s@example", []string{"bot: That does not look like an email. Example: anna@example.com"}},
	{"%s@example.com", []string{"bot: Thank you, %s! We will write to %s@example.com."}},
}

// fetchCluster is a fake portal's imbot.v2 route and olbot processes
// polling it as one bot.
type fetchCluster struct {
	t      *testing.T
	portal *fakeportal.Portal
	procs  []*proc
	bot    int

	mu    sync.Mutex
	kills []window // from just before each SIGKILL until the killed process was ready again
	chats []*fetchChat
	next  int // the next chat id
}

type fetchChat struct {
	chat *fakeportal.V2Chat
	name string
	done atomic.Bool
}

// fastPolling are the flags of the crash tests: polls far more often than
// the docs allow, against a portal without a rate limit, so that many
// kills land between a poll and its commits.
var fastPolling = []string{"--poll-interval", "50ms", "--poll-idle", "100ms", "--poll-lease", "3s", "--rate", "1000,1000"}

func newFetchCluster(t *testing.T, nprocs int, storeArgs []string) *fetchCluster {
	t.Helper()
	return newFetchClusterWith(t, nprocs, fakeportal.Config{Burst: -1}, append(fastPolling[:len(fastPolling):len(fastPolling)], storeArgs...))
}

// newFetchClusterWith starts a fake portal with cfg and nprocs olbot
// processes polling it with flags.
func newFetchClusterWith(t *testing.T, nprocs int, cfg fakeportal.Config, flags []string) *fetchCluster {
	t.Helper()
	portal, srv := fakeportal.NewServer(cfg)
	t.Cleanup(srv.Close)
	c := &fetchCluster{t: t, portal: portal, next: 1000}
	args := append([]string{"--webhook", portal.WebhookURL(), "--scenarios", scenarioDir(t)}, flags...)
	logDir := t.TempDir()
	for i := range nprocs {
		c.procs = append(c.procs, newProc(t, fmt.Sprintf("olbot%d", i+1), logDir, args))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("%s log (%d runs):\n%s", p.name, p.runs, p.problems())
			}
		}
	})
	for _, p := range c.procs {
		p.start()
	}
	bots := portal.V2Bots()
	if len(bots) != 1 {
		t.Fatalf("%d imbot.v2 bots registered, want 1 for every replica", len(bots))
	}
	c.bot = bots[0].ID
	return c
}

// kill SIGKILLs p and starts it again after pause.
func (c *fetchCluster) kill(p *proc, pause time.Duration) {
	c.t.Helper()
	from := time.Now()
	p.kill()
	time.Sleep(pause)
	p.start()
	c.addKill(from, p)
}

// addKill records a kill's window (see window): the portal may still be
// answering a killed process's last request after it died.
func (c *fetchCluster) addKill(from time.Time, p *proc) {
	c.mu.Lock()
	c.kills = append(c.kills, window{from: from, to: time.Now(), what: "kill of " + p.name})
	c.mu.Unlock()
}

// drive runs n clients until ctx ends, each one chat after another; the
// returned wait blocks until every chat begun has its last reply.
func (c *fetchCluster) drive(ctx context.Context, n int) (wait func()) {
	return c.driveWith(ctx, n, client{})
}

// client is how a driven client behaves besides the transcript.
type client struct {
	think func() time.Duration // before each message after the first; nil: none
	// record gets each step's latency to its first reply, with the
	// number of the client's chat (0: its first); nil: not kept.
	record func(chat, step int, d time.Duration)
	once   bool // one chat per client, then stop
}

func (c *fetchCluster) driveWith(ctx context.Context, n int, cl client) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				if !c.converse(clientNames[i%len(clientNames)], n, cl) || cl.once {
					return
				}
			}
		}()
	}
	return wg.Wait
}

// converse runs one chat (the client's nth) through the transcript;
// false when a reply did not come (the test has failed then).
func (c *fetchCluster) converse(name string, n int, cl client) bool {
	c.mu.Lock()
	c.next++
	fc := &fetchChat{chat: c.portal.V2Chat(c.bot, 1, c.next, bitrix24.User{FirstName: name}), name: name}
	c.chats = append(c.chats, fc)
	c.mu.Unlock()
	want := 0
	for i, step := range fetchTranscript {
		if i > 0 && cl.think != nil {
			time.Sleep(cl.think())
		}
		sent := time.Now()
		if step.say == "" {
			fc.chat.Join()
		} else {
			fc.chat.Say(fill(step.say, name))
		}
		first := want
		want += len(step.replies)
		deadline := time.Now().Add(eventTimeout)
		for {
			ms := collapse(c.portal.Messages(fc.chat.DialogID()))
			if len(ms) >= want {
				if cl.record != nil {
					cl.record(n, i, ms[first].Time.Sub(sent))
				}
				break
			}
			if time.Now().After(deadline) {
				c.t.Errorf("chat %s: no reply %d within %s", fc.chat.DialogID(), want, eventTimeout)
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fc.done.Store(true)
	return true
}

// fill puts the client's name into a transcript line (lower case where
// it is part of an email).
func fill(s, name string) string {
	s = strings.ReplaceAll(s, "%s@", strings.ToLower(name)+"@")
	return strings.ReplaceAll(s, "%s", name)
}

// collapse drops a message that repeats the one before it.
func collapse(ms []fakeportal.Message) []fakeportal.Message {
	var out []fakeportal.Message
	for _, m := range ms {
		if n := len(out); n > 0 && out[n-1].Text == m.Text && out[n-1].Kind == m.Kind {
			continue
		}
		out = append(out, m)
	}
	return out
}

// fetchReport is a fetch-mode run's figures.
type fetchReport struct {
	Chats, Replies, Duplicates, Finishes int
}

// verify checks every chat's transcript, the confirmations and the
// duplicates, and returns the figures.
func (c *fetchCluster) verify() fetchReport {
	c.t.Helper()
	waitFor(c.t, drainTimeout, "every event confirmed", func() (bool, string) {
		n := c.portal.V2Pending(c.bot)
		return n == 0, fmt.Sprintf("%d events unconfirmed", n)
	})
	waitFor(c.t, drainTimeout, "every chat's session finished", func() (bool, string) {
		fin := c.finishes()
		for _, fc := range c.chats {
			if fin[fc.chat.ChatID] == nil {
				return false, fc.chat.DialogID() + " not finished"
			}
		}
		return true, ""
	})
	var rep fetchReport
	fin := c.finishes()
	for _, fc := range c.chats {
		rep.Chats++
		var want []string
		for _, step := range fetchTranscript {
			for _, r := range step.replies {
				want = append(want, fill(r, fc.name))
			}
		}
		ms := c.portal.Messages(fc.chat.DialogID())
		var got []string
		for _, m := range collapse(ms) {
			got = append(got, m.Kind+": "+m.Text)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			c.t.Errorf("chat %s: the bot's messages\n%s\nwant (each once, in order)\n%s", fc.chat.DialogID(), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		rep.Replies += len(ms)
		for i := 1; i < len(ms); i++ {
			if ms[i].Text == ms[i-1].Text && ms[i].Kind == ms[i-1].Kind {
				rep.Duplicates++
				c.straddles(fc.chat.DialogID()+" reply "+strconv.Quote(ms[i].Text), ms[i-1].Time, ms[i].Time)
			}
		}
		times := fin[fc.chat.ChatID]
		rep.Finishes += len(times)
		for i := 1; i < len(times); i++ {
			rep.Duplicates++
			c.straddles(fc.chat.DialogID()+" session.finish", times[i-1], times[i])
		}
	}
	return rep
}

// straddles fails the test unless the two copies of a call straddle a
// kill — the first done by the portal before the killed process's
// replacement was ready, the second after the kill began: only a call in
// flight when a process died may go out twice.
func (c *fetchCluster) straddles(what string, first, second time.Time) {
	c.t.Helper()
	for _, k := range c.kills {
		if !first.After(k.to) && !second.Before(k.from) {
			return
		}
	}
	c.t.Errorf("%s went out twice (%s, %s) with no kill in between", what, first.Format(time.StampMicro), second.Format(time.StampMicro))
}

// finishes are the successful session.finish calls' times per chat id.
func (c *fetchCluster) finishes() map[int][]time.Time {
	out := map[int][]time.Time{}
	for _, call := range c.portal.CallsOf(bitrix24.MethodSessionFinish) {
		if call.Error != "" {
			continue
		}
		id, _ := strconv.Atoi(call.Str("CHAT_ID"))
		out[id] = append(out[id], call.Time)
	}
	return out
}

func (r fetchReport) line(test, store string, replicas, kills int, seconds float64) string {
	return fmt.Sprintf("CRASHTEST test=%s store=%s mode=fetch replicas=%d kills=%d chats=%d replies=%d duplicates=%d finishes=%d seconds=%.0f",
		test, store, replicas, kills, r.Chats, r.Replies, r.Duplicates, r.Finishes, seconds)
}

func (c *fetchCluster) report(rep fetchReport, store string, start time.Time) {
	c.t.Helper()
	c.mu.Lock()
	kills := len(c.kills)
	c.mu.Unlock()
	line := rep.line(c.t.Name(), store, len(c.procs), kills, time.Since(start).Seconds())
	c.t.Log(line)
	fmt.Println(line)
	if path := os.Getenv("OLBOT_CRASH_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// TestCrashFetchBolt kills `olbot serve --webhook` (fetch mode, the
// embedded store) with SIGKILL at random moments while clients chat —
// between a poll and the commit of its steps among them — and restarts it
// on the same file: nothing is lost, nothing is applied twice, and a reply
// goes out twice only when a kill cut its recording short.
func TestCrashFetchBolt(t *testing.T) {
	sz := runSizes(t)
	start := time.Now()
	db := filepath.Join(t.TempDir(), "olbot.db")
	c := newFetchCluster(t, 1, []string{"--store", db})
	ctx, cancel := context.WithCancel(context.Background())
	wait := c.drive(ctx, min(sz.chats, 8))
	for range sz.kills {
		time.Sleep(randomUptime())
		c.kill(c.procs[0], randomPause())
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wait()
	rep := c.verify()
	c.report(rep, "bolt", start)
	if rep.Chats == 0 || len(c.kills) != sz.kills {
		t.Fatalf("%d chats, %d kills; want chats under %d kills", rep.Chats, len(c.kills), sz.kills)
	}
}

var heldRE = regexp.MustCompile(`(?m)^olbot_pull_lease_held\{key="[^"]*"\} 1$`)

// holder returns the process that holds the polling lease, nil when none
// reports it.
func (c *fetchCluster) holder() *proc {
	for _, p := range c.procs {
		if !p.running() {
			continue
		}
		if status, body := p.get("/metrics"); status == http.StatusOK && heldRE.MatchString(body) {
			return p
		}
	}
	return nil
}

// TestCrashFetchPostgres runs two replicas of one bot on one PostgreSQL
// schema and SIGKILLs the one that polls, again and again, while clients
// chat: the other takes polling over within the lease (--poll-lease 3s)
// from the last offset written, nothing is lost or applied twice, and a
// reply goes out twice only when a kill cut its recording short.
func TestCrashFetchPostgres(t *testing.T) {
	sz := runSizes(t)
	start := time.Now()
	dsn := pgDSN(t)
	schema := newSchema(t, dsn)
	c := newFetchCluster(t, 2, []string{"--store", dsn, "--store-schema", schema, "--outbox-lease", "3s"})
	ctx, cancel := context.WithCancel(context.Background())
	wait := c.drive(ctx, min(sz.chats, 8))
	var takeovers []time.Duration
	for range sz.kills {
		time.Sleep(randomUptime())
		var polling *proc
		waitFor(t, faultTimeout, "a replica holding the polling lease", func() (bool, string) {
			polling = c.holder()
			return polling != nil, "no replica reports olbot_pull_lease_held 1"
		})
		from := time.Now()
		polling.kill()
		gone := time.Now()
		waitFor(t, faultTimeout, "the other replica to take polling over", func() (bool, string) {
			p := c.holder()
			return p != nil && p != polling, "no other replica holds the lease yet"
		})
		takeovers = append(takeovers, time.Since(gone))
		polling.start()
		c.addKill(from, polling)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wait()
	rep := c.verify()
	c.report(rep, "postgres", start)
	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	t.Logf("CRASHTEST takeovers=%d worst_takeover=%s lease=3s (the lease left plus one poll, up to the lease's renewal a third in)", len(takeovers), worst.Round(10*time.Millisecond))
	if rep.Chats == 0 || len(takeovers) != sz.kills {
		t.Fatalf("%d chats, %d takeovers; want chats under %d kills of the poller", rep.Chats, len(takeovers), sz.kills)
	}
}
