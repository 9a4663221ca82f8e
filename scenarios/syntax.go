package scenarios

import (
	"regexp"
	"strconv"
	"strings"
)

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 parse error into a Problem that points at the
// line a person must fix. yaml.v3 reports block-structure errors ("did not
// find expected key") at the line where the enclosing block began, which may
// be far above the mis-indented line, so those are re-located by scanning the
// indentation.
func syntaxProblem(file string, src []byte, err error) *Problem {
	p := &Problem{File: file, Pos: Pos{1, 1}, Err: ErrSyntax, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return p
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	lines := strings.Split(string(src), "\n")
	p.Pos = Pos{line, indentCol(lines, line)}
	p.Msg = msg

	if bad, col, ok := tabIndent(lines); ok && (strings.Contains(msg, "cannot start any token") || strings.Contains(msg, "tab")) {
		p.Pos = Pos{bad, col}
		p.Msg = "a tab character in the indentation"
		p.Hint = "YAML indents with spaces only: replace the tab with spaces"
		return p
	}
	switch {
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"):
		if bad, want, ok := misindented(lines, line); ok {
			got := indentOf(lines[bad-1])
			p.Pos = Pos{bad, got + 1}
			p.Msg = "this line is indented by " + strconv.Itoa(got) + " spaces, which matches no enclosing block"
			p.Hint = "indent it like the other keys of its block (" + strconv.Itoa(want) + " spaces); nesting in YAML is by indentation"
			return p
		}
		p.Hint = "check the indentation of the lines in this block: keys of one block start in the same column"
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		p.Msg = "a second \": \" on this line"
		p.Hint = "put text that contains \": \" in quotes, e.g. say: \"Note: we are open\"; or check that this line is not indented deeper than its block"
		if c := strings.Index(stripComment(lineAt(lines, line)), ": "); c >= 0 {
			if c2 := strings.Index(lineAt(lines, line)[c+2:], ": "); c2 >= 0 {
				p.Pos.Col = c + 2 + c2 + 1
			}
		}
	case strings.HasPrefix(msg, "found unexpected end of stream"):
		p.Msg = "the file ends inside a quoted text"
		p.Hint = "close the quote that starts on this line"
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		p.Msg = "a [list] is not closed"
		p.Hint = "close it with ] on the same line, e.g. lines: [1, 2]"
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"):
		p.Msg = "a {map} is not closed"
		p.Hint = "close it with } on the same line, e.g. transfer: {line: 2}"
	case strings.HasPrefix(msg, "found character that cannot start any token"):
		p.Hint = "a value may not start with @ or `: put it in quotes"
	case strings.HasPrefix(msg, "could not find expected ':'"):
		p.Hint = "every key needs a colon and a space after it, e.g. say: Hello"
	}
	return p
}

func lineAt(lines []string, n int) string {
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

func indentCol(lines []string, n int) int { return indentOf(lineAt(lines, n)) + 1 }

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	return s
}

func tabIndent(lines []string) (line, col int, ok bool) {
	for i, l := range lines {
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if j := strings.IndexByte(lead, '\t'); j >= 0 && strings.TrimSpace(l) != "" {
			return i + 1, j + 1, true
		}
	}
	return 0, 0, false
}

var blockScalar = regexp.MustCompile(`:\s*[|>][-+0-9]*\s*$`)

// misindented finds the first line at or after from whose indentation closes
// a block without returning to any enclosing block's column. It returns the
// 1-based line and the column the line probably meant.
func misindented(lines []string, from int) (line, want int, ok bool) {
	stack := []int{0}
	scalarAbove := -1 // inside a block scalar: lines indented deeper than this are text
	for i, l := range lines {
		body := stripComment(l)
		if strings.TrimSpace(body) == "" {
			continue
		}
		ind := indentOf(l)
		if scalarAbove >= 0 {
			if ind > scalarAbove {
				continue
			}
			scalarAbove = -1
		}
		if ind > stack[len(stack)-1] {
			stack = append(stack, ind)
		} else {
			for len(stack) > 1 && stack[len(stack)-1] > ind {
				stack = stack[:len(stack)-1]
			}
			if top := stack[len(stack)-1]; top != ind && i+1 >= from {
				return i + 1, top, true
			}
		}
		// a "- key: v" item opens a block whose keys sit after the dash
		if t := strings.TrimLeft(body, " "); strings.HasPrefix(t, "- ") {
			stack = append(stack, ind+2)
		}
		if blockScalar.MatchString(body) {
			scalarAbove = ind
		}
	}
	return 0, 0, false
}
