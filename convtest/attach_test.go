package convtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const attachScenario = `name: pics
lines: [5]
start: where
states:
  where:
    say: {text: "Our address", image: "https://example.com/map.png"}
    next: name
  name:
    ask: {text: "Your name?", file: "https://example.com/form.pdf"}
    save: name
    on_fail: sorry
    next: bye
  sorry:
    say: "Sorry"
    finish: true
  bye:
    say: "Bye, {{name}}"
    finish: true
`

// TestAttachSteps: a bot step's image: and file: check the message's
// attachment (a * pattern; false: none), and each kind of difference is
// reported.
func TestAttachSteps(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		fail        string // "" when the test must pass
	}{
		{"image and file as sent", `
      - bot: {text: "Our address", image: "https://example.com/map.png", file: false}
      - bot: {text: "Your name?", file: "https://example.com/*.pdf", image: false}
      - user: Ann
      - bot: {text: "Bye, Ann", image: false, file: false}`, ""},
		{"unchecked when not given", `
      - bot: "Our address"
      - bot: {text: "Your name?"}`, ""},
		{"another image", `
      - bot: {image: "https://example.com/other.png"}`, `image "https://example.com/map.png", want "https://example.com/other.png"`},
		{"an image where none is expected", `
      - bot: {text: "Our address", image: false}`, `the message has the image "https://example.com/map.png", want none`},
		{"no file where one is expected", `
      - bot: {text: "Our address", file: "https://example.com/map.pdf"}`, `the message has no file, want "https://example.com/map.pdf"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tests := "scenario: pics\ntests:\n  - name: t\n    steps:\n      - start: {}" + tc.steps + "\n"
			for name, body := range map[string]string{"pics.yaml": attachScenario, "pics.test.yaml": tests} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, results, problems := RunPaths(nil, dir)
			if problems.HasErrors() {
				t.Fatal(problems.Errors())
			}
			if len(results) != 1 {
				t.Fatalf("%d results", len(results))
			}
			r := results[0]
			switch {
			case tc.fail == "" && !r.Pass:
				t.Fatalf("failed: %s", r)
			case tc.fail != "" && (r.Pass || !strings.Contains(r.Failure, tc.fail)):
				t.Fatalf("%s\nwant a failure %q", r, tc.fail)
			}
		})
	}
}
