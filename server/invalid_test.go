package server

// Bad input is answered as such (issue 17): a 400 naming the field, before
// anything reaches the store, nothing changed, readiness untouched.
//
//	go test ./server -run 'TestInvalid|TestDuplicate|TestEscaped' -v

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestInvalidIDKeepsStoreReady: over-long ids through /bitrix24/events and
// /v1/events, with either embedded store: each is a 400 naming the field,
// stores nothing, is not taken for a store outage (the server stays ready
// and takes writes), and the same chat with a real id goes through after.
func TestInvalidIDKeepsStoreReady(t *testing.T) {
	long := func(n int) string { return strings.Repeat("d", n) }
	portalEvent := func(field, value string) func(e *env, chat *fakeportal.Chat) (int, errorBody) {
		return func(e *env, chat *fakeportal.Chat) (int, errorBody) {
			join := chat.Join()
			join.Set(field, value)
			resp, err := chat.Send(context.Background(), join)
			if err != nil {
				e.t.Fatal(err)
			}
			status, body := decodeResp(e.t, resp)
			return status, errorBody{Code: str(body["code"]), Field: str(body["field"]), Error: str(body["error"])}
		}
	}
	apiEvent := func(req EventRequest) func(e *env, chat *fakeportal.Chat) (int, errorBody) {
		return func(e *env, _ *fakeportal.Chat) (int, errorBody) {
			status, body := e.api(http.MethodPost, "/v1/events", req)
			return status, parseError(e.t, body)
		}
	}
	tests := []struct {
		name  string
		send  func(e *env, chat *fakeportal.Chat) (int, errorBody)
		field string
		value string // the refused value: no stored key contains it
	}{
		{"portal DIALOG_ID that makes a key over the store's limit", portalEvent("data[PARAMS][DIALOG_ID]", long(engine.MaxKeyLen)), "data[PARAMS][DIALOG_ID]", long(engine.MaxKeyLen)},
		{"portal DIALOG_ID one byte over its limit", portalEvent("data[PARAMS][DIALOG_ID]", long(MaxDialogIDLen+1)), "data[PARAMS][DIALOG_ID]", long(MaxDialogIDLen + 1)},
		{"portal DIALOG_ID with a NUL byte", portalEvent("data[PARAMS][DIALOG_ID]", "chat\x00x"), "data[PARAMS][DIALOG_ID]", "chat\x00x"},
		{"portal member_id over its limit", portalEvent("auth[member_id]", long(MaxMemberIDLen+1)), "auth[member_id]", long(MaxMemberIDLen + 1)},
		{"portal domain over its limit", portalEvent("auth[domain]", long(MaxDomainLen+1)+".example"), "auth[domain]", long(MaxDomainLen + 1)},
		{"API dialog that makes a key over the store's limit", apiEvent(EventRequest{Dialog: long(engine.MaxKeyLen), Line: 1, Type: "start"}), "dialog", long(engine.MaxKeyLen)},
		{"API dialog one byte over its limit", apiEvent(EventRequest{Dialog: long(MaxDialogIDLen + 1), Line: 1, Type: "start"}), "dialog", long(MaxDialogIDLen + 1)},
		{"API event id over its limit", apiEvent(EventRequest{Dialog: "inv-1", Line: 1, Type: "start", ID: long(MaxEventIDLen + 1)}), "id", "inv-1"},
		{"API scenario name over its limit", apiEvent(EventRequest{Dialog: "inv-2", Type: "start", Scenario: long(MaxScenarioLen + 1)}), "scenario", "inv-2"},
		{"API client name over its limit", apiEvent(EventRequest{Dialog: "inv-3", Line: 1, Type: "start", Client: long(MaxClientLen + 1)}), "client", "inv-3"},
		{"API language that is no language code", apiEvent(EventRequest{Dialog: "inv-4", Line: 1, Type: "start", Language: "english"}), "language", "inv-4"},
		{"API language over its limit", apiEvent(EventRequest{Dialog: "inv-5", Line: 1, Type: "start", Language: long(200)}), "language", "inv-5"},
	}
	for _, useBolt := range []bool{false, true} {
		name := "memory"
		if useBolt {
			name = "bolt"
		}
		t.Run(name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			e := startEnv(t, p, func(e *env) { e.bolt = useBolt })
			e.install()
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					chat := e.chat(1, 9101+i, "Anna")
					status, got := tc.send(e, chat)
					if status != http.StatusBadRequest || got.Code != EInvalid || got.Field != tc.field {
						t.Fatalf("status %d %+v, want 400 naming %s", status, got, tc.field)
					}
					if len(got.Error) > 300 {
						t.Fatalf("the message echoes the input: %d bytes", len(got.Error))
					}
					if e.srv.Dialogs.Writable(t.Context()) != nil || strings.Contains(e.logs.String(), "refuses writes") {
						t.Fatalf("bad input was taken for a store outage:\n%s", e.logs.String())
					}
					if status, body := e.request(http.MethodGet, "/readyz", "", nil, ""); status != http.StatusOK {
						t.Fatalf("readyz after bad input: %d %s, want 200", status, body)
					}
					var stored int
					err := e.store.ScanDialogs(t.Context(), func(d engine.Dialog) error {
						if strings.Contains(d.Key, tc.value) {
							stored++
						}
						return nil
					})
					if err != nil || stored != 0 {
						t.Fatalf("%d dialogs of the refused event stored (%v), want none", stored, err)
					}
					if _, err := e.store.Dialog(t.Context(), e.key(chat)); !errors.Is(err, engine.ErrNotFound) {
						t.Fatalf("Dialog: %v, want ErrNotFound", err)
					}
					e.send(chat, chat.Join()) // the chat's real DIALOG_ID goes through
				})
			}
			// ids at their limits are taken
			e.event(EventRequest{Dialog: long(MaxDialogIDLen), Line: 1, Type: "start", ID: long(MaxEventIDLen), Client: long(MaxClientLen)})
		})
	}
}

func str(v any) string { s, _ := v.(string); return s }

// TestDuplicateJSONKeys: a JSON body with a key twice is a 400 naming it,
// as a form with a key twice is; nothing is applied.
func TestDuplicateJSONKeys(t *testing.T) {
	h := newHostile(t, Config{}, false)
	tests := []struct {
		name, path, body, field string
	}{
		{"dialog twice", "/v1/events", `{"dialog":"dup-1","line":1,"type":"start","dialog":"dup-2"}`, "dialog"},
		{"type twice, same value", "/v1/events", `{"dialog":"dup-1","type":"start","line":1,"type":"start"}`, "type"},
		{"keys that differ in case only (both fill one field)", "/v1/events", `{"dialog":"dup-1","line":1,"type":"start","Dialog":"dup-2"}`, "Dialog"},
		{"playground event", "/playground/api/dialogs/dup/events", `{"scenario":"support","type":"start","scenario":"faq"}`, "scenario"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := answer(t, h.do(http.MethodPost, tc.path, "application/json", strings.NewReader(tc.body), nil), http.StatusBadRequest)
			if m["field"] != tc.field || !strings.Contains(str(m["error"]), "duplicate") {
				t.Fatalf("answer %v, want a duplicate key %q", m, tc.field)
			}
		})
	}
	for _, key := range []string{"api:dup-1", "api:dup-2", "pg:dup"} {
		if rev := h.rev(key); rev != 0 {
			t.Fatalf("%s has rev %d: a refused body was applied", key, rev)
		}
	}
	// a form with a key twice was already a 400 naming it
	form := newHostileChat("t", 1, 7701, bitrix24.User{FirstName: "Anna"}).join()
	form.Add("data[PARAMS][DIALOG_ID]", "chat1")
	m := answer(t, h.post(form, ""), http.StatusBadRequest)
	if m["field"] != "data[PARAMS][DIALOG_ID]" {
		t.Fatalf("form duplicate: %v", m)
	}
}

// TestDuplicateKeyPaths: where duplicateKey finds a duplicate, and where
// the same key twice is none.
func TestDuplicateKeyPaths(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"b":1,"c":{"b":2}}}`, ""},
		{`{"a":{"b":1,"b":2}}`, "a.b"},
		{`[{"a":1},{"a":1}]`, ""},
		{`{"list":[1,{"x":1},{"y":[{"z":1,"z":2}]}]}`, "list[2].y[0].z"},
		{`{"a":[],"b":{},"a":null}`, "a"},
		{`{"s":"{\"a\":1,\"a\":2}"}`, ""}, // a string, not an object
		{`{"\u0061":1,"a":2}`, "a"},       // the same key, escaped
		{`"text"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			if got := duplicateKey([]byte(tc.body)); got != tc.want {
				t.Fatalf("duplicateKey=%q, want %q", got, tc.want)
			}
		})
	}
}

// TestEscapedDialogIDs: ids with / and % are read back through
// GET /v1/dialogs/{id} with the id path-escaped.
func TestEscapedDialogIDs(t *testing.T) {
	e := startEnv(t, nil, func(e *env) { e.db = "" })
	for _, id := range []string{"team/a/b", "100%sure", "a/b%c", "ünï/cødé", "q?x#y"} {
		t.Run(id, func(t *testing.T) {
			e.event(EventRequest{Dialog: id, Line: 1, Type: "start"})
			for _, path := range []string{url.PathEscape(id), url.PathEscape(engine.KeyAPI + id)} {
				if got := e.dialog(path); got.Key != engine.KeyAPI+id {
					t.Fatalf("GET /v1/dialogs/%s: key %q, want %q", path, got.Key, engine.KeyAPI+id)
				}
			}
		})
	}
	// a path id over its limit is refused, not looked up
	status, body := e.api(http.MethodGet, "/v1/dialogs/"+strings.Repeat("x", MaxDialogIDLen+1), nil)
	if got := parseError(t, body); status != http.StatusBadRequest || got.Field != "id" {
		t.Fatalf("long path id: %d %s, want 400 naming id", status, body)
	}
}
