package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/pull"
)

// lockedBuffer is an output both the test and serve use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serving is one `olbot serve` run in the test's process.
type serving struct {
	addr           string
	stop           context.CancelFunc
	done           chan int
	stdout, stderr *lockedBuffer
}

// startServe runs `olbot serve args…` on a free port and waits until it is ready.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{addr: addr, stop: cancel, done: make(chan int, 1), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--listen", addr}, args...), strings.NewReader(""), s.stdout, s.stderr)
	}()
	t.Cleanup(func() { s.end(t) })
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited %d before it was ready:\n%s", code, s.stderr)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 15s:\n%s", s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// end stops serve (as SIGINT does) and checks it exited cleanly.
func (s *serving) end(t *testing.T) {
	t.Helper()
	s.stop()
	select {
	case code := <-s.done:
		s.done <- code
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, s.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s")
	}
}

// waitFor polls cond until it holds, failing after 20 s with what it saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var seen string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if ok, seen = cond(); ok {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; saw:\n%s", what, seen)
}

// replies are the bot's messages in a dialog (greetings and messages), one a line.
func replies(p *fakeportal.Portal, dialog string) []string {
	var out []string
	for _, m := range p.Messages(dialog) {
		out = append(out, m.Kind+": "+m.Text)
	}
	return out
}

// TestServeFetchMode runs a whole conversation through `olbot serve
// --webhook` in fetch mode against the fake portal's imbot.v2 route, with
// a restart in the middle: every reply goes out once, in order, and the
// message the client wrote while olbot was down is answered after it.
// It runs on bbolt (the lease in process, the offset in the file) and on
// PostgreSQL (the store's fenced lease and offset).
func TestServeFetchMode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) []string
	}{
		{"bbolt", func(t *testing.T) []string { return []string{"--store", filepath.Join(t.TempDir(), "olbot.db")} }},
		{"postgres", postgresStore},
	} {
		t.Run(tc.name, func(t *testing.T) { fetchConversation(t, tc.store(t)) })
	}
}

// postgresStore returns the flags of a schema of the test's own on the
// PostgreSQL test server (OLBOT_TEST_POSTGRES, default the local one),
// dropped at the end; the test is skipped when the server is unreachable
// outside CI.
func postgresStore(t *testing.T) []string {
	dsn := cmp.Or(os.Getenv("OLBOT_TEST_POSTGRES"), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("PostgreSQL test server %s: %v", redactURL(dsn), err)
		}
		t.Skipf("PostgreSQL test server %s unreachable: %v", redactURL(dsn), err)
	}
	conn.Close(ctx)
	schema := fmt.Sprintf("olbot_fetch_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	return []string{"--store", dsn, "--store-schema", schema}
}

func fetchConversation(t *testing.T, store []string) {
	p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	defer hs.Close()
	args := append([]string{"--webhook", p.WebhookURL(), "--scenarios", "../../examples",
		"--poll-interval", "50ms", "--poll-idle", "100ms", "--rate", "50,100"}, store...)

	first := startServe(t, args...)
	bots := p.V2Bots()
	if len(bots) != 1 || bots[0].Code != "olbot" || bots[0].EventMode != "fetch" || bots[0].Type != "openline" {
		t.Fatalf("registered bots %+v, want one openline bot olbot in fetch mode", bots)
	}
	bot := bots[0]
	if len(bot.Token) != bitrix24.MaxBotToken || !strings.Contains(first.stdout.String(), bot.Token) || !strings.Contains(first.stdout.String(), "Keep it") {
		t.Fatalf("botToken %q not printed with the advice to keep it:\n%s", bot.Token, first.stdout)
	}
	if !strings.Contains(first.stderr.String(), fmt.Sprintf("bot_id=%d", bot.ID)) || !strings.Contains(first.stderr.String(), "Chat-bot: pick") {
		t.Fatalf("no log line with the bot id and what to do next:\n%s", first.stderr)
	}

	chat := p.V2Chat(bot.ID, 1, 501, bitrix24.User{FirstName: "Anna"})
	dialog := chat.DialogID()
	has := func(n int, last string) func() (bool, string) {
		return func() (bool, string) {
			r := replies(p, dialog)
			return len(r) >= n && strings.Contains(r[n-1], last), strings.Join(r, "\n")
		}
	}
	chat.Join()
	waitFor(t, "the greeting and the menu", has(2, "Leave a request"))
	chat.OperatorSay(bitrix24.User{ID: 7, FirstName: "Olga", Name: "Olga Petrova"}, "Hi, I am watching")
	chat.SystemSay("The session was started")
	chat.Say("Leave a request")
	waitFor(t, "the name question", has(3, "How may I call you?"))
	first.end(t)

	chat.Say("Anna") // while olbot is down: confirmed only after it is processed
	second := startServe(t, args...)
	if strings.Contains(second.stdout.String(), bot.Token) {
		t.Fatalf("the botToken was printed again on the second start:\n%s", second.stdout)
	}
	if n := len(p.V2Bots()); n != 1 {
		t.Fatalf("%d bots after the second start, want the same one (registration is idempotent)", n)
	}
	waitFor(t, "the email question", has(4, "Anna, what is your email?"))
	// an event without the documented shape is kept as rejected and
	// skipped: the messages behind it are answered
	badID := p.V2Push(bot.ID, bitrix24.EventV2MessageAdd, map[string]any{"bot": map[string]any{"id": bot.ID}, "message": map[string]any{"id": "abc"}})
	chat.Say("anna@example")
	waitFor(t, "the retry", has(5, "does not look like an email"))
	chat.Say("anna@example.com")
	waitFor(t, "the thanks", has(6, "We will write to anna@example.com"))
	waitFor(t, "the session finished", func() (bool, string) {
		return len(p.CallsOf(bitrix24.MethodSessionFinish)) > 0, fmt.Sprint(p.Calls())
	})
	waitFor(t, "every event confirmed", func() (bool, string) { return p.V2Pending(bot.ID) == 0, "" })
	resp, err := http.Get("http://" + second.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "olbot_pull_polls_total{key=") || !strings.Contains(string(metrics), "olbot_pull_lease_held{key=") {
		t.Fatalf("/metrics lacks the poller's counters:\n%s", metrics)
	}
	wantRejected(t, second.addr, badID)
	second.end(t)

	want := []string{
		"greeting: Hello, Anna! I am the support assistant.",
		"bot: [SEND=1]1. Leave a request[/SEND][BR][SEND=2]2. Talk to a person[/SEND]",
		"bot: How may I call you?",
		"bot: Anna, what is your email?",
		"bot: That does not look like an email. Example: anna@example.com",
		"bot: Thank you, Anna! We will write to anna@example.com.",
	}
	if got := replies(p, dialog); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the bot's messages (the operator's and the system message get none, nothing twice):\n%s\nwant:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range p.CallsOf(bitrix24.MethodV2MessageSend) {
		if c.Params["botToken"] != bot.Token || c.Error != "" {
			t.Errorf("Chat.Message.send without the bot's token or refused: %v (%s)", c.Params, c.Error)
		}
	}
	finish := p.CallsOf(bitrix24.MethodSessionFinish)
	if len(finish) != 1 || finish[0].Params["CLIENT_ID"] != bot.Token || finish[0].Error != "" {
		t.Fatalf("session.finish calls %+v, want one with CLIENT_ID = the botToken", finish)
	}
	if n := len(p.CallsOf(bitrix24.MethodV2BotRegister)); n != 2 {
		t.Fatalf("%d Bot.register calls, want one per start", n)
	}
}

// wantRejected checks that GET /v1/rejected lists exactly the event id,
// with its reason.
func wantRejected(t *testing.T, addr string, id int64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/rejected")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Rejected []pull.RejectedEvent `json:"rejected"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/rejected: %d, %v", resp.StatusCode, err)
	}
	if len(got.Rejected) != 1 || got.Rejected[0].EventID != id || got.Rejected[0].Field == "" || !strings.Contains(got.Rejected[0].Reason, got.Rejected[0].Field) {
		t.Fatalf("GET /v1/rejected: %+v, want event %d with its field and reason", got.Rejected, id)
	}
}

// TestServeFetchModeRefusedWebhook: a webhook the portal refuses — a
// wrong or deleted secret, an expired authorization, one without the
// imbot scope — stops serve at start with an error that says what to
// check, not a silent loop, and registers nothing.
func TestServeFetchModeRefusedWebhook(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string // replaces the fake portal's secret in the URL; "" keeps it
		fail   string // the portal's answer to the first call (Bot.register)
	}{
		{"wrong secret", "deletedsecret", ""},
		{"expired", "", "expired_token"},
		{"no auth found", "", "NO_AUTH_FOUND"},
		{"invalid credentials", "", "INVALID_CREDENTIALS"},
		{"without the imbot scope", "", "INSUFFICIENT_SCOPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1})
			defer hs.Close()
			url := p.WebhookURL()
			if tc.secret != "" {
				url = strings.Replace(url, "fakewebhooksecret", tc.secret, 1)
			}
			if tc.fail != "" {
				p.FailNext(1, tc.fail)
			}
			code, out, errOut := runCmd(t, "", "serve", "--listen", "127.0.0.1:0", "--webhook", url, "--store", "memory", "--scenarios", "../../examples")
			if code != 1 || !strings.Contains(errOut, "the portal refused the webhook") || !strings.Contains(errOut, "check that the incoming webhook URL is right") {
				t.Fatalf("exit %d, want 1 with the refused webhook explained\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if strings.Contains(errOut, "fakewebhooksecret") || strings.Contains(errOut, tc.secret+"/") && tc.secret != "" {
				t.Fatalf("the error shows the webhook's secret:\n%s", errOut)
			}
			if len(p.V2Bots()) != 0 || strings.Contains(errOut, "olbot serving") {
				t.Fatalf("a bot was registered or serve started after a refused webhook:\n%s", errOut)
			}
		})
	}
}

// TestFakePortalV2Command runs the demo of the fetch route: `olbot
// fakeportal --api v2` waits for `olbot serve --webhook` to register its
// bot, opens a chat, and prints the calls olbot makes for what is typed.
func TestFakePortalV2Command(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdin, typed := io.Pipe()
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"fakeportal", "--api", "v2", "--listen", addr, "--client", "Anna"}, stdin, out, &lockedBuffer{})
	}()
	webhook := "http://" + addr + "/rest/1/fakewebhooksecret/"
	waitFor(t, "the webhook to start olbot with", func() (bool, string) {
		return strings.Contains(out.String(), "olbot serve --webhook "+webhook), out.String()
	})
	startServe(t, "--webhook", webhook, "--store", "memory", "--scenarios", "../../examples",
		"--poll-interval", "50ms", "--poll-idle", "100ms", "--rate", "50,100")
	waitFor(t, "the chat to open", func() (bool, string) { return strings.Contains(out.String(), "client> "), out.String() })
	if _, err := io.WriteString(typed, "Leave a request\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reply's call", func() (bool, string) {
		return strings.Contains(out.String(), `portal ← imbot.v2.chat.message.send {"botId":`) &&
			strings.Contains(out.String(), `"message":"How may I call you?"`), out.String()
	})
	// /file sends the client's file: a name is asked for, so it is
	// unmatched input and the question's retry comes back
	if _, err := io.WriteString(typed, "/file passport.jpg 2MB\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry after a file", func() (bool, string) {
		return strings.Contains(out.String(), `"message":"Please type your name, e.g. Anna."`), out.String()
	})
	typed.Close() // end of input ends the demo
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"portal ← imbot.v2.bot.register", "portal ← imbot.v2.event.get", "portal ← imopenlines.bot.session.message.send"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "botToken") {
		t.Errorf("the demo printed the botToken:\n%s", out)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// leadIM is the IM binding of the crm.lead.add calls the portal got.
func leadIM(t *testing.T, p *fakeportal.Portal) []string {
	t.Helper()
	var out []string
	for _, c := range p.CallsOf(bitrix24.MethodLeadAdd) {
		fields, _ := c.Params["fields"].(map[string]any)
		im, _ := fields["IM"].([]any)
		for _, v := range im {
			m, _ := v.(map[string]any)
			out = append(out, fmt.Sprintf("%v %v", m["VALUE"], m["VALUE_TYPE"]))
		}
	}
	return out
}

// TestServeFetchModeSessions drives the session methods of the fetch
// route through `olbot serve --webhook` and the fake portal: a handoff
// (imopenlines.bot.session.operator: the tutorial's "any user", no
// CLIENT_ID) and a transfer to another line (…session.transfer with
// CLIENT_ID = the botToken, as its page and the Open Lines tutorial say),
// each after a real conversation; the transfer's lead carries the chat's
// IM binding (imol|entityId, OPENLINE) as the v1 route's does.
func TestServeFetchModeSessions(t *testing.T) {
	p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1, Lines: []int{5}})
	defer hs.Close()
	startServe(t, "--webhook", p.WebhookURL(), "--scenarios", "../../examples", "--store", "memory",
		"--poll-interval", "50ms", "--poll-idle", "100ms", "--rate", "50,100")
	bot := p.V2Bots()[0]
	for _, tc := range []struct {
		name   string
		line   int
		says   []string
		method string
		want   map[string]any // params the session call carries (JSON numbers as float64)
		state  string
		im     bool // a lead with the chat's IM binding was added
	}{
		{name: "handoff", line: 1, says: []string{"Talk to a person"}, method: bitrix24.MethodSessionOperator,
			want: map[string]any{"CHAT_ID": float64(601)}, state: fakeportal.StateOperator},
		{name: "transfer to a line", line: 2, says: []string{"Анна", "8 (999) 123-45-67", "anna@mail.ru", "да"}, method: bitrix24.MethodSessionTransfer,
			want: map[string]any{"CHAT_ID": float64(602), "QUEUE_ID": float64(5), "LEAVE": "Y", "CLIENT_ID": bot.Token}, state: fakeportal.StateTransferred, im: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chat := p.V2Chat(bot.ID, tc.line, 600+tc.line, bitrix24.User{FirstName: "Anna"})
			chat.Join()
			for _, s := range tc.says {
				n := len(replies(p, chat.DialogID()))
				chat.Say(s)
				waitFor(t, "a reply to "+s, func() (bool, string) {
					r := replies(p, chat.DialogID())
					return len(r) > n, strings.Join(r, "\n")
				})
			}
			waitFor(t, tc.method, func() (bool, string) {
				return p.ChatState(chat.ChatID) == tc.state, fmt.Sprint(p.CallsFor(chat.ChatID))
			})
			var calls []fakeportal.Call
			for _, c := range p.CallsOf(tc.method) {
				if c.Int("CHAT_ID") == chat.ChatID {
					calls = append(calls, c)
				}
			}
			if len(calls) != 1 || calls[0].Error != "" {
				t.Fatalf("%s calls %+v, want one that succeeds", tc.method, calls)
			}
			got := map[string]any{}
			for k, v := range calls[0].Params {
				if k != "auth" {
					got[k] = v
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("%s params %v, want %v", tc.method, got, tc.want)
			}
			// a handed-off chat is the operator's: the client's next message gets no reply
			n := len(replies(p, chat.DialogID()))
			chat.Say("hello?")
			waitFor(t, "the message confirmed", func() (bool, string) { return p.V2Pending(bot.ID) == 0, "" })
			if r := replies(p, chat.DialogID()); len(r) != n {
				t.Fatalf("the bot answered a chat an operator has: %v", r[n:])
			}
			wantIM := []string(nil)
			if tc.im {
				wantIM = []string{"imol|" + chat.EntityID() + " OPENLINE"}
			}
			if got := leadIM(t, p); tc.im && fmt.Sprint(got) != fmt.Sprint(wantIM) {
				t.Fatalf("leads' IM bindings %v, want %v", got, wantIM)
			}
		})
	}
}

// TestFakePortalAppV2Command runs the local application's demo, `olbot
// fakeportal`, against `olbot serve` with its defaults: the install
// registers an imbot.v2 bot in webhook mode, and what is typed reaches
// olbot as ONIMBOTV2MESSAGEADD posts.
func TestFakePortalAppV2Command(t *testing.T) {
	addr := freeAddr(t)
	s := startServe(t, "--oauth-url", "http://"+addr+"/oauth/token/", "--app-client-id", "local.fakeportal.app",
		"--app-client-secret", "fake-client-secret", "--store", "memory", "--scenarios", "../../examples")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdin, typed := io.Pipe()
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"fakeportal", "--listen", addr, "--olbot", "http://" + s.addr, "--client", "Anna"}, stdin, out, &lockedBuffer{})
	}()
	waitFor(t, "the chat to open", func() (bool, string) { return strings.Contains(out.String(), "client> "), out.String() })
	if _, err := io.WriteString(typed, "Leave a request\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reply's call", func() (bool, string) {
		return strings.Contains(out.String(), `"message":"How may I call you?"`), out.String()
	})
	// a file, posted form-encoded in webhook mode: unmatched where a name is asked for
	if _, err := io.WriteString(typed, "/file passport.jpg\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry after a file", func() (bool, string) {
		return strings.Contains(out.String(), `"message":"Please type your name, e.g. Anna."`), out.String()
	})
	typed.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"portal ← imbot.v2.bot.register", "(webhook mode)", "portal ← imbot.v2.chat.message.send"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
