package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

func TestInstall(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.bolt = true })
	bot := e.install()

	in, err := e.srv.Outbox.Portals().Get(context.Background(), e.member())
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config()
	access, refresh := p.Tokens()
	if in.Domain != cfg.Domain || in.ClientEndpoint != p.Endpoint() || in.ApplicationToken != cfg.ApplicationToken ||
		in.AccessToken != access || in.RefreshToken != refresh || in.BotID != bot || in.Expiry.IsZero() {
		t.Fatalf("install record %+v; want domain %s, endpoint %s, token %s, access %s, refresh %s, bot %d",
			in, cfg.Domain, p.Endpoint(), cfg.ApplicationToken, access, refresh, bot)
	}

	handler := e.base + "/bitrix24/events"
	regs := p.CallsOf(bitrix24.MethodRegister)
	if len(regs) != 1 || !regs[0].OK() {
		t.Fatalf("imbot.register calls: %+v, want one successful", regs)
	}
	got := call(regs[0])
	wantReg := want(t, "imbot.register", `{"CODE":"olbot","TYPE":"O","OPENLINE":"Y","EVENT_HANDLER":"`+handler+`",
		"PROPERTIES":{"NAME":"olbot","WORK_POSITION":"Open Lines assistant","COLOR":"AZURE"}}`)
	if got != wantReg {
		t.Fatalf("registration:\n got %s\nwant %s", got, wantReg)
	}
	if regs[0].Auth != "oauth" || regs[0].Str("auth") != access {
		t.Fatalf("registration auth %q with token %q, want oauth with the install token %q", regs[0].Auth, regs[0].Str("auth"), access)
	}
	bots := p.Bots()
	if len(bots) != 1 || bots[0].ID != bot || bots[0].Type != "O" || bots[0].Handlers["EVENT_MESSAGE_ADD"] != handler ||
		bots[0].Handlers["EVENT_WELCOME_MESSAGE"] != handler || bots[0].Handlers["EVENT_BOT_DELETE"] != handler {
		t.Fatalf("portal bots %+v, want one open-lines bot %d with handler %s", bots, bot, handler)
	}

	// the same install again (same token) is accepted and does not register a second bot
	if status, body := e.postForm(p.InstallEvent(), ""); status != http.StatusOK {
		t.Fatalf("repeated install: %d %v", status, body)
	}
	e.settle()
	if n := len(p.CallsOf(bitrix24.MethodRegister)); n != 1 {
		t.Fatalf("imbot.register sent %d times after a repeated install, want 1", n)
	}

	// the registered handler works: a chat reaches olbot through it
	chat := e.chat(1, 1001, "Anna")
	if chat.BotID != bot {
		t.Fatalf("chat bot %d, want the registered %d", chat.BotID, bot)
	}
	e.send(chat, chat.Join())
	if d := e.dialog(e.key(chat)); d.Scenario != "support" || d.State != "welcome" {
		t.Fatalf("dialog after join: %+v", d)
	}
}

// TestInstallRefused: an install is taken only when the OAuth server
// proves it (the install's refresh token exchanged with the application's
// client id and secret), and the portal's address is the one the OAuth
// server names. A known portal keeps its address without --allow-reinstall.
func TestInstallRefused(t *testing.T) {
	tests := []struct {
		name       string
		fix        func(*env)
		first      bool                  // install the real portal first
		body       func(*env) url.Values // the install event to post
		wantStatus int
		wantField  string
		wantToken  string // application token on the record afterwards; "" = no record
	}{
		{
			// a new application token is taken after the proof (it used to
			// need --allow-reinstall)
			name: "re-install with another application token", first: true,
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[application_token]", "another-token")
				return f
			},
			wantStatus: http.StatusOK, wantToken: "another-token",
		},
		{
			name: "a replayed install: its refresh token is spent", first: true,
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				_, err := bitrix24.Exchange(context.Background(), bitrix24.OAuthConfig{TokenURL: e.portal.TokenURL(), ClientID: e.portal.Config().ClientID, ClientSecret: e.portal.Config().ClientSecret}, f.Get("auth[refresh_token]"))
				if err != nil {
					t.Fatal(err)
				}
				f.Set("auth[application_token]", "replayed-token")
				return f
			},
			wantStatus: http.StatusUnauthorized, wantField: "auth[refresh_token]", wantToken: "fake-application-token",
		},
		{
			name: "a forged install of an unknown portal",
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[refresh_token]", "made-up")
				f.Set("auth[client_endpoint]", "https://evil.example.com/rest/")
				return f
			},
			wantStatus: http.StatusUnauthorized, wantField: "auth[refresh_token]",
		},
		{
			name: "a known portal moved to another address", first: true,
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				e.portal.SetBaseURL("http://127.0.0.2:1") // the OAuth server now names another endpoint
				return f
			},
			wantStatus: http.StatusUnauthorized, wantField: "auth[client_endpoint]", wantToken: "fake-application-token",
		},
		{
			name: "a known portal moved to another address, allowed", first: true,
			fix: func(e *env) { e.cfg.Bitrix24.AllowReinstall = true },
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[application_token]", "another-token")
				return f
			},
			wantStatus: http.StatusOK, wantToken: "another-token",
		},
		{
			name:       "portal not in the allow-list",
			fix:        func(e *env) { e.cfg.Bitrix24.Portals = []string{"allowed.bitrix24.com"} },
			body:       func(e *env) url.Values { return e.portal.InstallEvent() },
			wantStatus: http.StatusUnauthorized, wantField: "auth[domain]",
		},
		{
			name:       "portal in the allow-list",
			fix:        func(e *env) { e.cfg.Bitrix24.Portals = []string{"allowed.bitrix24.com", e.portal.Config().Domain} },
			body:       func(e *env) url.Values { return e.portal.InstallEvent() },
			wantStatus: http.StatusOK, wantToken: "fake-application-token",
		},
		{
			// the event's address is never used: the OAuth server's is
			// (it used to be checked against the event's domain, 400)
			name: "client_endpoint on another domain",
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[client_endpoint]", "https://evil.example.com/rest/")
				f.Set("auth[domain]", "evil.example.com")
				return f
			},
			wantStatus: http.StatusOK, wantToken: "fake-application-token",
		},
		{
			name:       "no application token",
			body:       func(e *env) url.Values { f := e.portal.InstallEvent(); f.Del("auth[application_token]"); return f },
			wantStatus: http.StatusBadRequest, wantField: "auth[application_token]",
		},
		{
			name:       "no refresh token",
			body:       func(e *env) url.Values { f := e.portal.InstallEvent(); f.Del("auth[refresh_token]"); return f },
			wantStatus: http.StatusBadRequest, wantField: "auth[refresh_token]",
		},
		{
			name:       "no application credentials to prove it",
			fix:        func(e *env) { e.ob.AppClientID, e.ob.AppClientSecret = "", "" },
			body:       func(e *env) url.Values { return e.portal.InstallEvent() },
			wantStatus: http.StatusUnauthorized, wantField: "auth[refresh_token]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			e := startEnv(t, p, func(e *env) {
				if tc.fix != nil {
					tc.fix(e)
				}
			})
			if tc.first {
				e.install()
			}
			endpoint := p.Endpoint()
			status, body := e.postForm(tc.body(e), "")
			if status != tc.wantStatus {
				t.Fatalf("status %d %v, want %d", status, body, tc.wantStatus)
			}
			if tc.wantField != "" {
				if body["field"] != tc.wantField || body["error"] == "" {
					t.Fatalf("error %v, want one naming %s", body, tc.wantField)
				}
			}
			in, err := e.srv.Outbox.Portals().Get(context.Background(), e.member())
			switch {
			case tc.wantToken == "" && err == nil:
				t.Fatalf("install record %+v saved, want none", in)
			case tc.wantToken != "" && err != nil:
				t.Fatalf("install record: %v", err)
			case tc.wantToken != "" && in.ApplicationToken != tc.wantToken:
				t.Fatalf("application token %q on the record, want %q", in.ApplicationToken, tc.wantToken)
			case tc.wantToken != "" && in.ClientEndpoint != endpoint && !(tc.wantStatus == http.StatusOK && in.ClientEndpoint == p.Endpoint()):
				t.Fatalf("client_endpoint %q on the record, want the portal's %q", in.ClientEndpoint, endpoint)
			}
			e.settle()
			wantRegs := 0
			if tc.wantToken != "" {
				wantRegs = 1
			}
			if n := len(p.CallsOf(bitrix24.MethodRegister)); n != wantRegs {
				t.Fatalf("imbot.register sent %d times, want %d", n, wantRegs)
			}
		})
	}
}

// TestAppUpdate: ONAPPUPDATE (on-app-update.md) of a known portal is
// proven like an install; its new application token is taken and the
// event bindings, which the portal dropped, are made again. Of an unknown
// portal, or unproven, it changes nothing.
func TestAppUpdate(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()
	e.settle()
	binds := len(p.CallsOf(bitrix24.MethodEventBind))
	forged := p.UpdateEvent("forged-token")
	forged.Set("auth[refresh_token]", "made-up")
	if status, body := e.postForm(forged, ""); status != http.StatusUnauthorized || body["field"] != "auth[refresh_token]" {
		t.Fatalf("unproven update: %d %v, want 401 naming auth[refresh_token]", status, body)
	}
	if in, _ := e.srv.Outbox.Portals().Get(context.Background(), e.member()); in.ApplicationToken != "fake-application-token" {
		t.Fatalf("application token %q after an unproven update", in.ApplicationToken)
	}
	if status, body := e.postForm(p.UpdateEvent("updated-token"), ""); status != http.StatusOK {
		t.Fatalf("update: %d %v", status, body)
	}
	if in, _ := e.srv.Outbox.Portals().Get(context.Background(), e.member()); in.ApplicationToken != "updated-token" {
		t.Fatalf("application token %q, want the update's", in.ApplicationToken)
	}
	e.settle()
	if n := len(p.CallsOf(bitrix24.MethodEventBind)); n != binds+2 {
		t.Fatalf("event.bind sent %d times after the update, want %d", n, binds+2)
	}
	// events now carry the new token
	chat := e.chat(1, 1101, "Anna")
	if resp := e.send(chat, chat.Join()); resp["ok"] != true {
		t.Fatalf("join after the update: %v", resp)
	}
	unknown := newPortal(t, fakeportal.Config{MemberID: "never-installed"})
	if status, _ := e.postForm(unknown.UpdateEvent(""), ""); status != http.StatusUnauthorized {
		t.Fatalf("update of an unknown portal: %d, want 401", status)
	}
}
