package scenarios

import (
	"fmt"
	"sort"
)

// call: a state's lookup and its companions.
func (s *stateCheck) call() {
	st, c := s.st, &s.st.Call
	if !st.calls() {
		for _, k := range []struct {
			key string
			set bool
			at  Pos
		}{{"path", c.Path.Set, c.Path.At}, {"method", c.Method.Set, c.Method.At}, {"body", c.Body.Set, c.Body.At},
			{"save", c.Save.Set, c.Save.At}, {"timeout", c.Timeout.Set, c.Timeout.At}, {"on_error", c.OnError.Set, c.OnError.At}} {
			if k.set && !s.typo(&st.scope, "call") {
				hint := "add call: ENDPOINT, or remove " + k.key + ":"
				if k.key == "save" {
					hint = "a map of fields saves a call's answer: add call: ENDPOINT; an ask saves with save: FIELD"
				}
				s.errorf(k.at, s.key(k.key), ErrValue, hint, "%s: only applies to a state with call:", k.key)
			}
		}
		return
	}
	for _, k := range []struct {
		key string
		set bool
		at  Pos
	}{{"ask", st.Ask.Set, st.Ask.At}, {"menu", st.Menu.Set, st.Menu.At}, {"on", st.On.Set, st.On.At}} {
		if k.set {
			s.errorf(k.at, s.key(k.key), ErrValue, "ask in a state of its own before the call, or show the answer in the call's next state",
				"%s: beside call: — a call state moves on when the answer comes back, it does not wait for the client", k.key)
		}
	}
	for _, t := range s.terms {
		at := map[string]Pos{"operator": st.Operator.At, "transfer": st.Transfer.At, "finish": st.Finish.At}[t]
		s.errorf(at, s.key(t), ErrTerminal, fmt.Sprintf("move %s: into the call's next: or on_error: state", t),
			"%s: beside call: — the dialog would end before the answer comes back", t)
	}
	if c.Body.Set && c.Method.V != MethodPost && !c.Method.Bad {
		s.errorf(c.Body.At, s.key("body"), ErrValue, "add method: POST, or remove body:", "body: is only sent with method: POST")
	}
	if !c.OnError.Set && len(s.terms) == 0 {
		s.warnf(c.Endpoint.At, s.key("call"), ErrNoOnFail, "add on_error: STATE; without it the client is handed to any free operator",
			"no on_error: when the call fails the dialog goes to an operator")
	}
	seen := map[string]bool{}
	for _, sv := range c.Save.V {
		if seen[sv.Field] {
			s.errorf(sv.At, s.key("save."+sv.Field), ErrValue, "save each field once", "field %q is saved twice", sv.Field)
		}
		seen[sv.Field] = true
	}
}

// EndpointUse is a call: of a loaded scenario, where the file writes it.
type EndpointUse struct {
	File, State, Endpoint string
	Pos                   Pos
}

// Endpoints lists the scenario's call: states in file order.
func (s *Scenario) Endpoints() []EndpointUse {
	var out []EndpointUse
	for _, st := range s.def.States.V {
		if st.Call.Endpoint.ok() {
			out = append(out, EndpointUse{File: s.File, State: st.Name, Endpoint: st.Call.Endpoint.V, Pos: st.Call.Endpoint.At})
		}
	}
	return out
}

// CheckEndpoints reports every call: that names an endpoint the server's
// configuration does not have: an error with a "did you mean" when a
// configuration was given (configured), otherwise a warning, since the
// scenario may be checked before the server's configuration exists.
func CheckEndpoints(list []*Scenario, known map[string]bool, configured bool) Problems {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	var out Problems
	for _, sc := range list {
		for _, u := range sc.Endpoints() {
			if known[u.Endpoint] {
				continue
			}
			p := &Problem{File: u.File, Pos: u.Pos, Path: "states." + u.State + ".call", Err: ErrUnknownEndpoint}
			if configured {
				p.Msg = fmt.Sprintf("unknown endpoint %q: the configuration has no endpoints.%s", u.Endpoint, u.Endpoint)
				p.Hint = didYouMean(u.Endpoint, names)
				if p.Hint == "" {
					p.Hint = "add it under endpoints: in the --config file"
					if len(names) > 0 {
						p.Hint += ", or use one of: " + listOf(names)
					}
				}
			} else {
				p.Warning = true
				p.Msg = fmt.Sprintf("endpoint %q is not checked: no configuration given", u.Endpoint)
				p.Hint = "run olbot check --config FILE to check it against the endpoints: of the server's configuration"
			}
			out = append(out, p)
		}
	}
	return out
}
