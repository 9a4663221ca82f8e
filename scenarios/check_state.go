package scenarios

import (
	"fmt"
	"sort"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
)

// stateCheck is the checking of one state, with what its parts share.
type stateCheck struct {
	*checker
	st    *stateDef
	path  string   // states.NAME
	terms []string // the terminal actions it has, in key order
	asks  bool     // ask: is written (or misspelled)
	waits bool     // ask:, menu: or on: is written (or misspelled)
	// nextFlagged: next: already has an error of this check
	nextFlagged bool
}

func (s *stateCheck) key(k string) string { return s.path + "." + k }

// written reports whether key k is written: a key whose value was rejected
// while decoding still counts, so that its error is not followed by others
// that assume it is absent; a misspelled key ("nxet:") counts as the key it
// was meant to be.
func (s *stateCheck) written(k string, set bool) bool { return set || s.typo(&s.st.scope, k) }

// state runs the rules of one state.
func (c *checker) state(st *stateDef) {
	s := &stateCheck{checker: c, st: st, path: "states." + st.Name}
	s.asks = s.written("ask", st.Ask.Set)
	s.waits = s.asks || s.written("menu", st.Menu.Set) || s.written("on", st.On.Set)
	s.terminals()
	if s.asks {
		s.ask()
	} else {
		s.noAsk()
	}
	if st.Branch.Set && s.asks && !st.Type.Bad {
		s.branches()
	}
	if st.Branches.Set {
		s.ifBranches()
	}
	if st.Remind.Set {
		s.remind()
	}
	if st.CRMLead.V.Fields.Set {
		s.crmLead()
	}
	s.menuTexts()
	s.call()
	s.refs()
	s.deadEnd()
}

// terminals: at most one terminal action, and nothing that waits or moves
// on beside it.
func (s *stateCheck) terminals() {
	st := s.st
	for _, t := range []struct {
		key string
		on  bool
		at  Pos
	}{
		{"operator", st.Operator.Set, st.Operator.At},
		{"transfer", st.Transfer.Set, st.Transfer.At},
		{"finish", st.Finish.Set && (st.Finish.V || st.Finish.Bad), st.Finish.At},
	} {
		if t.on {
			s.terms = append(s.terms, t.key)
			if len(s.terms) == 2 {
				s.errorf(t.at, s.key(t.key), ErrTerminal, "keep one: a state hands off, transfers, or finishes", "%s and %s in one state: both end the bot's part", s.terms[0], t.key)
			}
		}
	}
	if len(s.terms) == 0 {
		return
	}
	for _, k := range []struct {
		key string
		set bool
		at  Pos
	}{{"next", st.Next.Set, st.Next.At}, {"ask", st.Ask.Set, st.Ask.At}, {"menu", st.Menu.Set, st.Menu.At}, {"on", st.On.Set, st.On.At}} {
		if k.set {
			t := s.terms[0]
			s.errorf(k.at, s.key(k.key), ErrTerminal, fmt.Sprintf("remove %s:, or move %s: into a state of its own", k.key, t), "%s: beside %s: — %s: ends the bot's part of the dialog, so %s: is never used", k.key, t, t, k.key)
			s.nextFlagged = s.nextFlagged || k.key == "next"
		}
	}
}

// ask: an ask and its companions.
func (s *stateCheck) ask() {
	st := s.st
	typeOK := !st.Type.Bad
	if st.Save.V == "" && !s.written("save", st.Save.Set) && !s.claim(&st.scope, "save", "ask without save: the answer would be lost") {
		s.errorf(st.Ask.At, s.key("ask"), ErrMissing, "add save: FIELD, the name the answer is kept under (e.g. save: name)", "ask without save: the answer would be lost")
	}
	if st.Next.V == "" && !st.Branch.Set && !s.written("next", st.Next.Set) && len(s.terms) == 0 && !s.claim(&st.scope, "next", "ask without next") {
		s.errorf(st.Ask.At, s.key("ask"), ErrAskNoNext, "add next: STATE — where to go after a valid answer", "ask without next: olbot does not know where to go after a valid answer")
	}
	typ := st.answerType()
	s.fileAsk(typ)
	if typeOK && typ == answers.Choice && len(st.Options.V) == 0 && !st.Options.Set {
		s.errorf(st.Type.At, s.key("type"), ErrMissing, "add options: [First, Second]", "type choice needs options:")
	}
	if st.Options.Set && typ != answers.Choice && typeOK {
		s.errorf(st.Options.At, s.key("options"), ErrValue, "add type: choice, or remove options:", "options: only applies to an ask of type: choice")
	}
	if typ == answers.Choice && len(st.Menu.V) > 0 {
		s.errorf(st.Menu.At, s.key("menu"), ErrValue, "a choice shows its options as buttons; remove menu: or use another type", "menu: beside type: choice")
	}
	if st.Validate.V != "" && typeOK {
		if err := answers.CheckTag(typ, st.Validate.V); err != nil {
			s.errorf(st.Validate.At, s.key("validate"), ErrValidateTag, "write rules such as min=2,max=40 (length of a text) or gte=18 (a number); see validate: in the README", "%v", err)
		}
	}
	if st.OnFail.V == "" && !s.written("on_fail", st.OnFail.Set) && len(s.terms) == 0 {
		s.warnf(st.Ask.At, s.key("ask"), ErrNoOnFail, "add on_fail: STATE; without it the client is handed to any free operator", "no on_fail: after %d bad answers the dialog goes to an operator", s.def.retries(st)+1)
	}
}

// noAsk: a state without ask: has none of its companions.
func (s *stateCheck) noAsk() {
	st := s.st
	for _, k := range []struct {
		key string
		set bool
		at  Pos
	}{{"save", st.Save.Set, st.Save.At}, {"type", st.Type.Set, st.Type.At}, {"validate", st.Validate.Set, st.Validate.At}, {"options", st.Options.Set, st.Options.At},
		{"accept", st.Accept.Set, st.Accept.At}, {"max_size", st.MaxSize.Set, st.MaxSize.At}} {
		if k.set {
			s.errorf(k.at, s.key(k.key), ErrValue, "add ask: with the question, or remove "+k.key+":", "%s: only applies to a state with ask:", k.key)
		}
	}
	if st.Branch.Set {
		s.errorf(st.Next.At, s.key("next"), ErrValue, "use next: STATE here; branches follow the answer of a yesno or choice ask", "next: with branches needs an ask: of type yesno or choice")
	}
	if !s.waits {
		for _, k := range []struct {
			key string
			set bool
			at  Pos
		}{{"retry", st.Retry.Set, st.Retry.At}, {"retries", st.Retries.Set, st.Retries.At}, {"on_fail", st.OnFail.Set, st.OnFail.At}} {
			if k.set {
				s.warnf(k.at, s.key(k.key), ErrValue, "remove it, or make the state wait with ask:, menu: or on:", "%s: is never used: this state does not wait for the client", k.key)
			}
		}
	} else if st.Next.V == "" && !s.written("next", st.Next.Set) && !s.written("on_fail", st.OnFail.Set) && len(s.terms) == 0 {
		s.warnf(st.At, s.path, ErrNoOnFail, "add on_fail: STATE, or next: STATE for input that matches nothing", "no on_fail: after %d unmatched messages the dialog goes to an operator", s.def.retries(st)+1)
	}
}

// branches: the branches of next: match the answers of a yesno or choice ask.
func (s *stateCheck) branches() {
	st := s.st
	complete := !st.Next.Bad && !s.nextFlagged
	var want []string // the branches the answers need
	var unknown func(k string) (hint, msg string)
	switch st.answerType() {
	case answers.YesNo:
		want = []string{"yes", "no"}
		unknown = func(k string) (string, string) {
			return s.didYouMeanOr(k, want, "a yesno answer branches on yes: and no:"), fmt.Sprintf("unknown branch %q", k)
		}
	case answers.Choice:
		for _, o := range st.Options.V {
			want = append(want, o.V)
		}
		unknown = func(k string) (string, string) {
			return s.didYouMeanOr(k, want, "branch names are the options' texts: "+listOf(want)), fmt.Sprintf("%q is not one of the options", k)
		}
	default:
		s.errorf(st.Next.At, s.key("next"), ErrValue, "use next: STATE, or type: yesno / choice", "next: with branches needs type yesno or choice, not %s", st.answerType())
		return
	}
	wanted := make(map[string]bool, len(want))
	for _, k := range want {
		wanted[k] = true
	}
	has := make(map[string]bool, len(st.Branch.V))
	meant := map[string]bool{} // a misspelled branch stands for the one it resembles
	for _, b := range sortedBranches(st.Branch.V) {
		has[b.Key] = true
		if !wanted[b.Key] {
			meant[s.suggest(b.Key, want)] = true
			hint, msg := unknown(b.Key)
			s.errorf(b.To.At, s.key("next."+b.Key), ErrValue, hint, "%s", msg)
		}
	}
	for _, k := range want {
		if !has[k] && complete && !meant[k] {
			if st.answerType() == answers.YesNo {
				s.errorf(st.Next.At, s.key("next"), ErrMissing, "add "+k+": STATE", "no branch for %q", k)
			} else {
				s.errorf(st.Next.At, s.key("next"), ErrMissing, fmt.Sprintf("add %q: STATE", k), "no branch for option %q", k)
			}
		}
	}
}

// menuTexts: each button has its own text.
func (s *stateCheck) menuTexts() {
	seen := map[string]int{}
	for i, mi := range s.st.Menu.V {
		c := match.Clean(mi.Text.V)
		if j, ok := seen[c]; ok && c != "" {
			s.errorf(mi.Text.At, fmt.Sprintf("%s[%d].text", s.key("menu"), i), ErrValue, "give each button its own text", "the same button text as item %d", j+1)
		}
		seen[c] = i
	}
}

// refs: every state the state leads to exists.
func (s *stateCheck) refs() {
	st := s.st
	s.ref(st.Name, st.Next, s.key("next"))
	for _, b := range sortedBranches(st.Branch.V) {
		s.ref(st.Name, b.To, s.key("next."+b.Key))
	}
	s.ref(st.Name, st.OnFail, s.key("on_fail"))
	s.ref(st.Name, st.Call.OnError, s.key("on_error"))
	for i, mi := range st.Menu.V {
		s.ref(st.Name, mi.Goto, fmt.Sprintf("%s[%d].goto", s.key("menu"), i))
	}
	for i, r := range st.On.V {
		s.ref(st.Name, r.Goto, fmt.Sprintf("%s[%d].goto", s.key("on"), i))
	}
}

// deadEnd: a state waits, moves on, or ends.
func (s *stateCheck) deadEnd() {
	st := s.st
	ends := len(s.terms) > 0 || s.typo(&st.scope, "operator") || s.typo(&st.scope, "transfer") || s.typo(&st.scope, "finish")
	if !s.waits && !ends && st.Next.V == "" && !s.written("next", st.Next.Set) {
		s.errorf(st.At, s.path, ErrDeadEnd, "add next: STATE, or wait with ask:/menu:/on:, or end with operator:, transfer: or finish: true", "state %q is a dead end: it neither waits, moves on, nor ends", st.Name)
	}
}

// sortedBranches returns the branches by key.
func sortedBranches(list []branchDef) []branchDef {
	out := append([]branchDef(nil), list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
