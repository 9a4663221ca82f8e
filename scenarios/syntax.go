package scenarios

import (
	"fmt"
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
	lines := splitLines(string(src))
	line, msg := 1, p.Msg
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 counts lines from 1 in scanner errors but from 0 in
		// parser errors ("did not find expected …").
		if strings.HasPrefix(msg, "did not find expected") && !scannerError(msg) {
			line++
		}
	}
	line = max(1, min(line, len(lines)))
	p.Pos = Pos{line, indentCol(lines, line)}
	p.Msg = msg
	if strings.HasPrefix(msg, "unknown anchor") {
		p.Msg = "an alias (*name) refers to an anchor (&name) that is not defined above it"
		p.Hint = "define the anchor first with &name, or write the value out"
		if name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced"); name != msg {
			p.Msg = fmt.Sprintf("*%s refers to an anchor &%s that is not defined above it", name, name)
			p.Hint = fmt.Sprintf("mark the value to repeat with &%s before this line, or write the value out; a value starting with * must be in quotes", name)
			for i, l := range lines {
				if c := strings.Index(stripComment(l), "*"+name); c >= 0 {
					p.Pos = Pos{i + 1, len([]rune(l[:c])) + 1}
					break
				}
			}
		}
		return p
	}

	if bad, col, ok := tabIndent(lines); ok && (strings.Contains(msg, "cannot start any token") || strings.Contains(msg, "tab")) {
		p.Pos = Pos{bad, col}
		p.Msg = "a tab character in the indentation"
		p.Hint = "YAML indents with spaces only: replace the tab with spaces"
		return p
	}
	switch {
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"):
		// yaml.v3 reports parser errors at the (0-based) line where the
		// enclosing block began; the line to fix is at or below it.
		if bad, want, deeper, ok := misindented(lines, line); ok {
			got := indentOf(lines[bad-1])
			p.Pos = Pos{bad, got + 1}
			p.Msg = "this line is indented by " + spaces(got) + ", which matches no block around it"
			p.Hint = indentHint(lines, bad, want, deeper) + "; nesting in YAML is by indentation"
			return p
		}
		if l, c, q, early, ok := unclosedQuote(lines, line); ok {
			p.Pos = Pos{l, c}
			p.Msg = "the quoted text that starts here is not closed on its line"
			p.Hint = "end the text with " + q + " on the same line; to show " + q + " inside it, write " + quoteEscape(q)
			if early > 0 {
				p.Pos.Col = early
				p.Msg = fmt.Sprintf("this %s ends the quoted text that starts at column %d, and the rest of the line is left over", q, c)
				p.Hint = "to show " + q + " inside the text, write " + quoteEscape(q) + otherQuote(q)
			}
			return p
		}
		p.Hint = "check the indentation of the lines in this block: keys of one block start in the same column"
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		if prev, ok := continued(lines, line); ok {
			p.Msg = "this line is indented deeper than line " + strconv.Itoa(prev) + " above it, so YAML reads it as more text of that line"
			p.Hint = "if it is a key of its own, indent it by " + spaces(indentOf(lines[prev-1])) + " like line " + strconv.Itoa(prev) + "; if it is more text, put the whole text in quotes"
			return p
		}
		p.Msg = "a second \": \" on this line"
		p.Hint = "put text that contains \": \" in quotes, e.g. say: \"Note: we are open\""
		if c := strings.Index(stripComment(lineAt(lines, line)), ": "); c >= 0 {
			if c2 := strings.Index(lineAt(lines, line)[c+2:], ": "); c2 >= 0 {
				p.Pos.Col = c + 2 + c2 + 1
			}
		}
	case strings.HasPrefix(msg, "found unexpected end of stream"):
		p.Msg = "the file ends inside a quoted text"
		p.Hint = "close the quote that starts here"
		if l, c, q, _, ok := unclosedQuote(lines, line); ok {
			p.Pos = Pos{l, c}
			p.Hint = "end the text with " + q + " on the same line; to show " + q + " inside it, write " + quoteEscape(q)
		}
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"),
		strings.HasPrefix(msg, "did not find expected node content") && unclosedFlow(lines, line, '[', ']') != (Pos{}):
		p.Msg = "a [list] is not closed"
		p.Hint = "close it with ] on the same line, e.g. lines: [1, 2]"
		if at := unclosedFlow(lines, line, '[', ']'); at != (Pos{}) {
			p.Pos = at
		}
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"),
		strings.HasPrefix(msg, "did not find expected node content") && unclosedFlow(lines, line, '{', '}') != (Pos{}):
		p.Msg = "a {map} is not closed"
		p.Hint = "close it with } on the same line, e.g. transfer: {line: 2}"
		if at := unclosedFlow(lines, line, '{', '}'); at != (Pos{}) {
			p.Pos = at
		}
	case strings.HasPrefix(msg, "found character that cannot start any token"):
		p.Hint = "a value may not start with @ or `: put it in quotes"
	case strings.HasPrefix(msg, "could not find expected ':'"):
		p.Hint = "every key needs a colon and a space after it, e.g. say: Hello"
	}
	if p.Hint == "" {
		p.Hint = "check this line and the ones just above it: quotes and brackets must be closed, and keys of one block start in the same column"
	}
	return p
}

// scannerError reports whether a "did not find expected …" message comes
// from yaml.v3's scanner (1-based line) rather than its parser (0-based).
func scannerError(msg string) bool {
	for _, m := range []string{"comment or line break", "digit or '.' character", "version number", "whitespace", "alphabetic or numeric character", "'!'", "tag URI", "URI escaped octet"} {
		if strings.HasPrefix(msg, "did not find expected "+m) {
			return true
		}
	}
	return false
}

func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return strconv.Itoa(n) + " spaces"
}

// indentHint suggests the indentations a mis-indented line probably meant,
// naming a line above with each so the author can line them up: first the
// block the line falls out of (deeper), then the enclosing one (want); a
// list item ("- ") is matched with list items first.
func indentHint(lines []string, bad, want, deeper int) string {
	isDash := func(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "- ") }
	ref := func(in int) (string, bool, bool) {
		for i := bad - 2; i >= 0; i-- {
			body := stripComment(lines[i])
			if strings.TrimSpace(body) == "" {
				continue
			}
			switch got := indentOf(lines[i]); {
			case got == in:
				return "by " + spaces(in) + " like line " + strconv.Itoa(i+1) + " (" + strings.TrimSpace(body) + ")", isDash(body), true
			case got < in:
				return "", false, false
			}
		}
		return "", false, false
	}
	var refs []string
	deepRef, deepDash, okDeep := ref(deeper)
	wantRef, wantDash, okWant := ref(want)
	if okDeep {
		refs = append(refs, deepRef)
	}
	if okWant {
		if wantDash && !deepDash && isDash(lines[bad-1]) {
			refs = append([]string{wantRef}, refs...)
		} else {
			refs = append(refs, wantRef)
		}
	}
	if len(refs) == 0 {
		return "indent it like the other keys of its block (" + spaces(want) + ")"
	}
	return "indent it " + strings.Join(refs, ", or ")
}

// unclosedQuote finds the first value at or after line from whose quote is
// not closed on its line, or is closed early with text left over after it
// (early > 0 is then the column of the closing quote).
func unclosedQuote(lines []string, from int) (line, col int, quote string, early int, ok bool) {
	for i := max(from-1, 0); i < len(lines); i++ {
		l := lines[i]
		rest := strings.TrimLeft(l, " ")
		for strings.HasPrefix(rest, "- ") {
			rest = strings.TrimLeft(rest[2:], " ")
		}
		if strings.HasPrefix(rest, "#") {
			continue
		}
		if rest != "" && rest[0] != '"' && rest[0] != '\'' {
			k := strings.Index(rest, ": ")
			if k < 0 {
				continue
			}
			rest = strings.TrimLeft(rest[k+2:], " ")
		}
		if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
			continue
		}
		q := rest[0]
		end := -1
		for j := 1; j < len(rest) && end < 0; j++ {
			switch {
			case q == '"' && rest[j] == '\\':
				j++
			case rest[j] == q && q == '\'' && j+1 < len(rest) && rest[j+1] == '\'':
				j++
			case rest[j] == q:
				end = j
			}
		}
		off := len(l) - len(rest)
		col := len([]rune(l[:off])) + 1
		if end < 0 {
			return i + 1, col, string(q), 0, true
		}
		if left := strings.TrimSpace(rest[end+1:]); left != "" && !strings.HasPrefix(left, "#") {
			return i + 1, col, string(q), col + len([]rune(rest[:end])), true
		}
	}
	return 0, 0, "", 0, false
}

func otherQuote(q string) string {
	if q == "'" {
		return ", or put the text in double quotes: \"We're open\""
	}
	return ", or put the text in single quotes: 'He said \"hi\"'"
}

func quoteEscape(q string) string {
	if q == "'" {
		return "''"
	}
	return "\\\""
}

// continued reports whether line n is indented deeper than the key: value
// line above it, so that YAML took it as a continuation of that value.
func continued(lines []string, n int) (prev int, ok bool) {
	cur := lineAt(lines, n)
	for i := n - 2; i >= 0; i-- {
		body := stripComment(lines[i])
		if strings.TrimSpace(body) == "" {
			continue
		}
		t := strings.TrimRight(body, " ")
		if indentOf(cur) > indentOf(lines[i]) && strings.Contains(t, ": ") && !strings.HasSuffix(t, ":") && !blockScalar.MatchString(t) {
			return i + 1, true
		}
		return 0, false
	}
	return 0, false
}

// unclosedFlow finds the [list] or {map} that is not closed on its line,
// the last one starting at or before line n, else the first after it.
func unclosedFlow(lines []string, n int, open, close byte) Pos {
	var before, after Pos
	for i, l := range lines {
		body := stripComment(l)
		depth, first := 0, -1
		var q byte
		for j := 0; j < len(body); j++ {
			c := body[j]
			switch {
			case q != 0:
				if c == q {
					q = 0
				}
			case (c == '"' || c == '\'') && (j == 0 || strings.ContainsRune(" [{,", rune(body[j-1]))):
				q = c
			case c == open:
				if depth == 0 {
					first = j
				}
				depth++
			case c == close && depth > 0:
				depth--
			}
		}
		if depth == 0 {
			continue
		}
		at := Pos{i + 1, len([]rune(body[:first])) + 1}
		if i+1 <= n {
			before = at
		} else if after == (Pos{}) {
			after = at
		}
	}
	if before != (Pos{}) {
		return before
	}
	return after
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
// 1-based line and the two indentations it probably meant: the enclosing
// block's (want) and the block just above it that the line falls out of
// (deeper, -1 when none).
func misindented(lines []string, from int) (line, want, deeper int, ok bool) {
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
			popped := -1
			for len(stack) > 1 && stack[len(stack)-1] > ind {
				popped = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			if top := stack[len(stack)-1]; top != ind && i+1 >= from {
				return i + 1, top, popped, true
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
	return 0, 0, 0, false
}

// splitLines splits a file into lines as YAML counts them: a line ends at
// \n, \r\n, a lone \r, or (as yaml.v3 reads them) NEL, LS and PS.
func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		n := 0 // length of the line break at i
		switch {
		case s[i] == '\n':
			n = 1
		case s[i] == '\r':
			n = 1
			if i+1 < len(s) && s[i+1] == '\n' {
				n = 2
			}
		case strings.HasPrefix(s[i:], "\u0085"):
			n = 2
		case strings.HasPrefix(s[i:], "\u2028"), strings.HasPrefix(s[i:], "\u2029"):
			n = 3
		}
		if n == 0 {
			i++
			continue
		}
		lines = append(lines, s[start:i])
		i += n
		start = i
	}
	return append(lines, s[start:])
}
