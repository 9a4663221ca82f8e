package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/scenarios"
)

// hotScenario is a version of the hot-reloaded scenario: every text carries
// tag, so an answer shows which version produced it. Without ask, the ask
// state is gone.
func hotScenario(tag string, ask bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# version %s\nname: hot\nlines: [9]\nstart: menu\nsettings:\n  on_missing_state: menu\nstates:\n", tag)
	fmt.Fprintf(&b, "  menu:\n    say: \"Pick one (%s)\"\n    menu:\n", tag)
	if ask {
		b.WriteString("      - text: Ask\n        goto: ask\n")
	}
	b.WriteString("      - text: Operator\n        goto: handoff\n    on_fail: handoff\n")
	if ask {
		fmt.Fprintf(&b, "  ask:\n    ask: \"Your word? (%s)\"\n    save: word\n    type: text\n    on_fail: handoff\n    next: menu\n", tag)
	}
	fmt.Fprintf(&b, "  handoff:\n    say: \"Operator (%s)\"\n    operator: any\n", tag)
	return b.String()
}

// hotBroken does not load: its error is at a known line and column.
const hotBroken = "name: hot\nlines: [9]\nstart: menu\nstates:\n  menu:\n    say: \"Pick one (broken)\"\n    next: nowhere\n"

var tagRE = regexp.MustCompile(`\((v\d+|broken)\)`)

// traffic posts /v1/events from several goroutines until stopped and keeps
// every answer.
type traffic struct {
	base string
	wg   sync.WaitGroup
	stop chan struct{}

	mu       sync.Mutex
	failures []string
	answers  []EventResponse
	versions map[string]int // answers per dialog version
}

func (tr *traffic) post(req EventRequest) (EventResponse, error) {
	b, _ := json.Marshal(req)
	resp, err := http.Post(tr.base+"/v1/events", "application/json", bytes.NewReader(b))
	if err != nil {
		return EventResponse{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return EventResponse{}, fmt.Errorf("%+v: %d %s", req, resp.StatusCode, body)
	}
	var out EventResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return EventResponse{}, fmt.Errorf("%+v: %s: %v", req, body, err)
	}
	return out, nil
}

func (tr *traffic) run(dialog string) {
	defer tr.wg.Done()
	texts := []string{"Ask", "some word"}
	if _, err := tr.post(EventRequest{Dialog: dialog, Scenario: "hot", Type: "start"}); err != nil {
		tr.fail(err)
		return
	}
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			return
		default:
		}
		out, err := tr.post(EventRequest{Dialog: dialog, Scenario: "hot", Type: "message", Text: texts[i%2]})
		if err != nil {
			tr.fail(err)
			return
		}
		tr.mu.Lock()
		tr.answers = append(tr.answers, out)
		tr.versions[out.Dialog.Version]++
		tr.mu.Unlock()
	}
}

func (tr *traffic) fail(err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.failures = append(tr.failures, err.Error())
}

func (tr *traffic) firstFailure() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.failures) == 0 {
		return ""
	}
	return tr.failures[0]
}

func (tr *traffic) seen(version string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.versions[version]
}

// hotReload is TestHotReloadUnderTraffic's server, its scenario file and
// the traffic running against it.
type hotReload struct {
	t    *testing.T
	e    *env
	dir  string
	file string
	live map[string]string // version → tag of every version that went live
	tr   *traffic
}

// save writes the file and notes its version as one that goes live.
func (h *hotReload) save(tag, content string) string {
	writeFile(h.t, h.dir, "hot.yaml", content)
	v := scenarios.Version([]byte(content))
	h.live[v] = tag
	return v
}

// current is the live version of hot and the file's status.
func (h *hotReload) current() (string, scenarios.FileStatus) {
	status, body := h.e.api(http.MethodGet, "/v1/scenarios", nil)
	if status != http.StatusOK {
		h.t.Fatalf("GET /v1/scenarios: %d %s", status, body)
	}
	var list ScenariosResponse
	mustJSON(h.t, body, &list)
	version := ""
	for _, sc := range list.Scenarios {
		if sc.Name == "hot" {
			version = sc.Version
		}
	}
	for _, f := range list.Files {
		if f.File == h.file {
			return version, f
		}
	}
	return version, scenarios.FileStatus{}
}

// waitLive waits until version is live and events ran on it.
func (h *hotReload) waitLive(what, version string) {
	h.t.Helper()
	waitFor(h.t, what+" to go live", func() (bool, string) {
		v, f := h.current()
		return v == version && f.Error == "", fmt.Sprintf("live %s, file %+v", v, f)
	})
	waitFor(h.t, "events on "+what, func() (bool, string) {
		if f := h.tr.firstFailure(); f != "" {
			h.t.Fatalf("a request failed: %s", f)
		}
		n := h.tr.seen(version)
		return n > 0, fmt.Sprintf("%d answers", n)
	})
}

// TestHotReloadUnderTraffic rewrites a scenario file the ways editors do
// while events flow: no request fails, every event runs on one whole live
// version, and a broken save never replaces the last good version.
func TestHotReloadUnderTraffic(t *testing.T) {
	dir := scenarioDir(t, "../examples/faq.yaml")
	h := &hotReload{t: t, dir: dir, file: filepath.Join(dir, "hot.yaml"), live: map[string]string{}}
	v1 := h.save("v1", hotScenario("v1", true))
	h.e = startEnv(t, nil, func(e *env) { e.dir = dir; e.cfg.Debounce = scenarios.DefaultDebounce })
	h.tr = &traffic{base: h.e.base, stop: make(chan struct{}), versions: map[string]int{}}
	const workers = 4
	for i := range workers {
		h.tr.wg.Add(1)
		go h.tr.run(fmt.Sprintf("hot-%d", i))
	}
	stopped := false
	stopTraffic := func() {
		if !stopped {
			stopped = true
			close(h.tr.stop)
			h.tr.wg.Wait()
		}
	}
	defer stopTraffic()
	h.waitLive("v1", v1)

	// a valid edit, saved in place
	h.waitLive("v2 (in place)", h.save("v2", hotScenario("v2", true)))
	h.brokenSave(scenarios.Version([]byte(hotScenario("v2", true))))

	// rename-and-replace save (vim, most IDEs)
	tmp := filepath.Join(dir, ".hot.yaml.swp")
	content := hotScenario("v3", true)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	h.live[scenarios.Version([]byte(content))] = "v3"
	if err := os.Rename(tmp, h.file); err != nil {
		t.Fatal(err)
	}
	h.waitLive("v3 (rename-and-replace)", scenarios.Version([]byte(content)))

	// delete-and-create save
	if err := os.Remove(h.file); err != nil {
		t.Fatal(err)
	}
	h.waitLive("v4 (delete-and-create)", h.save("v4", hotScenario("v4", true)))
	v5 := h.save("v5", hotScenario("v5", true))
	h.waitLive("v5 (in place)", v5)
	stopTraffic()
	h.checkAnswers()

	t.Run("a removed state moves its dialogs to on_missing_state", func(t *testing.T) { h.removedState(t, workers, v5) })
	t.Run("a removed scenario hands its dialogs to an operator", h.removedScenario)
}

// brokenSave: a broken edit leaves the last good version (live) serving,
// and the error points at the line.
func (h *hotReload) brokenSave(live string) {
	t := h.t
	writeFile(t, h.dir, "hot.yaml", hotBroken)
	waitFor(t, "the broken save to be reported", func() (bool, string) {
		v, f := h.current()
		return f.Error != "" && v == live, fmt.Sprintf("live %s, file %+v", v, f)
	})
	if _, f := h.current(); !positioned(h.file).MatchString(f.Error) || !strings.Contains(f.Error, `unknown state "nowhere"`) || f.Version != live {
		t.Fatalf("file status %+v: want the FILE:LINE:COL error and the live version %s", f, live)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(h.file) + `:7:\d+: `).MatchString(func() string { _, f := h.current(); return f.Error }()) {
		t.Fatalf("the error does not point at line 7 (next: nowhere)")
	}
	before := h.tr.seen(live)
	waitFor(t, "events to go on under v2 while the file is broken", func() (bool, string) {
		n := h.tr.seen(live)
		return n > before, fmt.Sprint(n)
	})
}

// checkAnswers: no request failed, and every answer came whole from one
// version that went live.
func (h *hotReload) checkAnswers() {
	t, tr := h.t, h.tr
	if len(tr.failures) > 0 {
		t.Fatalf("%d requests failed during reloads, first: %s", len(tr.failures), tr.failures[0])
	}
	for _, a := range tr.answers {
		tag, ok := h.live[a.Dialog.Version]
		if !ok {
			t.Fatalf("an event ran on version %q, which never went live: %+v", a.Dialog.Version, a)
		}
		for _, m := range tagRE.FindAllStringSubmatch(string(a.Actions), -1) {
			if m[1] != tag {
				t.Fatalf("an answer of version %s (%s) says %q: a half-loaded scenario", a.Dialog.Version, tag, a.Actions)
			}
		}
		if a.Outcome != "applied" || a.Dialog.Status != "active" {
			t.Fatalf("answer %+v: every event should apply and the dialogs stay active", a)
		}
	}
	t.Logf("%d events over %d versions: %v", len(tr.answers), len(tr.versions), tr.versions)
}

func (h *hotReload) removedState(t *testing.T, workers int, v5 string) {
	e := h.e
	if r := e.event(EventRequest{Dialog: "hot-stay", Scenario: "hot", Type: "start"}); r.Dialog.State != "menu" {
		t.Fatalf("start: %+v", r.Dialog)
	}
	if r := e.event(EventRequest{Dialog: "hot-stay", Type: "message", Text: "Ask"}); r.Dialog.State != "ask" {
		t.Fatalf("Ask: %+v", r.Dialog)
	}
	inAsk := 0
	for _, id := range []string{"hot-stay", "hot-0", "hot-1", "hot-2", "hot-3"} {
		if e.dialog(id).State == "ask" {
			inAsk++
		}
	}
	v6 := hotScenario("v6", false)
	status, body := e.api(http.MethodPost, "/v1/scenarios/check?file=hot.yaml", v6)
	var dry DryRunResponse
	mustJSON(t, body, &dry)
	if status != http.StatusOK || dry.Running != workers+1 || dry.Moved["ask"] != inAsk || dry.MovedTo != "menu" || dry.Live != v5 ||
		strings.Join(dry.Removed, ",") != "ask" {
		t.Fatalf("dry run: %d %s; want %d running, %d in ask moved to menu", status, body, workers+1, inAsk)
	}
	version := h.save("v6", v6)
	waitFor(t, "v6 to go live", func() (bool, string) {
		v, f := h.current()
		return v == version, fmt.Sprintf("live %s, file %+v", v, f)
	})
	r := e.event(EventRequest{Dialog: "hot-stay", Type: "message", Text: "my word"})
	if r.Dialog.State != "menu" || r.Dialog.Status != "active" || !strings.Contains(r.Reason, `state "ask" is gone`) ||
		!strings.Contains(string(r.Actions), "Pick one (v6)") {
		t.Fatalf("after the reload: %+v %s", r, r.Actions)
	}
}

func (h *hotReload) removedScenario(t *testing.T) {
	e := h.e
	if err := os.Remove(h.file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hot to be unloaded", func() (bool, string) {
		v, _ := h.current()
		return v == "", "live " + v
	})
	r := e.event(EventRequest{Dialog: "hot-stay", Type: "message", Text: "hello?"})
	if r.Dialog.Status != "handed_off" || string(r.Actions) != `[{"type":"operator"}]` || !strings.Contains(r.Reason, `scenario "hot" was removed`) {
		t.Fatalf("after removal: %+v %s", r, r.Actions)
	}
	if r := e.event(EventRequest{Dialog: "hot-stay", Type: "message", Text: "anyone?"}); r.Outcome != "ignored" {
		t.Fatalf("a message to the handed-off dialog: %+v, want ignored", r)
	}
}

// TestScenarioRemovedPortalChat: a portal chat whose scenario file is
// deleted goes to an operator on its next message.
func TestScenarioRemovedPortalChat(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	bot := e.install()
	chat := e.chat(5, 9501, "Anna") // echo
	e.send(chat, chat.Join())
	if err := os.Remove(filepath.Join(e.dir, "echo.yaml")); err != nil {
		t.Fatal(err)
	}
	if status, body := e.api(http.MethodPost, "/v1/scenarios/reload", nil); status != http.StatusOK {
		t.Fatalf("reload: %d %s", status, body)
	}
	e.send(chat, chat.Say("hello"))
	e.settle()
	checkCalls(t, delivered(p, about(chat)), []string{
		expand(t, chat, bot, botSays("Say something")),
		expand(t, chat, bot, `imopenlines.bot.session.operator {"CHAT_ID":%[1]d}`),
	})
	if d := e.dialog(e.key(chat)); d.Status != "handed_off" || d.Scenario != "echo" {
		t.Fatalf("dialog %+v, want handed off", d)
	}
}
