package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/pull"
	"github.com/olbot/olbot/scenarios"
)

// EventRequest is the body of POST /v1/events.
type EventRequest struct {
	Dialog   string `json:"dialog"`             // the channel's dialog id; the key is api:<dialog>
	Line     int    `json:"line,omitempty"`     // Open Line id, picks the scenario
	Scenario string `json:"scenario,omitempty"` // overrides the line's scenario
	Type     string `json:"type"`               // start, message, button, idle, close
	Text     string `json:"text,omitempty"`
	Button   int    `json:"button,omitempty"`
	Client   string `json:"client,omitempty"` // the client's first name
	ID       string `json:"id,omitempty"`     // event id, for de-duplication
	// Language: for start, the language of the channel the dialog starts
	// in (as an Open Line's LANGUAGE_ID; used when the scenario lists it);
	// for type language, the language to switch the dialog to.
	Language string `json:"language,omitempty"`
	// File is the client's file: with type file (no text), or with type
	// message (a file with a caption). See FileRequest.
	File *FileRequest `json:"file,omitempty"`
}

// EventResponse is the answer of POST /v1/events.
type EventResponse struct {
	Dialog  DialogView      `json:"dialog"`
	Outcome string          `json:"outcome"` // applied, ignored, duplicate
	Reason  string          `json:"reason,omitempty"`
	Actions json.RawMessage `json:"actions"`
}

// DialogView is a dialog as the API shows it.
type DialogView struct {
	Key      string            `json:"key"`
	Scenario string            `json:"scenario,omitempty"`
	Version  string            `json:"version,omitempty"`
	State    string            `json:"state,omitempty"`
	Status   string            `json:"status,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	Retries  int               `json:"retries,omitempty"`
	Line     int               `json:"line,omitempty"`
	Language string            `json:"language,omitempty"` // the dialog's language, in a scenario with settings.languages
	Started  *time.Time        `json:"started,omitempty"`
	LastIn   *time.Time        `json:"last_message,omitempty"`
	Updated  *time.Time        `json:"updated,omitempty"`
	Rev      int64             `json:"rev"`
	Calls    []CallView        `json:"calls,omitempty"` // pending and parked portal calls
	// Lookup is the call: the dialog waits on; Held how many client
	// messages wait for its answer.
	Lookup *LookupView `json:"lookup,omitempty"`
	Held   int         `json:"held,omitempty"`
}

// LookupView is a call: in flight as the API shows it: the endpoint's
// name and the path, never its URL or headers.
type LookupView struct {
	Endpoint string    `json:"endpoint"`
	Method   string    `json:"method"`
	Path     string    `json:"path,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Since    time.Time `json:"since"`
}

// CallView is an outbox call as the API shows it.
type CallView struct {
	ID       uint64          `json:"id"`
	Method   string          `json:"method"`
	Params   json.RawMessage `json:"params"`
	Attempts int             `json:"attempts,omitempty"`
	Error    string          `json:"error,omitempty"`
	Parked   bool            `json:"parked,omitempty"`
	NextAt   *time.Time      `json:"next_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewOf(d engine.Dialog) DialogView {
	v := DialogView{Key: d.Key, Scenario: d.Scenario, Version: d.Version, State: d.State, Status: string(d.Status), Fields: d.Fields,
		Retries: d.Retries, Line: d.Line, Language: d.Language, Started: timePtr(d.Started), LastIn: timePtr(d.LastIn), Updated: timePtr(d.Updated), Rev: d.Rev,
		Held: len(d.Held)}
	if c := d.Call; c != nil {
		v.Lookup = &LookupView{Endpoint: c.Endpoint, Method: c.Method, Path: c.Path, Attempts: c.Attempts, Since: c.Since}
	}
	return v
}

func (s *Server) handleEvent(c echo.Context) error {
	req, err := decodeEventRequest(c)
	if err != nil {
		return err
	}
	if err := checkEventRequest(req); err != nil {
		return err
	}
	ev := engine.Event{Type: engine.EventType(req.Type), Text: req.Text, Button: req.Button, Client: req.Client, Line: req.Line, ID: req.ID,
		Language: req.Language, Time: s.now(), File: req.File.client()}
	if err := ev.Validate(); err != nil {
		field := "type"
		if ev.Type == engine.Button {
			field = "button" // a button event without a usable button number
		}
		return &Error{Code: EInvalid, Field: field, Message: err.Error()}
	}
	if req.Line < 0 {
		return &Error{Code: EInvalid, Field: "line", Message: "line must be a positive Open Line id"}
	}
	key := engine.KeyAPI + req.Dialog
	out, err := s.dialogs.Apply(c.Request().Context(), dialogs.Input{Key: key, Event: ev, Scenario: req.Scenario})
	if err == nil {
		out = s.awaitCalls(c.Request().Context(), key, out)
	}
	if err != nil {
		return err
	}
	return answerEvent(c, out)
}

// decodeEventRequest reads the body of POST /v1/events: the fast decoder
// for the usual bodies, encoding/json (strict) for the rest, so every
// refusal is decodeJSON's.
func decodeEventRequest(c echo.Context) (EventRequest, error) {
	// the decoded request holds copies of the body's strings, so the body
	// is read into a pooled buffer
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	body, err := readBodyInto(c, (*bp)[:0])
	if err != nil {
		return EventRequest{}, err
	}
	*bp = body
	return decodeEventBody(body)
}

func decodeEventBody(body []byte) (EventRequest, error) {
	var req EventRequest
	if decodeEventFast(body, &req) {
		return req, nil
	}
	req = EventRequest{}
	err := decodeJSONBody(body, &req)
	return req, err
}

// checkEventRequest checks the ids of /v1/events against their limits.
func checkEventRequest(req EventRequest) error {
	if err := checkID("dialog", req.Dialog, MaxDialogIDLen); err != nil {
		return err
	}
	if err := checkLen("id", req.ID, MaxEventIDLen); err != nil {
		return err
	}
	if err := checkLen("scenario", req.Scenario, MaxScenarioLen); err != nil {
		return err
	}
	if err := checkLanguage(req.Language); err != nil {
		return err
	}
	if err := req.File.check(); err != nil {
		return err
	}
	return checkLen("client", req.Client, MaxClientLen)
}

// checkLanguage validates an event's optional language.
func checkLanguage(l string) error {
	if l == "" || scenarios.IsLanguageID(l) {
		return nil
	}
	if err := checkLen("language", l, 8); err != nil {
		return err
	}
	return &Error{Code: EInvalid, Field: "language", Message: fmt.Sprintf("language %q is not a language code: write a two-letter ISO 639-1 code, e.g. en or ru", l)}
}

func responseOf(out dialogs.Outcome) EventResponse {
	actions, _ := engine.MarshalActions(out.Actions)
	if out.Actions == nil {
		actions = json.RawMessage("[]")
	}
	resp := EventResponse{Dialog: viewOf(out.Dialog), Outcome: string(out.Outcome), Reason: out.Reason, Actions: actions}
	if out.Duplicate {
		resp.Outcome = "duplicate"
	}
	return resp
}

// dialogKey turns a path id into a store key: a bare id is an API dialog.
func dialogKey(id string) string {
	for _, ns := range []string{engine.KeyPortal, engine.KeyAPI, engine.KeyPlayground} {
		if strings.HasPrefix(id, ns) {
			return id
		}
	}
	return engine.KeyAPI + id
}

func (s *Server) handleDialog(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	key := dialogKey(id)
	limit := MaxDialogIDLen // a bare id, as /v1/events takes it
	if key == id {
		limit = engine.MaxKeyLen // a whole key: b24:<member>:<DIALOG_ID>, pg:<session>
	}
	if err := checkID("id", id, limit); err != nil {
		return err
	}
	d, err := s.store.Dialog(c.Request().Context(), key)
	if errors.Is(err, engine.ErrNotFound) {
		return &Error{Code: ENotFound, Message: fmt.Sprintf("no dialog %q", key)}
	}
	if err != nil {
		return unavailable("read dialog %s", key, err)
	}
	v := viewOf(d)
	calls, err := s.store.Calls(c.Request().Context(), key)
	if err != nil {
		return unavailable("read calls of %s", key, err)
	}
	for _, cl := range calls {
		v.Calls = append(v.Calls, CallView{ID: cl.ID, Method: cl.Method, Params: json.RawMessage(outbox.RedactParams(cl.Params)), Attempts: cl.Attempts, Error: cl.Error, Parked: cl.Parked, NextAt: timePtr(cl.NextAt)})
	}
	return c.JSON(http.StatusOK, v)
}

// ScenariosResponse is the answer of GET /v1/scenarios.
type ScenariosResponse struct {
	Version   string                 `json:"version"` // hash over all live versions: equal on replicas that agree
	LoadedAt  time.Time              `json:"loaded_at"`
	Dir       string                 `json:"dir"`
	Scenarios []ScenarioView         `json:"scenarios"`
	Files     []scenarios.FileStatus `json:"files"`
}

// ScenarioView is one live scenario.
type ScenarioView struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"`
	File    string `json:"file"`
	Version string `json:"version"`
	Lines   []int  `json:"lines,omitempty"`
	Default bool   `json:"default,omitempty"`
	States  int    `json:"states"`
	// LineWarnings: the scenario waits (idle, reminders) longer than a line
	// it served leaves a silent chat to the bot (WELCOME_BOT_TIME).
	LineWarnings []string `json:"line_warnings,omitempty"`
}

func (s *Server) scenariosView() ScenariosResponse {
	snap := s.registry.Current()
	resp := ScenariosResponse{Version: snap.Version, LoadedAt: snap.LoadedAt, Dir: s.registry.Dir(), Files: snap.Files, Scenarios: []ScenarioView{}}
	for _, sc := range snap.Set.List {
		resp.Scenarios = append(resp.Scenarios, ScenarioView{Name: sc.Name, Title: sc.Title, File: sc.File, Version: sc.Version, Lines: sc.Lines, Default: sc.Default(), States: len(sc.States),
			LineWarnings: s.dialogs.LineWarnings(sc.Name)})
	}
	return resp
}

// handleRejected lists the polled events fetch mode recorded as rejected
// and skipped, each bot's oldest first (the latest pull.DefaultKeepRejected
// per bot).
func (s *Server) handleRejected(c echo.Context) error {
	list := []pull.RejectedEvent{}
	if s.rejected != nil {
		var err error
		if list, err = s.rejected.List(c.Request().Context()); err != nil {
			s.log.WarnContext(c.Request().Context(), "listing rejected events failed", "error", err)
			return &Error{Code: EUnavailable, Message: "the store is unavailable, try again"}
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"rejected": list})
}

func (s *Server) handleScenarios(c echo.Context) error {
	return c.JSON(http.StatusOK, s.scenariosView())
}

func (s *Server) handleReload(c echo.Context) error {
	out, err := s.Reload(c.Request().Context())
	if err != nil {
		return &Error{Code: EUnavailable, Message: "reload did not finish: " + err.Error()}
	}
	resp := map[string]any{"changed": out.Result.Changed, "scenarios": s.scenariosView()}
	if out.Err != nil {
		resp["error"] = out.Err.Error()
		return c.JSON(http.StatusInternalServerError, resp)
	}
	if len(out.Result.Problems) > 0 {
		resp["errors"] = strings.Split(out.Result.Problems.Error(), "\n")
		return c.JSON(http.StatusUnprocessableEntity, resp)
	}
	return c.JSON(http.StatusOK, resp)
}
