package server

// The answers of the event routes without reflection. appendEventAnswer
// writes exactly what encoding/json's Encoder (HTML escaping on, as Echo's
// c.JSON uses it) writes for responseOf(out), newline included, and
// appendBitrixEventAnswer the same for a chat event's answer;
// FuzzEventAnswerEncode compares them with encoding/json on random
// answers. What they do not handle — a time MarshalJSON refuses, an answer
// type whose fields changed since this was written (answerFieldsKnown) —
// goes through c.JSON as before.

import (
	"net/http"
	"reflect"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/jsonenc"
)

// answerFieldsKnown is whether the answer types still have the fields the
// encoder below writes (TestAnswerEncoderFields says when not).
var answerFieldsKnown = jsonenc.SameFields(reflect.TypeFor[EventResponse](),
	"dialog server.DialogView", "outcome string", "reason,omitempty string", "actions json.RawMessage") &&
	jsonenc.SameFields(reflect.TypeFor[DialogView](),
		"key string", "scenario,omitempty string", "version,omitempty string", "state,omitempty string", "status,omitempty string",
		"fields,omitempty map[string]string", "retries,omitempty int", "line,omitempty int", "language,omitempty string",
		"started,omitempty *time.Time", "last_message,omitempty *time.Time", "updated,omitempty *time.Time", "rev int64",
		"calls,omitempty []server.CallView", "lookup,omitempty *server.LookupView", "held,omitempty int") &&
	jsonenc.SameFields(reflect.TypeFor[LookupView](),
		"endpoint string", "method string", "path,omitempty string", "attempts,omitempty int", "since time.Time") &&
	jsonenc.SameFields(reflect.TypeFor[bitrixEventAnswer](),
		"calls int", "ok bool", "outcome string", "reason,omitempty string")

// answerBufs are the answers' buffers, reused: an answer is written to the
// connection before its buffer goes back.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// fastAnswer is whether an answer can be built by hand: not for ?pretty
// or in debug mode (c.JSON indents those), nor when the answer types have
// changed since the encoders here were written.
func fastAnswer(c echo.Context) bool {
	return answerFieldsKnown && !c.Echo().Debug && (c.Request().URL.RawQuery == "" || !c.QueryParams().Has("pretty"))
}

// blobAnswer builds an answer with appendFn into a pooled buffer and sends
// it; false when appendFn could not (nothing sent).
func blobAnswer(c echo.Context, code int, appendFn func([]byte) ([]byte, bool)) (bool, error) {
	bp := answerBufs.Get().(*[]byte)
	defer answerBufs.Put(bp)
	b, ok := appendFn((*bp)[:0])
	if !ok {
		return false, nil
	}
	*bp = b
	return true, c.Blob(code, echo.MIMEApplicationJSON, b)
}

// answerEvent sends the answer of POST /v1/events: responseOf(out) as
// c.JSON writes it.
func answerEvent(c echo.Context, out dialogs.Outcome) error {
	if fastAnswer(c) {
		if sent, err := blobAnswer(c, http.StatusOK, func(b []byte) ([]byte, bool) { return appendEventAnswer(b, &out) }); sent {
			return err
		}
	}
	return c.JSON(http.StatusOK, responseOf(out))
}

// appendEventAnswer appends responseOf(*out) as encoding/json's Encoder
// writes it (with the trailing newline); false when it cannot.
func appendEventAnswer(dst []byte, out *dialogs.Outcome) ([]byte, bool) {
	dst = append(dst, `{"dialog":`...)
	dst, ok := appendDialogView(dst, &out.Dialog)
	if !ok {
		return dst, false
	}
	outcome := string(out.Outcome)
	if out.Duplicate {
		outcome = "duplicate"
	}
	dst = jsonenc.String(append(dst, `,"outcome":`...), outcome)
	if out.Reason != "" {
		dst = jsonenc.String(append(dst, `,"reason":`...), out.Reason)
	}
	dst, err := engine.AppendActions(append(dst, `,"actions":`...), out.Actions)
	if err != nil {
		return dst, false
	}
	return append(dst, '}', '\n'), true
}

// appendDialogView appends viewOf(*d).
func appendDialogView(dst []byte, d *engine.Dialog) ([]byte, bool) {
	dst = jsonenc.String(append(dst, `{"key":`...), d.Key)
	if d.Scenario != "" {
		dst = jsonenc.String(append(dst, `,"scenario":`...), d.Scenario)
	}
	if d.Version != "" {
		dst = jsonenc.String(append(dst, `,"version":`...), d.Version)
	}
	if d.State != "" {
		dst = jsonenc.String(append(dst, `,"state":`...), d.State)
	}
	if d.Status != "" {
		dst = jsonenc.String(append(dst, `,"status":`...), string(d.Status))
	}
	if len(d.Fields) > 0 {
		dst = engine.AppendStringMap(append(dst, `,"fields":`...), d.Fields)
	}
	if d.Retries != 0 {
		dst = jsonenc.Int(append(dst, `,"retries":`...), int64(d.Retries))
	}
	if d.Line != 0 {
		dst = jsonenc.Int(append(dst, `,"line":`...), int64(d.Line))
	}
	if d.Language != "" {
		dst = jsonenc.String(append(dst, `,"language":`...), d.Language)
	}
	ok := true
	if !d.Started.IsZero() {
		dst, ok = jsonenc.Time(append(dst, `,"started":`...), d.Started)
	}
	if !d.LastIn.IsZero() && ok {
		dst, ok = jsonenc.Time(append(dst, `,"last_message":`...), d.LastIn)
	}
	if !d.Updated.IsZero() && ok {
		dst, ok = jsonenc.Time(append(dst, `,"updated":`...), d.Updated)
	}
	if !ok {
		return dst, false
	}
	dst = jsonenc.Int(append(dst, `,"rev":`...), d.Rev)
	if c := d.Call; c != nil {
		dst = jsonenc.String(append(dst, `,"lookup":{"endpoint":`...), c.Endpoint)
		dst = jsonenc.String(append(dst, `,"method":`...), c.Method)
		if c.Path != "" {
			dst = jsonenc.String(append(dst, `,"path":`...), c.Path)
		}
		if c.Attempts != 0 {
			dst = jsonenc.Int(append(dst, `,"attempts":`...), int64(c.Attempts))
		}
		if dst, ok = jsonenc.Time(append(dst, `,"since":`...), c.Since); !ok {
			return dst, false
		}
		dst = append(dst, '}')
	}
	if len(d.Held) != 0 {
		dst = jsonenc.Int(append(dst, `,"held":`...), int64(len(d.Held)))
	}
	return append(dst, '}'), true
}

// bitrixEventAnswer is the answer of a chat event on POST /bitrix24/events
// (the keys in the order encoding/json writes a map's).
type bitrixEventAnswer struct {
	Calls   int    `json:"calls"`
	OK      bool   `json:"ok"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// answerBitrixEvent sends a chat event's answer as c.JSON would.
func answerBitrixEvent(c echo.Context, a *bitrixEventAnswer) error {
	if fastAnswer(c) {
		if sent, err := blobAnswer(c, http.StatusOK, func(b []byte) ([]byte, bool) { return appendBitrixEventAnswer(b, a) }); sent {
			return err
		}
	}
	return c.JSON(http.StatusOK, a)
}

func appendBitrixEventAnswer(dst []byte, a *bitrixEventAnswer) ([]byte, bool) {
	dst = jsonenc.Int(append(dst, `{"calls":`...), int64(a.Calls))
	dst = jsonenc.Bool(append(dst, `,"ok":`...), a.OK)
	dst = jsonenc.String(append(dst, `,"outcome":`...), a.Outcome)
	if a.Reason != "" {
		dst = jsonenc.String(append(dst, `,"reason":`...), a.Reason)
	}
	return append(dst, '}', '\n'), true
}
