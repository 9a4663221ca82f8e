package scenarios

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
)

// TestFile is a parsed conversation test file (*.test.yaml).
type TestFile struct {
	File     string
	Scenario string
	Tests    []Test
}

// Test is one conversation that must keep working.
type Test struct {
	Name  string
	Pos   Pos
	Steps []TestStep
	// LineHours is line_hours:, the working time of the dialog's Open Line
	// for from_line hours (tests never reach a portal); nil: not known,
	// so from_line hours count as open.
	LineHours *Schedule
	// Calls are the answers of the calls the test expects, in order.
	Calls []TestCall
}

// Step kinds of a conversation test.
const (
	StepStart  = "start"
	StepUser   = "user"
	StepButton = "button"
	StepIdle   = "idle"
	StepWait   = "wait"
	StepClose  = "close"
	StepBot    = "bot"
	StepExpect = "expect"
)

// TestStep is one step: an input (start, user, button, idle, close) or a check (bot, expect).
type TestStep struct {
	Kind   string
	Pos    Pos
	Text   string // user text, button text, expected bot text (glob)
	Button int    // button number
	Client string // start
	Line   int    // start
	At     string // start: the clock, "2027-01-09T20:00" (in the scenario's zone) or RFC 3339
	Wait   time.Duration
	// Language is the Open Line's language of a start step, "" when not given.
	Language string
	// Buttons are the expected button texts of a bot step; nil means unchecked.
	Buttons []string
	// Image and File are the expected attachment addresses of a bot step
	// (* patterns); nil means unchecked, "" that there is none.
	Image, File *string
	// Upload is the file a user step sends (user: {file: …}), nil for a text.
	Upload *answers.ClientFile
	Expect *Expect
}

// Expect is the state and the actions a test expects since the last input.
type Expect struct {
	State     *string
	Language  *string // the dialog's language
	Finished  *bool
	HandedOff *bool
	Fields    map[string]string // subset
	Operator  *bool             // operator: any (true) or false
	Transfer  *ExpectTransfer   // subset match
	Greet     *ExpectGreet
	CRM       *bool
	Note      *string // the operator note posted since the last input (a * pattern)
}

// ExpectTransfer is a subset of a Transfer action.
type ExpectTransfer struct {
	User, Line *int
	Leave      *bool
}

// ExpectGreet checks the greeting: Want false means no greeting; Text is a glob
// ("" matches any); Welcome expects greet: true (the line's own greeting).
type ExpectGreet struct {
	Want    bool
	Text    string
	Welcome bool
}

// ParseTests parses a conversation test file.
func ParseTests(file string, src []byte) (*TestFile, Problems) {
	if len(src) > MaxFileSize {
		return nil, Problems{{File: file, Pos: Pos{1, 1}, Err: ErrTooLarge, Msg: fmt.Sprintf("the file is %d bytes; test files are limited to 1 MiB", len(src)), Hint: "split it into several files"}}
	}
	root, p := parseYAML(file, src)
	if p != nil {
		return nil, Problems{p}
	}
	if p := notScenario(file, root, testFileKeys, "conversation test"); p != nil {
		return nil, Problems{p}
	}
	p, limit := aliasBomb(file, root)
	if p != nil {
		return nil, Problems{p}
	}
	d := &decoder{file: file, maxNodes: limit}
	tf := &TestFile{File: file}
	var hasScenario, hasTests bool
	d.mapping(root, "", testFileKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "scenario":
			hasScenario = true
			tf.Scenario, _ = d.name(v, p, "scenario")
		case "tests":
			hasTests = true
			d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
				if t, ok := d.test(item, ip); ok {
					tf.Tests = append(tf.Tests, t)
				}
			})
		}
	})
	if root.Kind == yaml.MappingNode {
		if !hasScenario {
			d.missing(root, "", []string{"scenario"}, true, "add scenario: NAME — the name of the scenario under test", "no scenario:")
		}
		if !hasTests {
			d.missing(root, "", []string{"tests"}, true, "add tests: with a list of conversations", "no tests:")
		}
	}
	d.problems.Sort()
	if d.problems.HasErrors() {
		return nil, d.problems
	}
	return tf, d.problems
}

// LoadTests reads and parses a conversation test file.
func LoadTests(path string) (*TestFile, Problems) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, Problems{readProblem(path, err, "test")}
	}
	return ParseTests(path, src)
}

func (d *decoder) test(n *yaml.Node, p string) (Test, bool) {
	t := Test{Pos: posOf(n)}
	var hasSteps bool
	ok := d.mapping(n, p, testKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "name":
			t.Name, _ = d.text(v, p)
		case "line_hours":
			if v.Kind == yaml.ScalarNode && v.Value == "from_line" {
				d.errorf(v, p, ErrHours, `give the line's working time, e.g. line_hours: {mon-fri: "09:00-18:00"}`, "line_hours: is the line's own schedule, not from_line")
				break
			}
			t.LineHours = d.schedule(v, p)
		case "calls":
			t.Calls = d.testCalls(v, p)
		case "steps":
			hasSteps = true
			d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
				if s, ok := d.step(item, ip); ok {
					t.Steps = append(t.Steps, s)
				}
			})
		}
	})
	if !ok {
		return t, false
	}
	if t.Name == "" {
		t.Name = fmt.Sprintf("test at line %d", n.Line)
	}
	if !hasSteps {
		d.missing(n, p, []string{"steps"}, true, "add steps: with start:, user:, bot: and expect: steps", "a test needs steps:")
		return t, false
	}
	return t, true
}

func (d *decoder) step(n *yaml.Node, p string) (TestStep, bool) {
	s := TestStep{Pos: posOf(n)}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, p, ErrValue, "write one step per item, e.g. - user: hello", "a step is one of %v with its value", stepKeys)
		return s, false
	}
	ok := true
	d.mapping(n, p, stepKeys, func(key string, k, v *yaml.Node, p string) {
		s.Kind = key
		switch key {
		case StepStart:
			if isNull(v) {
				return
			}
			d.mapping(v, p, startKeys, func(key string, k, v *yaml.Node, p string) {
				switch key {
				case "client":
					s.Client, _ = d.text(v, p)
				case "line":
					s.Line, _ = d.integer(v, p, 1)
				case "at":
					s.At, _ = d.text(v, p)
					if _, err := TestTime(s.At, time.UTC); err != nil {
						d.errorf(v, p, ErrValue, `write a time like "2027-01-09T20:00"`, "%q is not a time", s.At)
					}
				case "language":
					s.Language = d.testLanguage(v, p)
				}
			})
		case StepIdle, StepClose:
			if !isNull(v) {
				d.mapping(v, p, []string{}, func(string, *yaml.Node, *yaml.Node, string) {})
			}
		case StepWait:
			w := d.idle(v, p)
			s.Wait, ok = w.V, !w.Bad
		case StepUser:
			ok = d.userStep(v, p, &s)
		case StepButton:
			if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
				s.Button, ok = d.integer(v, p, 1)
			} else {
				s.Text, ok = d.text(v, p)
			}
		case StepBot:
			if v.Kind == yaml.ScalarNode {
				s.Text, ok = d.text(v, p)
				return
			}
			s.Text = "*"
			d.mapping(v, p, botKeys, func(key string, k, v *yaml.Node, p string) {
				switch key {
				case "text":
					s.Text, _ = d.text(v, p)
				case "buttons":
					b, _, _ := d.texts(v, p)
					s.Buttons = append([]string{}, b...)
				case "image", "file":
					want := d.attachWant(v, p)
					if key == "image" {
						s.Image = want
					} else {
						s.File = want
					}
				}
			})
		case StepExpect:
			s.Expect = d.expect(v, p)
		}
	})
	return s, ok && s.Kind != ""
}

func (d *decoder) expect(n *yaml.Node, p string) *Expect {
	e := &Expect{}
	boolPtr := func(v *yaml.Node, p string) *bool {
		b, ok := d.boolean(v, p)
		if !ok {
			return nil
		}
		return &b
	}
	d.mapping(n, p, expectKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "state":
			if s, ok := d.name(v, p, "state"); ok {
				e.State = &s
			}
		case "language":
			if s := d.testLanguage(v, p); s != "" {
				e.Language = &s
			}
		case "note":
			if s, ok := d.text(v, p); ok {
				e.Note = &s
			}
		case "finished":
			e.Finished = boolPtr(v, p)
		case "handed_off":
			e.HandedOff = boolPtr(v, p)
		case "fields":
			e.Fields = map[string]string{}
			d.mapping(v, p, nil, func(key string, k, v *yaml.Node, p string) {
				e.Fields[key], _ = d.text(v, p)
			})
		case "operator":
			if v.Tag == "!!bool" {
				e.Operator = boolPtr(v, p)
			} else if s, ok := d.text(v, p); ok {
				if s != "any" {
					d.errorf(v, p, ErrValue, "write operator: any", "unknown operator %q", s)
				}
				t := true
				e.Operator = &t
			}
		case "transfer":
			tr := &ExpectTransfer{}
			d.mapping(v, p, transferKeys, func(key string, k, v *yaml.Node, p string) {
				switch key {
				case "user":
					if n, ok := d.integer(v, p, 1); ok {
						tr.User = &n
					}
				case "line":
					if n, ok := d.integer(v, p, 1); ok {
						tr.Line = &n
					}
				case "leave":
					tr.Leave = boolPtr(v, p)
				}
			})
			e.Transfer = tr
		case "greet":
			if v.Tag == "!!bool" {
				if b := boolPtr(v, p); b != nil {
					e.Greet = &ExpectGreet{Want: *b}
				}
			} else if s, ok := d.text(v, p); ok {
				e.Greet = &ExpectGreet{Want: true, Text: s}
			}
		case "crm":
			if v.Tag == "!!bool" {
				e.CRM = boolPtr(v, p)
			} else if s, ok := d.text(v, p); ok {
				if s != "lead" {
					d.errorf(v, p, ErrValue, "write crm: lead, or crm: true/false", "unknown crm target %q", s)
				}
				t := true
				e.CRM = &t
			}
		}
	})
	return e
}

// TestTime parses the clock of a test's start: "2027-01-09T20:00" (or with
// seconds) in loc, or an RFC 3339 time with its own zone.
func TestTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// testLanguage decodes a language code of a test file.
func (d *decoder) testLanguage(v *yaml.Node, p string) string {
	s, ok := d.text(v, p)
	if !ok {
		return ""
	}
	if good, hint := languageCode(s); !good {
		d.errorf(v, p, ErrLanguage, hint, "%q is not a language code", s)
		return ""
	}
	return s
}
