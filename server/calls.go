package server

import (
	"context"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
)

// called reports whether the actions made the call c (rather than a
// message held during it).
func called(actions []engine.Action, c *engine.PendingCall) bool {
	for i := len(actions) - 1; i >= 0; i-- {
		if l, ok := actions[i].(engine.Lookup); ok {
			return l.Endpoint == c.Endpoint && l.Path == c.Path
		}
	}
	return false
}

// maxCallChain bounds how many calls in a row one request waits for.
const maxCallChain = 8

// awaitCalls waits, when the step made the dialog wait on a call, for the
// call's answer (within the call's timeout and a little), and returns the
// request's step with the answer's messages and moves after its own: an
// API client and the playground see what the lookup led to. When the
// answer does not come in time the step is returned as it is; the answer
// still moves the dialog on (GET /v1/dialogs shows it).
func (s *Server) awaitCalls(ctx context.Context, key string, out dialogs.Outcome) dialogs.Outcome {
	for i := 0; i < maxCallChain && s.lookups != nil && out.Dialog.Call != nil && called(out.Actions, out.Dialog.Call); i++ {
		c := out.Dialog.Call
		wctx, cancel := context.WithTimeout(ctx, c.Timeout+5*time.Second)
		res, ok := s.lookups.Wait(wctx, key, c.Seq)
		cancel()
		if !ok {
			break
		}
		out.Actions = append(out.Actions, res.Actions...)
		out.Moves = append(out.Moves, res.Moves...)
		out.Invalid += res.Invalid
		out.Missing = append(out.Missing, res.Missing...)
		if res.Reason != "" {
			if out.Reason != "" {
				out.Reason += "; "
			}
			out.Reason += res.Reason
		}
		out.Dialog = res.Dialog
	}
	return out
}
