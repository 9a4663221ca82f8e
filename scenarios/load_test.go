package scenarios

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// examples are the scenario files of examples/, as the spec shows them.
var examples = []string{"support", "faq", "russian", "bilingual", "shop", "claims"}

func examplePath(name string) string { return filepath.Join("..", "examples", name+".yaml") }

// TestSupportLoads loads the spec's complete example and checks every
// decoded value and exactly the warnings it is known to have.
func TestSupportLoads(t *testing.T) {
	path := examplePath("support")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := mustLoad(t, path)

	wantWarnings := fmt.Sprintf(`%[1]s:17:3: warning: states.welcome: no on_fail: after 3 unmatched messages the dialog goes to an operator
    hint: add on_fail: STATE, or next: STATE for input that matches nothing
%[1]s:26:10: warning: states.ask_name.ask: no on_fail: after 3 bad answers the dialog goes to an operator
    hint: add on_fail: STATE; without it the client is handed to any free operator
`, path)
	if got := string(printed(sc.Warnings)); got != wantWarnings {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, wantWarnings)
	}
	for _, w := range sc.Warnings {
		if !w.Warning || w.Err != ErrNoOnFail {
			t.Errorf("warning %v: Warning=%v Err=%v, want a no-on_fail warning", w, w.Warning, w.Err)
		}
	}

	checkSupportTop(t, sc, path, src)
	checkSupportStates(t, sc)
	checkSupportPositions(t, sc)
}

// checkSupportTop checks the top-level values of the support example.
func checkSupportTop(t *testing.T, sc *Scenario, path string, src []byte) {
	t.Helper()
	if sc.File != path || sc.Name != "support" || sc.Title != "Support line — first contact" || sc.Start != "welcome" {
		t.Errorf("file=%q name=%q title=%q start=%q", sc.File, sc.Name, sc.Title, sc.Start)
	}
	if sc.Version != Version(src) || len(sc.Version) != 12 {
		t.Errorf("version=%q, want %q (12 hex digits)", sc.Version, Version(src))
	}
	if !slices.Equal(sc.Lines, []int{1, 3}) || sc.Default() {
		t.Errorf("lines=%v default=%v, want [1 3] false", sc.Lines, sc.Default())
	}
	wantSettings := Settings{Retries: 2, Idle: 15 * time.Minute, OnIdle: "bye", OnMissingState: "welcome"}
	if sc.Settings != wantSettings {
		t.Errorf("settings=%+v, want %+v", sc.Settings, wantSettings)
	}
	if len(sc.Commands) != 1 || !slices.Equal(sc.Commands[0].Match, []string{"operator", "human", "оператор", "живой человек"}) || sc.Commands[0].Goto != "handoff" {
		t.Errorf("commands=%+v", sc.Commands)
	}
	if want := []string{"welcome", "ask_name", "ask_email", "thanks", "handoff", "bye"}; !slices.Equal(sc.Order, want) {
		t.Errorf("order=%v, want %v", sc.Order, want)
	}

}

// checkSupportStates checks the decoded states of the support example.
func checkSupportStates(t *testing.T, sc *Scenario) {
	t.Helper()
	checkSupportWelcome(t, sc.States["welcome"])
	checkSupportAsks(t, sc)
	for _, name := range sc.Order {
		if st := sc.States[name]; !st.Commands || st.Name != name {
			t.Errorf("state %s: commands=%v name=%q, want true and its name", name, st.Commands, st.Name)
		}
	}
}

// checkSupportWelcome checks the support example's first state.
func checkSupportWelcome(t *testing.T, welcome *State) {
	t.Helper()
	if welcome.Greet == nil || welcome.Greet.Welcome || welcome.Greet.Text.Raw != "Hello, {{client}}! I am the support assistant." {
		t.Errorf("welcome.greet=%+v", welcome.Greet)
	}
	if len(welcome.Menu) != 2 || welcome.Menu[0].Text != "Leave a request" || welcome.Menu[0].Goto != "ask_name" || welcome.Menu[1].Goto != "handoff" {
		t.Errorf("welcome.menu=%+v", welcome.Menu)
	}
	if !welcome.Waits() || welcome.Terminal() || !welcome.Reprompts() {
		t.Errorf("welcome: waits=%v terminal=%v reprompts=%v", welcome.Waits(), welcome.Terminal(), welcome.Reprompts())
	}
}

// checkSupportAsks checks the support example's questions and ends.
func checkSupportAsks(t *testing.T, sc *Scenario) {
	t.Helper()
	askName := sc.States["ask_name"]
	if askName.Ask.Raw != "How may I call you?" || askName.Save != "name" || askName.Type != "name" ||
		askName.Retry.Raw != "Please type your name, e.g. Anna." || askName.Next != "ask_email" || askName.OnFail != "" {
		t.Errorf("ask_name=%+v", askName)
	}
	askEmail := sc.States["ask_email"]
	if !slices.Equal(askEmail.Ask.Fields, []string{"name"}) || askEmail.Type != "email" || askEmail.OnFail != "handoff" || askEmail.Next != "thanks" {
		t.Errorf("ask_email=%+v", askEmail)
	}
	thanks := sc.States["thanks"]
	if !slices.Equal(thanks.Say.Fields, []string{"name", "email"}) || thanks.CRM != "lead" || !thanks.Finish || !thanks.Terminal() || thanks.Waits() {
		t.Errorf("thanks=%+v", thanks)
	}
	if h := sc.States["handoff"]; h.Operator != "any" || h.Transfer != nil || !h.Terminal() {
		t.Errorf("handoff=%+v", h)
	}
}

// checkSupportPositions: positions point at the values, for the engine's
// and the server's messages.
func checkSupportPositions(t *testing.T, sc *Scenario) {
	t.Helper()
	for path, want := range map[string]Pos{
		"start":                 {5, 8},
		"states.ask_email.next": {38, 11},
		"settings.idle":         {8, 9},
		"states.welcome#key":    {17, 3},
	} {
		if got := sc.PosOf(path); got != want {
			t.Errorf("PosOf(%q)=%v, want %v", path, got, want)
		}
	}
	if got := sc.PosOf("no.such.path"); got != (Pos{}) {
		t.Errorf("PosOf(unknown)=%v, want zero", got)
	}
}

// TestExamplesLoad loads every example: faq, russian, bilingual and shop have no warnings.
func TestExamplesLoad(t *testing.T) {
	files, _, err := Files(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(examples) {
		t.Errorf("examples/ has %d scenarios, want %d: %v", len(files), len(examples), files)
	}
	for _, name := range []string{"faq", "russian", "bilingual", "shop"} {
		sc := mustLoad(t, examplePath(name))
		if len(sc.Warnings) != 0 {
			t.Errorf("%s: warnings:\n%v", name, sc.Warnings)
		}
	}
	set, ps := LoadPaths(filepath.Join("..", "examples"))
	if ps.HasErrors() {
		t.Fatalf("examples as a set:\n%v", ps)
	}
	if set.Default == nil || set.Default.Name != "faq" || set.Lookup(2).Name != "zapis" || set.Lookup(3).Name != "support" {
		t.Errorf("examples set: default=%v line2=%v line3=%v", set.Default, set.Lookup(2), set.Lookup(3))
	}
}

// TestDefaults checks the values a scenario gets when it leaves keys out.
func TestDefaults(t *testing.T) {
	src := `start: ask
states:
  ask:
    ask: "What is your question?"
    save: question
    on_fail: done
    next: done
  done:
    say: "Thanks!"
    finish: true
`
	for file, wantName := range map[string]string{
		"bots/my-bot.yaml":      "my-bot",
		"bots/other.yml":        "other",
		"Sales Line.yaml":       "Sales Line",
		"/abs/path/x.test.yaml": "x.test",
	} {
		sc := mustParse(t, file, src)
		if sc.Name != wantName {
			t.Errorf("%s: name=%q, want %q", file, sc.Name, wantName)
		}
	}
	sc := mustParse(t, "x.yaml", src)
	if sc.Settings != (Settings{Retries: DefaultRetries}) || DefaultRetries != 2 {
		t.Errorf("settings=%+v, want retries 2 and nothing else", sc.Settings)
	}
	if !sc.Default() || len(sc.Lines) != 0 {
		t.Errorf("no lines: default=%v lines=%v", sc.Default(), sc.Lines)
	}
	ask := sc.States["ask"]
	if ask.Type != "text" || ask.Retries != nil || sc.Retries(ask) != 2 || !ask.Commands || ask.Retry != nil {
		t.Errorf("ask: type=%q retries=%v/%d commands=%v retry=%v", ask.Type, ask.Retries, sc.Retries(ask), ask.Commands, ask.Retry)
	}
	if sc.MissingTarget() != "ask" {
		t.Errorf("MissingTarget()=%q, want the start", sc.MissingTarget())
	}
	if done := sc.States["done"]; done.Type != "" || !done.Commands {
		t.Errorf("done: type=%q commands=%v; a state without ask has no type", done.Type, done.Commands)
	}

	// overrides
	sc = mustParse(t, "x.yaml", `name: custom
lines: 4
start: ask
settings: {retries: 0, idle: 1h30m, on_idle: done, on_missing_state: done}
states:
  ask:
    ask: "Your age?"
    save: age
    type: number
    retries: 5
    commands: false
    on_fail: done
    next: done
  done:
    greet: true
    finish: true
`)
	ask = sc.States["ask"]
	if sc.Name != "custom" || !slices.Equal(sc.Lines, []int{4}) || sc.Settings.Retries != 0 || sc.Settings.Idle != 90*time.Minute {
		t.Errorf("name=%q lines=%v settings=%+v", sc.Name, sc.Lines, sc.Settings)
	}
	if sc.Retries(ask) != 5 || ask.Commands || ask.Type != "number" || sc.MissingTarget() != "done" {
		t.Errorf("ask: retries=%d commands=%v type=%q missing=%q", sc.Retries(ask), ask.Commands, ask.Type, sc.MissingTarget())
	}
	if g := sc.States["done"].Greet; g == nil || !g.Welcome || g.Text != nil {
		t.Errorf("greet: true = %+v, want the line's own greeting", g)
	}
}

// formatTable prints a transition table one edge per line, aligned.
func formatTable(sc *Scenario) []byte {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(w, "FROM\tEVENT\tTO\tKIND\tLABEL\tSETS\tIMPLICIT")
	for _, tr := range sc.Table {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tr.From, tr.Event, tr.To, tr.Kind, dash(tr.Label), dash(tr.Sets), dash(tr.Implicit))
	}
	w.Flush()
	// tabwriter pads the last column too; trim so the golden has no trailing spaces
	lines := strings.Split(b.String(), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return []byte(strings.Join(lines, "\n"))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestSupportTable pins the compiled transition table of support.yaml.
func TestSupportTable(t *testing.T) {
	sc := mustLoad(t, examplePath("support"))
	golden(t, filepath.Join("testdata", "support.table.golden"), formatTable(sc))
}

// tableScenarios are every scenario that loads in this package's testdata
// and examples, plus the generated benchmark scenario.
func tableScenarios(t *testing.T) map[string]*Scenario {
	t.Helper()
	out := map[string]*Scenario{}
	for _, name := range examples {
		out[name] = mustLoad(t, examplePath(name))
	}
	for _, tc := range checkCases {
		if tc.loads {
			sc, _ := loadBad(t, tc.name)
			out[tc.name] = sc
		}
	}
	out["generated200"] = mustParse(t, "generated.yaml", string(generateScenario(200)))
	return out
}

// TestTableUnique checks that every (From, Event) pair of a table is unique:
// looplab/fsm silently keeps only the last of two, so a duplicate would be a
// transition the engine can never take. It also checks that every edge
// joins known states and that events carry the prefix of their kind.
func TestTableUnique(t *testing.T) {
	for name, sc := range tableScenarios(t) {
		t.Run(name, func(t *testing.T) {
			checkTable(t, sc)
		})
	}
}

func checkTable(t testing.TB, sc *Scenario) {
	t.Helper()
	type key struct{ from, event string }
	seen := map[key]Transition{}
	for _, tr := range sc.Table {
		k := key{tr.From, tr.Event}
		if prev, ok := seen[k]; ok {
			t.Errorf("(%s, %s) twice: to %s and to %s", tr.From, tr.Event, prev.To, tr.To)
		}
		seen[k] = tr
		if _, ok := sc.States[tr.From]; !ok && tr.From != NoState {
			t.Errorf("edge %+v: from an unknown state", tr)
		}
		if _, ok := sc.States[tr.To]; !ok {
			t.Errorf("edge %+v: to an unknown state", tr)
		}
		if tr.Event != tr.Kind && !strings.HasPrefix(tr.Event, tr.Kind+":") {
			t.Errorf("edge %+v: event does not start with its kind", tr)
		}
		if tr.Implicit != "" && tr.To != tr.From {
			t.Errorf("edge %+v: an implicit action stays in its state", tr)
		}
	}
	if _, ok := seen[key{NoState, EdgeStart}]; !ok {
		t.Errorf("no start edge")
	}
	if _, ok := seen[key{NoState, EdgeMissing}]; !ok {
		t.Errorf("no missing-state edge")
	}
}

// TestTableEvents checks that the events the engine fires are the ones the
// compiler put on the states.
func TestTableEvents(t *testing.T) {
	faq := mustLoad(t, examplePath("faq"))
	topics := faq.States["topics"]
	for i, mi := range topics.Menu {
		if want := fmt.Sprintf("menu:%d", i+1); mi.Event != want {
			t.Errorf("topics.menu[%d].Event=%q, want %q", i, mi.Event, want)
		}
	}
	for i, r := range topics.On {
		if want := fmt.Sprintf("on:%d", i+1); r.Event != want {
			t.Errorf("topics.on[%d].Event=%q, want %q", i, r.Event, want)
		}
	}
	if got := faq.States["hours"].BranchEvent("Saint Petersburg"); got != "answer:Saint Petersburg" {
		t.Errorf("BranchEvent=%q", got)
	}
	if got := faq.States["hours"].BranchEvent("Paris"); got != "" {
		t.Errorf("BranchEvent(not an option)=%q, want empty", got)
	}
	for i, want := range map[int]string{0: "command:1", 1: "command:2", 63: "command:64", 64: "command:65", 99: "command:100"} {
		if got := CommandEvent(i); got != want {
			t.Errorf("CommandEvent(%d)=%q, want %q", i, got, want)
		}
	}
	// ask_feedback says commands: false: no command edges leave it
	for _, tr := range faq.Table {
		if tr.From == "ask_feedback" && tr.Kind == EdgeCommand {
			t.Errorf("command edge from a state with commands: false: %+v", tr)
		}
	}
}

// TestFire checks moves through the pooled fsm machines, including the
// errors for events a state does not have.
func TestFire(t *testing.T) {
	support := mustLoad(t, examplePath("support"))
	faq := mustLoad(t, examplePath("faq"))
	russian := mustLoad(t, examplePath("russian"))
	tests := []struct {
		sc          *Scenario
		from, event string
		want        string
		wantErr     bool
	}{
		{support, NoState, EdgeStart, "welcome", false},
		{support, NoState, EdgeMissing, "welcome", false},
		{support, "welcome", "menu:1", "ask_name", false},
		{support, "welcome", "menu:2", "handoff", false},
		{support, "welcome", "command:1", "handoff", false},
		{support, "welcome", EdgeIdle, "bye", false},
		{support, "welcome", EdgeRetry, "welcome", false}, // self-loop: no error
		{support, "welcome", EdgeFail, "welcome", false},  // implicit operator
		{support, "ask_name", EdgeAnswer, "ask_email", false},
		{support, "ask_email", EdgeFail, "handoff", false},
		{support, "ask_email", EdgeAnswer, "thanks", false},
		{support, "welcome", "menu:3", "welcome", true},
		{support, "welcome", EdgeAnswer, "welcome", true},
		{support, "thanks", EdgeNext, "thanks", true}, // terminal: nothing leaves it
		{support, "thanks", "command:1", "thanks", true},
		{support, "nosuch", EdgeStart, "nosuch", true},
		{support, NoState, "", NoState, true},
		{faq, "welcome", EdgeNext, "topics", false},
		{faq, "topics", "on:6", "ask_feedback", false},
		{faq, "topics", EdgeUnmatched, "not_understood", false},
		{faq, "topics", "command:2", "topics", false},
		{faq, "hours", "answer:Kazan", "hours_kazan", false},
		{faq, "hours", "answer:Paris", "hours", true},
		{faq, "ask_feedback", "command:1", "ask_feedback", true},
		{russian, "proverka", "answer:yes", "zapisan", false},
		{russian, "proverka", "answer:no", "zanovo", false},
		{russian, "proverka", "on:1", "zanovo", false},
		{russian, "proverka", EdgeAnswer, "proverka", true},
	}
	for _, tc := range tests {
		t.Run(tc.sc.Name+"/"+tc.from+"/"+tc.event, func(t *testing.T) {
			got, err := tc.sc.Fire(tc.from, tc.event)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err=%v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("state=%q, want %q", got, tc.want)
			}
			if err != nil && (!strings.Contains(err.Error(), tc.sc.Name) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.event))) {
				t.Errorf("error %q does not name the scenario and the event", err)
			}
		})
	}
}

// TestFireConcurrent fires from many goroutines at once: the machine pool
// must not let two dialogs share a machine (run with -race).
func TestFireConcurrent(t *testing.T) {
	sc := mustLoad(t, examplePath("support"))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				from, event, want := "welcome", "menu:1", "ask_name"
				if (g+i)%2 == 1 {
					from, event, want = "ask_name", EdgeAnswer, "ask_email"
				}
				got, err := sc.Fire(from, event)
				if err != nil || got != want {
					t.Errorf("Fire(%s, %s) = %q, %v; want %q", from, event, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestFiles checks which files a folder holds: *.test.yaml files are tests,
// never scenarios; hidden files and editor backups are skipped.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml", "a.test.yaml", ".hidden.yaml", "c.yaml~", "notes.txt", ".git/x.yaml", "sub/d.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scs, tests, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	rel := func(list []string) []string {
		var out []string
		for _, f := range list {
			r, _ := filepath.Rel(dir, f)
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	if got, want := rel(scs), []string{"a.yaml", "b.yml", "sub/d.yaml"}; !slices.Equal(got, want) {
		t.Errorf("scenarios=%v, want %v", got, want)
	}
	if got, want := rel(tests), []string{"a.test.yaml"}; !slices.Equal(got, want) {
		t.Errorf("tests=%v, want %v", got, want)
	}
	if _, _, err := Files(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Files(missing folder): no error")
	}
	if _, ps := LoadPaths(filepath.Join(dir, "missing")); !ps.HasErrors() {
		t.Errorf("LoadPaths(missing folder): no error")
	}
}
