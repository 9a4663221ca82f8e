package server_test

// End-to-end test of the playground page in headless Chromium: a real
// `olbot serve` (server.New + Open on 127.0.0.1:0) over a copy of examples/,
// driven like an author would drive it. Screenshots go to
// $TMPDIR/olbot-playground-screenshots (printed in the log, replaced on every
// run); -update-screenshots also writes docs/playground.png.
//
//	go test ./server -run TestPlaygroundInBrowser -v
//	go test ./server -run TestPlaygroundInBrowser -update-screenshots
//
// It needs Chromium (Debian's chromium package: /usr/bin/chromium, or set
// OLBOT_CHROMIUM). Without it the test skips, or fails when CI is set.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/server"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "the playground browser test also writes docs/playground.png")

// browserWait bounds every wait for something to appear on the page; the
// test never asserts on timing.
const browserWait = 20 * time.Second

func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	path := os.Getenv("OLBOT_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("the playground browser test needs Chromium at %s (apt-get install chromium, or set OLBOT_CHROMIUM): %v", path, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browserPage drives one tab.
type browserPage struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func (p *browserPage) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.text())
	}
}

func (p *browserPage) eval(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (p *browserPage) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return v
}

// waitJS polls a JavaScript condition until it is true.
func (p *browserPage) waitJS(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, browserWait)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s (%s); err=%v\npage text:\n%s", browserWait, what, cond, err, p.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits for the conversation to show text.
func (p *browserPage) waitLog(text string) {
	p.t.Helper()
	p.waitJS("the chat to show "+strconv.Quote(text), `document.getElementById('log').innerText.includes(`+jsString(text)+`)`)
}

// waitState waits for the diagram to light state (and only it).
func (p *browserPage) waitState(state string) {
	p.t.Helper()
	p.waitJS("the diagram to light "+state, `(function () {
		var lit = document.querySelectorAll('#graph .node.current');
		return lit.length === 1 && lit[0].getAttribute('data-state') === `+jsString(state)+` &&
			document.getElementById('current-state').textContent === `+jsString(state)+`;
	})()`)
}

func (p *browserPage) shot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.shots, name)
	if err := os.MkdirAll(p.shots, 0o755); err != nil { // another process may have removed it
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func postJSON(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", url, body, resp.StatusCode, raw)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeAtomically saves a file the way many editors do: a temp file renamed over it.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serve starts `olbot serve` on 127.0.0.1:0 over dir with a memory store.
func serve(t *testing.T, dir, token string) (base string, store *memstore.Store) {
	t.Helper()
	logs := &lockedBuf{}
	store = memstore.New()
	srv := server.Assemble(t, server.Config{Listen: "127.0.0.1:0", AdminToken: token, Debounce: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second},
		server.Wiring{Store: store, Registry: scenarios.NewRegistry(dir, nil), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return "http://" + srv.Addr(), store
}

// startChromium starts a headless Chromium with a fresh profile and returns
// the context of its first tab.
func startChromium(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	// the first action starts the browser: no timeout on it (it would stop the browser)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", chrome, err)
	}
	return bctx
}

// screenshotDir is where the screenshots go, emptied on every run.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "olbot-playground-screenshots")
	// not emptied first: test processes of other checkouts on the machine
	// share the folder, and removing it under them failed their shots;
	// each shot overwrites its own file
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

func TestPlaygroundInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)

	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	supportPath := filepath.Join(dir, "support.yaml")
	original, err := os.ReadFile(supportPath)
	if err != nil {
		t.Fatal(err)
	}
	base, store := serve(t, dir, "")

	// Real traffic for the funnel, through the API: one dialog finishes, one
	// asks for a person, one waits for its name.
	ev := base + "/v1/events"
	for _, body := range []string{
		`{"dialog":"f1","line":1,"type":"start","client":"Bob"}`,
		`{"dialog":"f1","type":"button","button":1}`,
		`{"dialog":"f1","type":"message","text":"Bob"}`,
		`{"dialog":"f1","type":"message","text":"bob@example.com"}`,
		`{"dialog":"f2","line":1,"type":"start"}`,
		`{"dialog":"f2","type":"message","text":"operator please"}`,
		`{"dialog":"f3","line":1,"type":"start"}`,
		`{"dialog":"f3","type":"message","text":"Leave a request"}`,
	} {
		postJSON(t, ev, body)
	}

	shots := screenshotDir(t)
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: shots}
	p.do("open the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"))
	p.waitJS("the scenario list", `document.querySelectorAll('#scenario option').length === 6`)
	p.waitJS("the English page", `document.documentElement.lang === 'en' && document.querySelector('h1').textContent === 'olbot playground'`)
	p.waitJS("the live reload stream", `document.getElementById('conn').getAttribute('data-state') === 'live'`)

	// 1. Chat with support.yaml as a client named Anna.
	p.do("name the client and pick support",
		chromedp.SendKeys(chromedp.ID("client"), "Anna"),
		chromedp.SetValue(chromedp.ID("scenario"), "support"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('scenario').dispatchEvent(new Event('change'))`),
	)
	p.waitLog("Hello, Anna! I am the support assistant.")
	p.waitState("welcome")
	p.waitJS("the menu buttons", `document.querySelectorAll('#menu button').length === 2`)
	version := p.eval(`document.getElementById('version').textContent`)

	p.do("click “Leave a request”", chromedp.Click(chromedp.CSS(`#menu button[data-button="1"]`)))
	p.waitLog("How may I call you?")
	p.waitState("ask_name")
	p.waitJS("the menu to go", `document.getElementById('menu').hidden`)

	p.do("type a name and press Enter", chromedp.SendKeys(chromedp.ID("chat-input"), "anna"+kb.Enter))
	p.waitLog("Anna, what is your email?")
	p.waitState("ask_email")
	p.waitJS("the collected name", `document.querySelector('#fields dd') && document.querySelector('#fields dd').textContent === 'Anna'`)
	readme := p.shot("playground.png")

	// The playground dialog is marked as such and produced no portal call.
	session := p.eval(`document.getElementById('log').getAttribute('data-session')`)
	d, err := store.Dialog(context.Background(), engine.KeyPlayground+session)
	if err != nil {
		t.Fatalf("playground dialog pg:%s: %v", session, err)
	}
	if !d.Channel.Playground || d.State != "ask_email" {
		t.Fatalf("stored playground dialog: state=%q channel=%+v, want ask_email and a playground channel", d.State, d.Channel)
	}
	if calls, err := store.Calls(context.Background(), d.Key); err != nil || len(calls) != 0 {
		t.Fatalf("playground dialog has portal calls %v (err %v), want none", calls, err)
	}

	// 2. Break the file on disk: the error shows on the page with FILE:LINE:COL.
	broken := strings.Replace(string(original), "next: thanks", "next: thnaks", 1)
	line, col := position(broken, "next: thnaks", "thnaks")
	where := fmt.Sprintf("support.yaml:%d:%d", line, col)
	writeAtomically(t, supportPath, broken)
	p.waitJS("the reload error "+where, `!document.getElementById('reload-errors').hidden &&
		document.getElementById('error-list').innerText.includes(`+jsString(where)+`) &&
		document.getElementById('error-list').innerText.includes('thnaks')`)
	if got := p.eval(`getComputedStyle(document.querySelector('#error-list pre')).fontFamily`); !strings.Contains(strings.ToLower(got), "mono") {
		t.Errorf("the error line's font is %q, want a monospace one", got)
	}
	if got := p.eval(`document.getElementById('version').textContent`); got != version {
		t.Errorf("version after a broken save = %q, want the last good %q", got, version)
	}
	p.waitState("ask_email")
	p.shot("playground-error.png")

	// 3. Fix it with a new state: the diagram updates, the version changes,
	// and the conversation continues on the new version.
	fixed := strings.Replace(string(original), "next: thanks", "next: confirm", 1)
	fixed = strings.Replace(fixed, "\n  thanks:\n", "\n  confirm:\n    say: \"Got it, {{name}}.\"\n    next: thanks\n\n  thanks:\n", 1)
	writeAtomically(t, supportPath, fixed)
	p.waitJS("the new state on the diagram", `document.querySelector('#graph .node[data-state="confirm"]') !== null`)
	p.waitJS("the error banner to go", `document.getElementById('reload-errors').hidden`)
	p.waitJS("a new version", `document.getElementById('version').textContent !== `+jsString(version))
	p.waitJS("the success notice", `!document.getElementById('reload-ok').hidden`)
	p.waitState("ask_email")
	p.shot("playground-fixed.png")

	p.do("type an email", chromedp.SendKeys(chromedp.ID("chat-input"), "anna@example.com"+kb.Enter))
	p.waitLog("Got it, Anna.")
	p.waitLog("Thank you, Anna! We will write to anna@example.com.")
	p.waitLog("CRM: new lead")
	p.waitLog("Session finished")
	p.waitState("thanks")
	p.waitJS("the finished status", `document.getElementById('status').classList.contains('finished')`)

	// 4. The funnel of real traffic (the three API dialogs, not this one),
	// switched on with the keyboard.
	p.do("switch the funnel on with the keyboard", chromedp.Focus(chromedp.ID("traffic")), chromedp.KeyEvent(" "))
	p.waitJS("the funnel table", `(function () {
		var cells = function (s) { var r = document.querySelector('#funnel-table tr[data-state="' + s + '"]'); return r ? Array.prototype.map.call(r.querySelectorAll('td'), function (td) { return td.textContent; }).join(',') : ''; };
		return cells('welcome') === '3,0,0,0' && cells('ask_name') === '2,1,0,0' && cells('thanks') === '1,0,1,0' && cells('handoff') === '1,0,0,1';
	})()`)
	p.waitJS("the counts on the diagram", `document.querySelector('#graph .node[data-state="welcome"] text.count').textContent.includes('3')`)
	p.waitJS("the handoff reason", `document.getElementById('funnel-reasons').textContent.includes('typed a command')`)
	p.shot("playground-funnel.png")

	// 4b. The clock: a Saturday evening, in the shop's Moscow time, is after
	// hours; the page shows the clock the dialog's events carry.
	p.do("set the clock and pick shop",
		chromedp.SendKeys(chromedp.ID("clock"), "2027-01-09T20:00"),
		chromedp.SetValue(chromedp.ID("scenario"), "shop"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('scenario').dispatchEvent(new Event('change'))`),
	)
	p.waitState("after_hours")
	p.waitJS("the dialog's clock", `document.getElementById('clock-now').textContent === 'Sat 2027-01-09 20:00 MSK'`)

	// 5. Russian, keyboard only, phone-sized: a tab whose browser speaks Russian.
	rctx, cancelTab := chromedp.NewContext(bctx)
	defer cancelTab()
	if err := chromedp.Do(rctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	setLanguage(t, rctx, "ru-RU,ru")
	r := &browserPage{t: t, ctx: rctx, shots: shots}
	r.do("open the page in Russian", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/#support"))
	r.waitJS("the Russian page", `document.documentElement.lang === 'ru' && document.querySelector('h1').textContent === 'Песочница olbot'`)
	r.waitJS("the menu buttons", `document.querySelectorAll('#menu button').length === 2`)
	r.waitState("welcome")
	r.do("press “Talk to a person” with the keyboard", chromedp.Focus(chromedp.CSS(`#menu button[data-button="2"]`)), chromedp.KeyEvent(kb.Enter))
	r.waitLog("Передано любому свободному оператору")
	r.waitState("handoff")
	r.waitJS("the focus back in the message box", `document.activeElement === document.getElementById('chat-input')`)
	r.shot("playground-ru.png")

	r.do("shrink to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	r.waitJS("one column", `(function () {
		var a = document.querySelector('.panel.chat').getBoundingClientRect(), b = document.querySelector('.panel.diagram').getBoundingClientRect();
		return Math.abs(a.left - b.left) < 1 && b.top >= a.bottom && document.documentElement.scrollWidth <= window.innerWidth;
	})()`)
	r.do("start over with the keyboard", chromedp.Focus(chromedp.ID("restart")), chromedp.KeyEvent(kb.Enter))
	r.waitState("welcome")
	r.do("answer with the keyboard", chromedp.SendKeys(chromedp.ID("chat-input"), "1"+kb.Enter))
	r.waitState("ask_name")
	r.shot("playground-ru-phone.png")

	if *updateScreenshots {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../docs/playground.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/playground.png")
	}
}

// setLanguage makes the tab's browser prefer the given languages
// (navigator.languages and Accept-Language), keeping its user agent.
func setLanguage(t *testing.T, ctx context.Context, langs string) {
	t.Helper()
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: langs}); err != nil {
		t.Fatal(err)
	}
}

// position returns the 1-based line and column of needle inside the first
// line of text that contains anchor.
func position(text, anchor, needle string) (int, int) {
	for i, l := range strings.Split(text, "\n") {
		if j := strings.Index(l, anchor); j >= 0 {
			return i + 1, strings.Index(l, needle) + 1
		}
	}
	return 0, 0
}

// TestPlaygroundInBrowserWithToken: with an admin token the page asks for it
// once, keeps it for the browser session, and works as before.
func TestPlaygroundInBrowserWithToken(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	base, _ := serve(t, dir, "let-me-in")
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: t.TempDir()}
	p.do("open the page", chromedp.Navigate(base+"/#support"))
	p.waitJS("the token prompt with the focus in it", `!document.getElementById('token-form').hidden && document.activeElement === document.getElementById('token-input')`)
	p.do("type a wrong token", chromedp.SendKeys(chromedp.ID("token-input"), "guess"+kb.Enter))
	p.waitJS("the token prompt again", `!document.getElementById('token-form').hidden && document.getElementById('token-error').textContent !== ''`)
	p.do("type the token", chromedp.SendKeys(chromedp.ID("token-input"), "let-me-in"+kb.Enter))
	p.waitJS("the prompt to go", `document.getElementById('token-form').hidden`)
	p.waitLog("Hello! I am the support assistant.")
	p.waitJS("the live reload stream", `document.getElementById('conn').getAttribute('data-state') === 'live'`)
	p.do("reload the page", chromedp.Navigate(base+"/#support"))
	p.waitLog("Hello! I am the support assistant.")
	if hidden := p.eval(`String(document.getElementById('token-form').hidden)`); hidden != "true" {
		t.Fatalf("the token was asked again after a reload")
	}
}
