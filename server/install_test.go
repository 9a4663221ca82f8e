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
			name: "re-install with another application token", first: true,
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[application_token]", "another-token")
				return f
			},
			wantStatus: http.StatusUnauthorized, wantField: "auth[application_token]", wantToken: "fake-application-token",
		},
		{
			name: "re-install with another application token, allowed", first: true,
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
			name: "client_endpoint on another domain",
			body: func(e *env) url.Values {
				f := e.portal.InstallEvent()
				f.Set("auth[client_endpoint]", "https://evil.example.com/rest/")
				return f
			},
			wantStatus: http.StatusBadRequest, wantField: "auth[client_endpoint]",
		},
		{
			name:       "no application token",
			body:       func(e *env) url.Values { f := e.portal.InstallEvent(); f.Del("auth[application_token]"); return f },
			wantStatus: http.StatusBadRequest, wantField: "auth[application_token]",
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
