package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/olbot/olbot/typo"
)

// Sentinel errors wrapped by Problems, so tests and callers can use errors.Is.
var (
	ErrSyntax          = errors.New("yaml syntax error")
	ErrTooLarge        = errors.New("file too large")
	ErrRead            = errors.New("cannot read file")
	ErrUnknownKey      = errors.New("unknown key")
	ErrValue           = errors.New("bad value")
	ErrMissing         = errors.New("missing key")
	ErrUnknownState    = errors.New("unknown state")
	ErrUnknownType     = errors.New("unknown answer type")
	ErrValidateTag     = errors.New("bad validation rule")
	ErrAskNoNext       = errors.New("ask without next")
	ErrTerminal        = errors.New("terminal action conflict")
	ErrCycle           = errors.New("cycle of passing states")
	ErrDeadEnd         = errors.New("dead-end state")
	ErrNoWayOut        = errors.New("states with no way to an end")
	ErrUnreachable     = errors.New("unreachable state")
	ErrNoOnFail        = errors.New("no on_fail")
	ErrNoOnIdle        = errors.New("no on_idle")
	ErrTemplate        = errors.New("template field may be unset")
	ErrDuplicateName   = errors.New("duplicate scenario name")
	ErrTwoDefaults     = errors.New("two default scenarios")
	ErrLineTaken       = errors.New("line served by two scenarios")
	ErrDuration        = errors.New("bad duration")
	ErrOutside         = errors.New("file outside the scenario folder")
	ErrNotScenario     = errors.New("not a scenario file")
	ErrCondition       = errors.New("bad condition")
	ErrHours           = errors.New("bad working hours")
	ErrUnknownEndpoint = errors.New("unknown endpoint")
)

// Problem is one error or warning in a scenario or test file, with its position.
type Problem struct {
	File    string
	Pos     Pos
	Path    string // dotted path of the offending value, e.g. states.ask_email.next
	Msg     string // plain-language description
	Hint    string // how to fix it; may be empty
	Warning bool   // warnings do not block loading
	Err     error  // sentinel, for errors.Is
}

// Error formats the problem as FILE:LINE:COL: [warning: ]PATH: MSG, with the hint on the next line.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", p.File, p.Pos.Line, p.Pos.Col)
	if p.Warning {
		b.WriteString("warning: ")
	} else {
		b.WriteString("error: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Hint != "" {
		b.WriteString("\n    hint: ")
		b.WriteString(p.Hint)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (p *Problem) Unwrap() error { return p.Err }

// Problems is every problem found in one load, errors and warnings.
type Problems []*Problem

// Error joins all problems, one per line, in file and position order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Errors returns only the problems that block loading.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// HasErrors reports whether any problem blocks loading.
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// Err returns ps as an error when it holds errors, else nil.
func (ps Problems) Err() error {
	if ps.HasErrors() {
		return ps
	}
	return nil
}

// Sort orders problems by file, line, column and message, so output is stable.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Msg < b.Msg
	})
}

// Unwrap returns the problems as errors, so that errors.As finds a *Problem
// (the first one) in an error returned by Err.
func (ps Problems) Unwrap() []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// Is reports whether any problem wraps target.
func (ps Problems) Is(target error) bool {
	for _, p := range ps {
		if errors.Is(p, target) {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to s, if it is close enough to be a likely typo.
func suggest(s string, candidates []string) string {
	limit := 2
	n := utf8.RuneCountInString(s)
	if n <= 3 {
		limit = 1
	} else if n >= 9 {
		limit = 3
	}
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if diff := utf8.RuneCountInString(c) - n; diff > limit || -diff > limit {
			continue // the distance is at least the difference in length
		}
		d := typo.Distance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD <= limit {
		return best
	}
	return prefixMatch(s, candidates)
}

// prefixMatch returns the one candidate that shares the longest beginning
// with s ("retry" → "retries", "go" → "goto"): at least 4 letters, or all of
// s when s is shorter. Ties suggest nothing.
func prefixMatch(s string, candidates []string) string {
	rs := []rune(strings.ToLower(s))
	best, bestN, tie := "", 0, false
	for _, c := range candidates {
		rc := []rune(strings.ToLower(c))
		n := 0
		for n < len(rs) && n < len(rc) && rs[n] == rc[n] {
			n++
		}
		if n < 4 && (n < 2 || n != len(rs)) {
			continue
		}
		switch {
		case n > bestN:
			best, bestN, tie = c, n, false
		case n == bestN:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// listOf joins names for a hint, shortened when there are many.
func listOf(names []string) string {
	const most = 12
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d in all)", strings.Join(names[:most], ", "), len(names))
}

// didYouMean formats a hint for a likely typo, or "" when nothing is close.
func didYouMean(s string, candidates []string) string {
	if m := suggest(s, candidates); m != "" {
		return fmt.Sprintf("did you mean %q?", m)
	}
	return ""
}
