package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxBatch is the most sub-calls one batch request may carry.
const MaxBatch = 50

// BatchCall is one sub-call of a batch.
type BatchCall = Request

// BatchResult is the outcome of one sub-call of a batch, taken from the
// batch answer's result.{result,result_error,result_total,result_next,
// result_time} under the sub-call's key.
type BatchResult struct {
	// Result is the sub-call's result on success.
	Result json.RawMessage
	// Err is the sub-call's error: an *APIError with Status 0 and the
	// sub-call's Method, classed by Classify exactly like the same error of
	// a single call (WRONG_CHAT on session.operator is ClassDone,
	// QUERY_LIMIT_EXCEEDED transient, parameter codes permanent); an
	// ErrInvalidRequest for a call refused before sending (it was left out
	// of the request); an ErrBadResponse when the answer has no entry for it.
	Err error
	// Total and Next are result_total and result_next (list methods); 0
	// when absent.
	Total, Next int
	// Time is the sub-call's result_time entry (start, finish, duration,
	// operating, operating_reset_at, …) as sent, or nil.
	Time json.RawMessage
}

func batchKey(i int) string { return "c" + strconv.Itoa(i) }

// jsonValued are the params that imbot.* methods take as a JSON string as
// well as an array; inside a batch they go as the string.
var jsonValued = map[string]bool{"KEYBOARD": true, "ATTACH": true, "MENU": true}

// substitutes reports whether a call's params hold the batch's
// $result[…] syntax (settings/how-to-call-rest-api/batch.md): inside a
// batch the portal would replace it with an earlier sub-call's result, and
// the docs give no way to escape it. Such a call (client text can hold
// anything) is sent by itself.
func substitutes(params any) bool {
	b, ok := params.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(params); err != nil {
			return false
		}
	}
	if containsFoldASCII(b, "$result") {
		return true
	}
	if !bytes.Contains(b, []byte(`\u`)) {
		return false
	}
	// an escape such as \u0024 travels as the character it stands for:
	// look again at the JSON written without such escapes
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return false
	}
	plain, err := json.Marshal(v) // escapes only control characters, <, >, &, U+2028/9
	return err == nil && containsFoldASCII(plain, "$result")
}

// containsFoldASCII reports whether b holds word (lower-case ASCII, no k)
// in any case: bytes.Contains(bytes.ToLower(b), word) without the copy.
// The only non-ASCII rune that lowers to an ASCII letter is U+212A (the
// Kelvin sign, to k), so for such a word ASCII folding is the same test.
func containsFoldASCII(b []byte, word string) bool {
	for i := bytes.IndexByte(b, word[0]); i >= 0 && len(b)-i >= len(word); {
		j := 1
		for ; j < len(word) && b[i+j]|0x20 == word[j]; j++ {
		}
		if j == len(word) {
			return true
		}
		k := bytes.IndexByte(b[i+1:], word[0])
		if k < 0 {
			return false
		}
		i += 1 + k
	}
	return false
}

// BatchCommand renders one sub-call the way it travels inside a batch's cmd:
// "METHOD?QUERY", with QUERY the params in PHP http_build_query form
// (KEYBOARD[BUTTONS][0][TEXT]=Yes&MESSAGE=Pick+one), keys sorted, encoded
// once. Once is right because Batch sends cmd in a JSON body; the docs'
// "double encoding" applies only when the whole batch travels in a URL.
// Params get what a single call would carry (CLIENT_ID for webhook imbot.*
// calls) but no auth: the batch request's own auth applies to every
// sub-call.
func (c *Client) BatchCommand(call BatchCall) (string, error) {
	var raw []byte
	switch p := call.Params.(type) {
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	}
	if raw != nil && validMethod(call.Method) {
		if q, ok := c.batchQueryFast(call.Method, raw); ok && q == "" {
			return call.Method, nil
		} else if ok {
			return call.Method + "?" + q, nil
		}
	}
	return c.batchCommandTree(call)
}

// batchCommandTree is BatchCommand through the generic tree.
func (c *Client) batchCommandTree(call BatchCall) (string, error) {
	body, err := c.prepare(call.Method, call.Params)
	if err != nil {
		return "", err
	}
	tree := make(map[string]any, len(body))
	for k, v := range body {
		switch {
		case strings.EqualFold(k, "auth"):
		case jsonValued[strings.ToUpper(k)] && (bytes.HasPrefix(v, []byte("{")) || bytes.HasPrefix(v, []byte("["))):
			// as a JSON string: in form encoding PHP would rebuild the
			// buttons as an array keyed 0, 1, 10, 11, 2, … past ten
			tree[k] = string(v)
		default:
			tree[k] = v
		}
	}
	q := EncodeForm(tree).Encode()
	if q == "" {
		return call.Method, nil
	}
	return call.Method + "?" + q, nil
}

// Batch sends up to MaxBatch calls in one request, POST {endpoint}batch with
// {"halt":0,"cmd":{"c0":"imbot.message.add?DIALOG_ID=…","c1":…}}. The
// portal counts it as one request against its rate limit (each sub-call
// still counts toward its method's time budget). cmd lists the sub-calls in
// the order of calls, which is the order the portal runs them in; with
// halt=0 every sub-call runs whatever the others' outcome.
//
// The results are in the order of calls, one per call. The error is
// non-nil only when the batch request as a whole failed (network, 503
// QUERY_LIMIT_EXCEEDED, 401 after a refresh, 400/405 batch errors; classify
// it with Classify): then no sub-call is known to have run. As with Call, an
// expired_token answer makes the client refresh the token once and send the
// batch again. A call that cannot be encoded gets its ErrInvalidRequest in
// its result and the others are sent without it.
func (c *Client) Batch(ctx context.Context, calls []BatchCall) ([]BatchResult, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	if len(calls) > MaxBatch {
		return nil, fmt.Errorf("%w: batch of %d calls, the limit is %d", ErrInvalidRequest, len(calls), MaxBatch)
	}
	out := make([]BatchResult, len(calls))
	// cmd is written by hand: a Go map would be marshalled with sorted keys
	// (c0, c1, c10, c11, …, c2), and the portal runs sub-calls in the
	// object's order.
	var cmd bytes.Buffer
	cmd.WriteByte('{')
	sent := 0
	var alone []int
	for i, call := range calls {
		if substitutes(call.Params) {
			alone = append(alone, i)
			continue
		}
		line, err := c.BatchCommand(call)
		if err != nil {
			out[i].Err = fmt.Errorf("batch call %d: %w", i, err)
			continue
		}
		writeCmdEntry(&cmd, sent == 0, i, line)
		sent++
	}
	cmd.WriteByte('}')
	if sent > 0 {
		if err := c.sendBatch(ctx, calls, cmd.Bytes(), out); err != nil {
			return nil, err
		}
	}
	// after the batch, so that each dialog's calls keep their order
	for _, i := range alone {
		out[i].Result, out[i].Err = c.Call(ctx, calls[i].Method, calls[i].Params)
	}
	return out, nil
}

// sendBatch sends the cmd of calls (those not in it already have their
// outcome in out) and fills in each sub-call's outcome.
func (c *Client) sendBatch(ctx context.Context, calls []BatchCall, cmd []byte, out []BatchResult) error {
	raw, err := c.call(ctx, MethodBatch, batchBody(cmd))
	if err != nil {
		return err
	}
	parts, err := splitBatchAnswer(raw)
	if err != nil {
		return fmt.Errorf("%w: batch: result is not an object", ErrBadResponse)
	}
	results, errs := parts.results, parts.errs
	totals, nexts, times := parts.totals, parts.nexts, parts.times
	for i, call := range calls {
		if out[i].Err != nil || substitutes(call.Params) {
			continue
		}
		k := batchKey(i)
		if e, ok := errs[k]; ok {
			out[i].Err = subCallError(call.Method, e)
			var ae *APIError
			if errors.As(out[i].Err, &ae) {
				c.budget.wait(ae, nil, time.Now())
			}
		} else if r, ok := results[k]; ok {
			c.budget.note(call.Method, times[k])
			out[i].Result = r
		} else {
			// With halt=0 every sub-call answers; a missing one is a broken
			// answer, and retrying is the safe reading of it.
			out[i].Err = fmt.Errorf("%w: batch: no result for call %d (%s)", ErrBadResponse, i, call.Method)
		}
		out[i].Total = lenientInt(totals[k])
		out[i].Next = lenientInt(nexts[k])
		out[i].Time = times[k]
	}
	return nil
}

// writeCmdEntry writes call i's "cI":"METHOD?QUERY" into a batch's cmd,
// after a comma unless it is the first, with json.Marshal's escaping.
func writeCmdEntry(cmd *bytes.Buffer, first bool, i int, line string) {
	if !first {
		cmd.WriteByte(',')
	}
	k, _ := json.Marshal(batchKey(i))
	v, _ := json.Marshal(line)
	cmd.Write(k)
	cmd.WriteByte(':')
	cmd.Write(v)
}

// batchBody writes the batch request {"auth":…,"cmd":cmd,"halt":0} as
// json.Marshal of its map would (keys sorted, auth only with a token),
// without encoding/json's scans of cmd: Batch writes cmd compact and
// escaped, from json.Marshal's own pieces (TestBatchBody compares the two).
func batchBody(cmd []byte) bodyWriter {
	return func(tokens bool, tok string) ([]byte, error) {
		b := make([]byte, 0, len(cmd)+len(tok)+32)
		b = append(b, '{')
		if tokens && tok != "" {
			t, err := json.Marshal(tok)
			if err != nil {
				return nil, err
			}
			b = append(b, `"auth":`...)
			b = append(b, t...)
			b = append(b, ',')
		}
		b = append(b, `"cmd":`...)
		b = append(b, cmd...)
		return append(b, `,"halt":0}`...), nil
	}
}

// phpObject decodes a JSON object that PHP sends as [] when it is empty
// (and as a list when its keys are 0, 1, …).
func phpObject(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		return m
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		m = make(map[string]json.RawMessage, len(list))
		for i, v := range list {
			m[strconv.Itoa(i)] = v
		}
	}
	return m
}

// lenientInt reads a number sent as 5 or "5"; anything else is 0.
func lenientInt(raw json.RawMessage) int {
	if raw == nil {
		return 0
	}
	n, err := ParseID(raw)
	if err != nil {
		return 0
	}
	return n
}

// subCallError turns a result_error entry, {"error":"CODE",
// "error_description":"…"} (or a bare string from old portals), into the
// *APIError a single call would give, minus the HTTP status the batch
// answer does not carry.
func subCallError(method string, raw json.RawMessage) error {
	var e struct {
		Error       any    `json:"error"`
		Description string `json:"error_description"`
	}
	code := ""
	if json.Unmarshal(raw, &e) == nil {
		code, _ = e.Error.(string)
	} else {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			code = s
		}
	}
	return &APIError{Method: method, Code: code, Description: e.Description}
}
