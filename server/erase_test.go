package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/retention"
)

// clientText is what the client of the erasure tests types: none of it may
// reach the log at info level, or erasing the store would not erase it.
var clientText = []string{"Zinaida", "zina.private@example.org"}

// converse runs a portal chat through the support scenario to its finish,
// leaving a lead's worth of personal data in the record.
func converse(e *env, chat *fakeportal.Chat) {
	e.t.Helper()
	e.send(chat, chat.Join())
	e.send(chat, chat.Say("Leave a request"))
	e.send(chat, chat.Say(clientText[0]))
	e.send(chat, chat.Say(clientText[1]))
}

func (e *env) gone(key string) {
	e.t.Helper()
	if _, err := e.store.Dialog(context.Background(), key); !errors.Is(err, engine.ErrNotFound) {
		e.t.Fatalf("dialog %s after erasure: err=%v, want not found", key, err)
	}
	if calls, err := e.store.Calls(context.Background(), key); err != nil || len(calls) > 0 {
		e.t.Fatalf("calls of %s after erasure: %v, %v", key, calls, err)
	}
}

// infoLog is the server log without its debug lines.
func (e *env) infoLog() string {
	var keep []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if !strings.Contains(line, "level=DEBUG") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestErase: DELETE /v1/dialogs/{id} and /v1/portals/{member_id} delete at
// once, pending calls included, say what they deleted, need the admin
// token, and leave other portals' dialogs; the info log holds no client
// text.
func TestErase(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.bolt = true; e.cfg.AdminToken = "adm" })
	e.install()
	chat, other := e.chat(1, 2001, clientText[0]), e.chat(1, 2002, "Olga")
	converse(e, chat)
	e.send(other, other.Join())
	e.settle()
	e.event(EventRequest{Dialog: "web-7", Type: "start", Line: 1, Client: clientText[0]})

	// pending calls: the portal is down, so the hand-off's calls wait
	p.Down(true)
	e.send(other, other.Say("operator"))

	if status, body := e.request(http.MethodDelete, "/v1/dialogs/web-7", "", nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("DELETE without the token: %d %s", status, body)
	}
	status, body := e.api(http.MethodDelete, "/v1/dialogs/web-7", nil)
	var d EraseDialogResponse
	mustJSON(t, body, &d)
	if status != http.StatusOK || d != (EraseDialogResponse{Dialog: "api:web-7", Record: true}) {
		t.Fatalf("DELETE /v1/dialogs/web-7: %d %s", status, body)
	}
	e.gone("api:web-7")
	if status, _ := e.api(http.MethodGet, "/v1/dialogs/web-7", nil); status != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d, want 404", status)
	}
	status, body = e.api(http.MethodDelete, "/v1/dialogs/web-7", nil)
	mustJSON(t, body, &d)
	if status != http.StatusOK || d.Record || d.Calls != 0 {
		t.Fatalf("second DELETE: %d %s; want nothing deleted", status, body)
	}

	if calls, err := e.store.Calls(context.Background(), e.key(other)); err != nil || len(calls) == 0 {
		t.Fatalf("calls of the hand-off: %v, %v; want some waiting", calls, err)
	}
	status, body = e.api(http.MethodDelete, "/v1/portals/"+e.member(), nil)
	var pe ErasePortalResponse
	mustJSON(t, body, &pe)
	// 3 dialogs: the two chats and the portal's application outbox (…:~app)
	if status != http.StatusOK || pe.Member != e.member() || pe.Dialogs != 3 || pe.Calls < 1 || !pe.Install {
		t.Fatalf("DELETE /v1/portals/%s: %d %s; want 3 dialogs, the waiting calls and the install", e.member(), status, body)
	}
	e.gone(e.key(chat))
	e.gone(e.key(other))
	if ok, err := e.srv.Outbox.Portals().Installed(context.Background(), e.member()); ok || err != nil {
		t.Fatalf("install after the erasure: %v, %v", ok, err)
	}
	log := e.infoLog()
	for _, s := range clientText[1:] {
		if strings.Contains(log, s) {
			t.Fatalf("the info log holds the client's %q:\n%s", s, log)
		}
	}
}

// TestErasePortalHostPort: DELETE /v1/portals/{id} takes a portal keyed
// by its host and port (a webhook portal without a member_id: the fake
// portal's, a local setup's), written plainly or with ':' escaped, and
// leaves the same host's other ports alone; an id with an empty part
// around ':' is a 400 that says so, and erases nothing.
func TestErasePortalHostPort(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.cfg.AdminToken = "adm" })
	ctx := context.Background()
	keys := []string{"b24:127.0.0.1:8080:chat1", "b24:127.0.0.1:8080:chat2", "b24:127.0.0.1:chat3", "b24:127.0.0.1:9090:chat4"}
	for _, k := range keys {
		if err := e.store.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: k, Status: engine.Active, Rev: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path    string
		status  int
		dialogs int
		gone    []string
		problem string // in a 400's message
	}{
		{path: "/v1/portals/127.0.0.1:8080", status: http.StatusOK, dialogs: 2, gone: keys[:2]},
		{path: "/v1/portals/127.0.0.1%3A9090", status: http.StatusOK, dialogs: 1, gone: keys[3:]},
		{path: "/v1/portals/127.0.0.1:8080", status: http.StatusOK},
		{path: "/v1/portals/:9090", status: http.StatusBadRequest, problem: "empty part around ':'"},
		{path: "/v1/portals/127.0.0.1:", status: http.StatusBadRequest, problem: "empty part around ':'"},
		{path: "/v1/portals/127.0.0.1::8080", status: http.StatusBadRequest, problem: "empty part around ':'"},
		{path: "/v1/portals/127.0.0.1%2F8080", status: http.StatusBadRequest, problem: "may not contain '/'"},
	}
	for _, tc := range tests {
		status, body := e.api(http.MethodDelete, tc.path, nil)
		if status != tc.status {
			t.Fatalf("DELETE %s: %d %s, want %d", tc.path, status, body, tc.status)
		}
		if tc.status != http.StatusOK {
			if !strings.Contains(string(body), tc.problem) || !strings.Contains(string(body), `"member"`) {
				t.Fatalf("DELETE %s: %s; want the member field and %q", tc.path, body, tc.problem)
			}
			continue
		}
		var pe ErasePortalResponse
		mustJSON(t, body, &pe)
		if pe.Dialogs != tc.dialogs {
			t.Fatalf("DELETE %s: %s; want %d dialogs", tc.path, body, tc.dialogs)
		}
		for _, k := range tc.gone {
			e.gone(k)
		}
	}
	if _, err := e.store.Dialog(ctx, keys[2]); err != nil {
		t.Fatalf("the host's own dialog %s after erasing its ports: %v", keys[2], err)
	}
}

// TestUninstallErases: an uninstall that asks to clean (data[CLEAN]=1, as
// in the documented body) erases the portal's dialogs at once; one that
// does not keeps them for --uninstall-grace, then the sweep erases them.
func TestUninstallErases(t *testing.T) {
	tests := []struct {
		name  string
		clean string
	}{{"clean", "1"}, {"keep", "0"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			clock := newClock()
			e := startEnv(t, p, func(e *env) {
				e.clock = clock
				e.keep = retention.Config{Keep: retention.DefaultKeep, Playground: retention.DefaultPlayground, UninstallGrace: 7 * 24 * time.Hour}
			})
			e.install()
			chat := e.chat(1, 3001, "Anna")
			converse(e, chat)
			e.settle()
			form := p.UninstallEvent()
			form.Set("data[CLEAN]", tc.clean)
			if status, body := e.postForm(form, ""); status != http.StatusOK {
				t.Fatalf("ONAPPUNINSTALL: %d %v", status, body)
			}
			if tc.clean == "1" {
				e.gone(e.key(chat))
				return
			}
			e.record(e.key(chat)) // kept for the grace
			clock.Advance(6 * 24 * time.Hour)
			if r, err := e.srv.Retention.Sweep(context.Background()); err != nil || r.Portals != 0 {
				t.Fatalf("sweep within the grace: %+v, %v", r, err)
			}
			e.record(e.key(chat))
			clock.Advance(24 * time.Hour)
			if r, err := e.srv.Retention.Sweep(context.Background()); err != nil || r.Portals != 1 {
				t.Fatalf("sweep after the grace: %+v, %v", r, err)
			}
			e.gone(e.key(chat))
		})
	}
}
