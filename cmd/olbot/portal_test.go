package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/fakeportal"
)

// TestRegister registers the bot through the fake portal's webhook, exactly
// as against a real portal, and checks what it printed and what it sent.
func TestRegister(t *testing.T) {
	p, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	defer srv.Close()
	code, out, errOut := runCmd(t, "", "register", "--webhook", p.WebhookURL(), "--handler", "http://127.0.0.1:8080/bitrix24/events", "--name", "Helper")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	calls := p.CallsOf("imbot.register")
	if len(calls) != 1 {
		t.Fatalf("imbot.register calls: %d, want 1", len(calls))
	}
	c := calls[0]
	handler := c.Str("EVENT_HANDLER")
	if !strings.HasPrefix(handler, "http://127.0.0.1:8080/bitrix24/events?k=") || len(handler) < len("http://127.0.0.1:8080/bitrix24/events?k=")+16 {
		t.Errorf("EVENT_HANDLER = %q, want the handler with a k secret", handler)
	}
	secret := strings.TrimPrefix(handler, "http://127.0.0.1:8080/bitrix24/events?k=")
	clientID := c.Str("CLIENT_ID")
	for _, want := range []string{"BOT_ID", "OLBOT_CLIENT_ID=" + clientID, "OLBOT_HANDLER_SECRET=" + secret, "Chat-bot", `"Helper"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if c.Str("TYPE") != "O" || c.Str("CODE") != "olbot" {
		t.Errorf("TYPE=%q CODE=%q, want O and olbot", c.Str("TYPE"), c.Str("CODE"))
	}
}

func TestRegisterErrors(t *testing.T) {
	p, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	defer srv.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"register"}, 2, "Usage: olbot register"},
		{"bad handler", []string{"register", "--webhook", p.WebhookURL(), "--handler", "not a url"}, 2, "is not an http(s) URL"},
		{"wrong webhook secret", []string{"register", "--webhook", strings.Replace(p.WebhookURL(), "fakewebhooksecret", "wrong", 1), "--handler", "http://127.0.0.1:1/bitrix24/events"}, 1, "the portal refused"},
		{"plain http portal off loopback", []string{"register", "--webhook", "http://portal.example.com/rest/1/x/", "--handler", "http://127.0.0.1:1/e"}, 2, "olbot register:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, "", tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
			if strings.Contains(out+errOut, "fakewebhooksecret") {
				t.Errorf("the webhook secret was printed:\n%s%s", out, errOut)
			}
		})
	}
}

// TestFakePortalCommand runs `olbot fakeportal` without an olbot to install
// into: it serves the REST API until interrupted.
func TestFakePortalCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"fakeportal", "--listen", addr, "--olbot", ""}, strings.NewReader(""), &out, &bytes.Buffer{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fakeportal did not listen within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "http://"+addr+"/rest/") {
		t.Errorf("output lacks the REST endpoint:\n%s", out.String())
	}
}
