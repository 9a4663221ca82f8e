package fakeportal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

func start(tb testing.TB, cfg fakeportal.Config) (*fakeportal.Portal, *httptest.Server) {
	tb.Helper()
	if cfg.Burst == 0 {
		cfg.Burst = -1
	}
	p, srv := fakeportal.NewServer(cfg)
	tb.Cleanup(srv.Close)
	return p, srv
}

// post sends a raw request and returns the status and decoded JSON body.
func post(tb testing.TB, target, contentType, body string) (int, map[string]any) {
	tb.Helper()
	resp, err := http.Post(target, contentType, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("body %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, m
}

func TestWireFormat(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	access, _ := p.Tokens()
	status, body := post(t, p.Endpoint()+"imopenlines.bot.session.operator", "application/json",
		`{"CHAT_ID":1777,"auth":"`+access+`"}`)
	if status != 200 || body["result"] != true {
		t.Fatalf("success: %d %v", status, body)
	}
	tm, ok := body["time"].(map[string]any)
	for _, k := range []string{"start", "finish", "duration", "processing", "date_start", "date_finish", "operating_reset_at", "operating"} {
		if _, has := tm[k]; !ok || !has {
			t.Errorf("time lacks %q: %v", k, body["time"])
		}
	}
	status, body = post(t, p.Endpoint()+"imopenlines.bot.session.operator.json", "application/json",
		`{"CHAT_ID":0,"auth":"`+access+`"}`)
	want := map[string]any{"error": "CHAT_ID_EMPTY", "error_description": "Chat ID can't be empty"}
	if status != 400 || len(body) != 2 || body["error"] != want["error"] || body["error_description"] != want["error_description"] {
		t.Fatalf("error: %d %v, want 400 %v", status, body, want)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name       string
		cfg        fakeportal.Config
		webhook    bool
		method     string
		body       string // JSON; the OAuth token is added unless webhook
		wantStatus int
		wantCode   string
	}{
		{"message ok", fakeportal.Config{}, false, "imbot.message.add", `{"DIALOG_ID":"chat1","MESSAGE":"hi"}`, 200, ""},
		{"message empty", fakeportal.Config{}, false, "imbot.message.add", `{"DIALOG_ID":"chat1","MESSAGE":" "}`, 400, "MESSAGE_EMPTY"},
		{"dialog empty", fakeportal.Config{}, false, "imbot.message.add", `{"MESSAGE":"hi"}`, 400, "DIALOG_ID_EMPTY"},
		{"bot unknown", fakeportal.Config{}, false, "imbot.message.add", `{"BOT_ID":5,"DIALOG_ID":"chat1","MESSAGE":"hi"}`, 400, "BOT_ID_ERROR"},
		{"bot of another app", fakeportal.Config{}, true, "imbot.message.add", `{"BOT_ID":1011,"CLIENT_ID":"other","DIALOG_ID":"chat1","MESSAGE":"hi"}`, 400, "APP_ID_ERROR"},
		{"keyboard ok as string", fakeportal.Config{}, false, "imbot.message.add",
			`{"DIALOG_ID":"chat1","MESSAGE":"hi","KEYBOARD":"[{\"TEXT\":\"a\",\"LINK\":\"https://x\"},{\"TYPE\":\"NEWLINE\"}]"}`, 200, ""},
		{"keyboard two actions", fakeportal.Config{}, false, "imbot.message.add",
			`{"DIALOG_ID":"chat1","MESSAGE":"hi","KEYBOARD":{"BUTTONS":[{"TEXT":"a","LINK":"https://x","COMMAND":"c"}]}}`, 400, "KEYBOARD_ERROR"},
		{"keyboard no text", fakeportal.Config{}, false, "imbot.message.add",
			`{"DIALOG_ID":"chat1","MESSAGE":"hi","KEYBOARD":{"BUTTONS":[{"ACTION":"SEND","ACTION_VALUE":"1"}]}}`, 400, "KEYBOARD_ERROR"},
		{"keyboard bad action", fakeportal.Config{}, false, "imbot.message.add",
			`{"DIALOG_ID":"chat1","MESSAGE":"hi","KEYBOARD":{"BUTTONS":[{"TEXT":"a","ACTION":"JUMP","ACTION_VALUE":"1"}]}}`, 400, "KEYBOARD_ERROR"},
		{"keyboard too big", fakeportal.Config{}, false, "imbot.message.add",
			`{"DIALOG_ID":"chat1","MESSAGE":"hi","KEYBOARD":{"BUTTONS":[{"TEXT":"` + strings.Repeat("x", 31*1024) + `","LINK":"https://x"}]}}`, 400, "KEYBOARD_OVERSIZE"},
		{"webhook imbot without CLIENT_ID", fakeportal.Config{}, true, "imbot.message.add", `{"DIALOG_ID":"chat1","MESSAGE":"hi"}`, 403, "ACCESS_DENIED"},
		{"webhook session without CLIENT_ID", fakeportal.Config{}, true, "imopenlines.bot.session.operator", `{"CHAT_ID":"1777"}`, 200, ""},
		{"chat id string", fakeportal.Config{}, false, "imopenlines.bot.session.message.send", `{"CHAT_ID":"1777","NAME":"WELCOME"}`, 200, ""},
		{"chat id garbage", fakeportal.Config{}, false, "imopenlines.bot.session.finish", `{"CHAT_ID":"abc"}`, 400, "CHAT_ID_EMPTY"},
		{"transfer queue by TRANSFER_ID", fakeportal.Config{Lines: []int{22}}, false, "imopenlines.bot.session.transfer", `{"CHAT_ID":1,"TRANSFER_ID":"queue22"}`, 200, ""},
		{"transfer unknown queue", fakeportal.Config{Lines: []int{22}}, false, "imopenlines.bot.session.transfer", `{"CHAT_ID":1,"QUEUE_ID":23}`, 400, "OPERATOR_WRONG"},
		{"transfer user by TRANSFER_ID", fakeportal.Config{Operators: []int{12}}, false, "imopenlines.bot.session.transfer", `{"CHAT_ID":1,"TRANSFER_ID":"12"}`, 200, ""},
		{"transfer nobody", fakeportal.Config{}, false, "imopenlines.bot.session.transfer", `{"CHAT_ID":1,"LEAVE":"Y"}`, 400, "TRANSFER_ID_EMPTY"},
		{"register ok", fakeportal.Config{}, false, "imbot.register", `{"CODE":"b2","EVENT_HANDLER":"https://h.example/e","PROPERTIES":{"NAME":"B"}}`, 200, ""},
		{"register no code", fakeportal.Config{}, false, "imbot.register", `{"EVENT_HANDLER":"https://h.example/e","PROPERTIES":{"NAME":"B"}}`, 400, "CODE_ERROR"},
		{"register no handler", fakeportal.Config{}, false, "imbot.register", `{"CODE":"b2","PROPERTIES":{"NAME":"B"}}`, 400, "EVENT_MESSAGE_ADD_ERROR"},
		{"register partial handlers", fakeportal.Config{}, false, "imbot.register", `{"CODE":"b2","EVENT_MESSAGE_ADD":"https://h.example/e","PROPERTIES":{"NAME":"B"}}`, 400, "EVENT_WELCOME_MESSAGE_ERROR"},
		{"register no name", fakeportal.Config{}, false, "imbot.register", `{"CODE":"b2","EVENT_HANDLER":"https://h.example/e","PROPERTIES":{"COLOR":"RED"}}`, 400, "NAME_ERROR"},
		{"unregister unknown", fakeportal.Config{}, false, "imbot.unregister", `{"BOT_ID":0}`, 400, "BOT_ID_ERROR"},
		{"lead add without fields", fakeportal.Config{}, false, "crm.lead.add", `{}`, 400, ""},
		{"lead add bad phone", fakeportal.Config{}, false, "crm.lead.add", `{"fields":{"PHONE":"+7999"}}`, 400, ""},
		{"lead update bad id", fakeportal.Config{}, false, "crm.lead.update", `{"id":"x","fields":{"NAME":"a"}}`, 400, ""},
		{"no token", fakeportal.Config{}, false, "imbot.bot.list", `{"auth":""}`, 401, "NO_AUTH_FOUND"},
		{"batch too long", fakeportal.Config{}, false, "batch", `{"halt":0,"cmd":{` + strings.TrimSuffix(strings.Repeat(`"x":"imbot.bot.list",`, 1), ",") + batchKeys(51) + `}}`, 400, "ERROR_BATCH_LENGTH_EXCEEDED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := start(t, tc.cfg)
			botOwner := "" // OAuth application
			if tc.webhook {
				botOwner = "olbot-key"
			}
			p.AddBot("olbot", botOwner, "https://h.example/e")
			target := p.Endpoint() + tc.method
			body := tc.body
			if tc.webhook {
				target = p.WebhookURL() + tc.method
			} else if !strings.Contains(body, `"auth"`) {
				access, _ := p.Tokens()
				body = `{"auth":"` + access + `",` + strings.TrimPrefix(body, "{")
				body = strings.Replace(body, `",}`, `"}`, 1)
			}
			status, ans := post(t, target, "application/json", body)
			code, _ := ans["error"].(string)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Fatalf("%d %v, want %d %q", status, ans, tc.wantStatus, tc.wantCode)
			}
			if status != 200 {
				if _, has := ans["error"]; !has {
					t.Fatalf("error answer without \"error\": %v", ans)
				}
			}
			calls := p.Calls()
			last := calls[len(calls)-1]
			if last.Method != tc.method || last.Status != status || last.Error != code {
				t.Fatalf("recorded %+v", last)
			}
		})
	}
}

func batchKeys(n int) string {
	var b strings.Builder
	for i := 1; i < n; i++ {
		b.WriteString(`,"k` + strings.Repeat("x", i) + `":"imbot.bot.list"`)
	}
	return b.String()
}

func TestFormAndQueryParams(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	p.AddBot("olbot", "k", "https://h.example/e")
	// Form body, as PHP clients send it, with a nested keyboard.
	form := bitrix24.EncodeForm(map[string]any{
		"CLIENT_ID": "k", "DIALOG_ID": "chat9", "MESSAGE": "a b",
		"KEYBOARD": map[string]any{"BUTTONS": []any{map[string]any{"TEXT": "Yes", "ACTION": "SEND", "ACTION_VALUE": "Yes"}}},
	})
	status, ans := post(t, p.WebhookURL()+"imbot.message.add", "application/x-www-form-urlencoded", form.Encode())
	if status != 200 {
		t.Fatalf("form body: %d %v", status, ans)
	}
	// GET-style query params.
	resp, err := http.Get(p.WebhookURL() + "imopenlines.bot.session.operator?CHAT_ID=9")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || p.ChatState(9) != fakeportal.StateOperator {
		t.Fatalf("query params: %d, state %q", resp.StatusCode, p.ChatState(9))
	}
	if m := p.Messages("chat9"); len(m) != 1 || m[0].Text != "a b" || m[0].Keyboard == nil {
		t.Fatalf("messages=%+v", m)
	}
	if got := p.CallsFor(9); len(got) != 2 {
		t.Fatalf("CallsFor(9)=%d calls, want 2", len(got))
	}
}

func TestChatEvents(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	chat := p.Chat(8, 1777, bitrix24.User{FirstName: "Ivan", LastName: "Petrov"})
	other := p.Chat(8, 1778, bitrix24.User{ID: 42, FirstName: "Olga"})
	if chat.LeadID == other.LeadID || p.Lead(chat.LeadID) == nil {
		t.Fatalf("chats share lead %d or it does not exist", chat.LeadID)
	}
	evs := parseForms(t, chat.Join(), chat.Say("I want to order a pizza"), other.Say("hi"), chat.Command("menu", "order"))
	checkEventAuth(t, p, chat, evs)
	cfg := p.Config()
	join, say, otherSay, cmd := evs[0], evs[1], evs[2], evs[3]
	// A documented join has no CHAT_ENTITY_DATA_* (on-imbot-join-chat.md), so
	// no lead: the fake used to send one there.
	if join.Name != bitrix24.EventJoinChat || join.ChatID() != 1777 || join.LeadID() != 0 || join.Params.UserID != chat.Client.ID {
		t.Errorf("join=%+v", join.Params)
	}
	if say.Name != bitrix24.EventMessageAdd || say.Params.Message != "I want to order a pizza" || say.User.FirstName != "Ivan" || !say.User.IsConnector {
		t.Errorf("say=%+v user=%+v", say.Params, say.User)
	}
	if !strings.HasPrefix(say.Params.ChatEntityID, "telegrambot|8|") || say.Params.ChatEntityData2 != "LEAD|"+itoa(chat.LeadID)+"|COMPANY|0|CONTACT|0|DEAL|0" {
		t.Errorf("entity=%q data2=%q", say.Params.ChatEntityID, say.Params.ChatEntityData2)
	}
	if !(say.Params.MessageID < otherSay.Params.MessageID && otherSay.Params.MessageID < cmd.Params.MessageID) {
		t.Errorf("MESSAGE_IDs not increasing: %d %d %d", say.Params.MessageID, otherSay.Params.MessageID, cmd.Params.MessageID)
	}
	if otherSay.User.ID != 42 || otherSay.ChatID() != 1778 {
		t.Errorf("other chat: user %d chat %d", otherSay.User.ID, otherSay.ChatID())
	}
	c := cmd.Commands[1]
	if cmd.Name != bitrix24.EventCommandAdd || c.Command != "menu" || c.Params != "order" || c.MessageID != cmd.Params.MessageID || c.MessageID != chat.LastMessageID() {
		t.Errorf("command=%+v", c)
	}
	// Install and delete events.
	inst, err := bitrix24.ParseEvent(p.InstallEvent())
	if err != nil || inst.Install == nil || !inst.Install.Installed || inst.Auth.RefreshToken == "" || inst.Auth.ApplicationToken != cfg.ApplicationToken {
		t.Errorf("install=%+v %v", inst, err)
	}
	del, err := bitrix24.ParseEvent(p.DeleteEvent(chat.BotID))
	if err != nil || del.BotID != chat.BotID || del.BotCode != "olbot" {
		t.Errorf("delete=%+v %v", del, err)
	}
}

// parseForms reads each event form through the wire form, exactly as Post
// sends it.
func parseForms(t *testing.T, forms ...url.Values) []*bitrix24.Event {
	t.Helper()
	var evs []*bitrix24.Event
	for i, f := range forms {
		wire, err := url.ParseQuery(f.Encode())
		if err != nil {
			t.Fatal(err)
		}
		ev, err := bitrix24.ParseEvent(wire)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// checkEventAuth checks what every chat event carries: the application's
// auth, the bot user's own token in data[BOT], and the Open Line.
func checkEventAuth(t *testing.T, p *fakeportal.Portal, chat *fakeportal.Chat, evs []*bitrix24.Event) {
	t.Helper()
	cfg := p.Config()
	access, _ := p.Tokens()
	for i, ev := range evs {
		if ev.Auth.ApplicationToken != cfg.ApplicationToken || ev.Auth.MemberID != cfg.MemberID || ev.Auth.Domain != cfg.Domain ||
			ev.Auth.ClientEndpoint != p.Endpoint() {
			t.Errorf("event %d auth=%+v", i, ev.Auth)
		}
		bot, ok := ev.Bot()
		// data[BOT] carries the bot user's own token, not the application's
		if !ok || bot.BotID != chat.BotID || bot.AccessToken == access || !strings.HasPrefix(bot.AccessToken, "fake-bot-") || bot.ClientEndpoint != p.Endpoint() {
			t.Errorf("event %d bot=%+v", i, bot)
		}
		if line, ok := ev.OpenLine(); !ok || line != 8 || ev.Connector() != "telegrambot" {
			t.Errorf("event %d line=%d,%v", i, line, ok)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestPostAndSend(t *testing.T) {
	type got struct {
		path, ctype, ua string
		raw             string
		ev              *bitrix24.Event
		err             error
	}
	var mu sync.Mutex
	var seen []got
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		g := got{path: r.URL.RequestURI(), ctype: r.Header.Get("Content-Type"), ua: r.Header.Get("User-Agent"), raw: string(raw)}
		if form, err := url.ParseQuery(string(raw)); err != nil {
			g.err = err
		} else {
			g.ev, g.err = bitrix24.ParseEvent(form)
		}
		mu.Lock()
		seen = append(seen, g)
		mu.Unlock()
	}))
	defer handler.Close()
	p, _ := start(t, fakeportal.Config{})
	p.AddBot("olbot", "", handler.URL+"/bitrix24/events?k=s3")
	chat := p.Chat(3, 55, bitrix24.User{FirstName: "Ann"})
	ctx := context.Background()
	resp, err := p.Post(ctx, handler.URL+"/direct", chat.Say("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, f := range []url.Values{chat.Join(), chat.Say("second")} {
		resp, err := chat.Send(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(seen) != 3 {
		t.Fatalf("%d posts arrived, want 3", len(seen))
	}
	first := seen[0]
	if first.path != "/direct" || first.ctype != "application/x-www-form-urlencoded" || first.ua == "" || first.err != nil {
		t.Fatalf("post=%+v", first)
	}
	if !strings.Contains(first.raw, "data%5BPARAMS%5D%5BMESSAGE%5D=hello+world") {
		t.Errorf("body not in PHP form encoding: %s", first.raw)
	}
	if seen[1].path != "/bitrix24/events?k=s3" || seen[1].ev.Name != bitrix24.EventJoinChat || seen[2].ev.Params.Message != "second" {
		t.Errorf("Send: %+v / %+v", seen[1], seen[2])
	}
	if _, err := p.Chat(1, 2, bitrix24.User{}).Send(ctx, url.Values{"event": {"ONIMBOTJOINCHAT"}}); err != nil {
		// The first registered bot has a handler; any chat uses it.
		t.Fatalf("Send with a handler: %v", err)
	}
}

func TestSendWithoutHandler(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	chat := p.Chat(1, 2, bitrix24.User{FirstName: "A"}) // auto-registers a bot without handlers
	if _, err := chat.Send(context.Background(), chat.Join()); err == nil {
		t.Fatal("Send succeeded with no handler registered")
	}
	if bots := p.Bots(); len(bots) != 1 || bots[0].Code != "olbot" {
		t.Fatalf("bots=%+v", bots)
	}
}

func TestFaults(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	target := p.WebhookURL() + "imopenlines.bot.session.operator"
	p.Down(true)
	if resp, err := http.Post(target, "application/json", strings.NewReader(`{"CHAT_ID":1}`)); err == nil {
		resp.Body.Close()
		t.Fatalf("Down: got HTTP %d, want a network error", resp.StatusCode)
	}
	p.Down(false)
	p.BadGateway(true)
	resp, err := http.Post(target, "application/json", strings.NewReader(`{"CHAT_ID":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("BadGateway: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p.BadGateway(false)
	p.FailNext(2, "OVERLOAD_LIMIT")
	p.FailNext(1, "expired_token")
	for _, want := range []struct {
		status int
		code   string
	}{{503, "OVERLOAD_LIMIT"}, {503, "OVERLOAD_LIMIT"}, {401, "expired_token"}, {200, ""}} {
		status, ans := post(t, target, "application/json", `{"CHAT_ID":2}`)
		if code, _ := ans["error"].(string); status != want.status || code != want.code {
			t.Fatalf("got %d %v, want %d %q", status, ans, want.status, want.code)
		}
	}
	var got []string
	for _, c := range p.Calls() {
		got = append(got, itoa(c.Status)+" "+c.Error)
	}
	want := []string{"0 connection dropped", "502 bad gateway", "503 OVERLOAD_LIMIT", "503 OVERLOAD_LIMIT", "401 expired_token", "200 "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("recorded %q, want %q", got, want)
	}
}

func TestBucket(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p, _ := start(t, fakeportal.Config{Burst: 2, Rate: 4, Now: clock})
	target := p.WebhookURL() + "imopenlines.bot.session.operator"
	try := func() int {
		status, _ := post(t, target, "application/json", `{"CHAT_ID":1}`)
		return status
	}
	var got []int
	got = append(got, try(), try(), try()) // burst 2: third is over
	advance(250 * time.Millisecond)        // drains 1
	got = append(got, try(), try())
	advance(time.Hour)
	got = append(got, try(), try())
	want := []int{200, 400, 503, 400, 503, 400, 400} // 400 = WRONG_CHAT after the first handoff
	if !equalInts(got, want) {
		t.Fatalf("statuses=%v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTokenEndpoint(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	cfg := p.Config()
	_, refresh := p.Tokens()
	get := func(q url.Values) (int, map[string]any) {
		resp, err := http.Get(p.TokenURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	q := url.Values{"grant_type": {"refresh_token"}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}, "refresh_token": {refresh}}
	status, ans := get(q)
	if status != 200 || ans["access_token"] == "" || ans["refresh_token"] == refresh || ans["client_endpoint"] != p.Endpoint() || ans["member_id"] != cfg.MemberID {
		t.Fatalf("refresh: %d %v", status, ans)
	}
	if status, ans = get(q); status != 400 || ans["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", status, ans)
	}
	q.Set("client_secret", "x")
	if status, ans = get(q); status != 401 || ans["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", status, ans)
	}
	q.Set("grant_type", "password")
	if status, ans = get(q); status != 400 || ans["error"] != "unsupported_grant_type" {
		t.Fatalf("grant type: %d %v", status, ans)
	}
	// The new access token works; the old one too until it expires.
	access, _ := p.Tokens()
	if status, ans = post(t, p.Endpoint()+"imbot.bot.list", "application/json", `{"auth":"`+access+`"}`); status != 200 {
		t.Fatalf("new token: %d %v", status, ans)
	}
	p.ExpireTokens()
	if status, ans = post(t, p.Endpoint()+"imbot.bot.list", "application/json", `{"auth":"`+access+`"}`); status != 401 || ans["error"] != "expired_token" {
		t.Fatalf("expired token: %d %v", status, ans)
	}
}

func TestWaitCalls(t *testing.T) {
	p, _ := start(t, fakeportal.Config{})
	go func() {
		for i := range 3 {
			resp, err := http.Post(p.WebhookURL()+"imopenlines.bot.session.operator", "application/json",
				bytes.NewReader([]byte(`{"CHAT_ID":`+itoa(i+1)+`}`)))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	calls, err := p.WaitCalls(context.Background(), 3)
	if err != nil || len(calls) < 3 {
		t.Fatalf("WaitCalls=%d calls, %v", len(calls), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitCalls(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitCalls with a cancelled ctx: %v", err)
	}
}

// TestEventBodies: the bodies the load tool sends (JoinBody, SayBody) are
// the encoded forms of Join and Say.
func TestEventBodies(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC) }
	chats := func() *fakeportal.Chat {
		return fakeportal.New(fakeportal.Config{Now: now}).Chat(8, 1777, bitrix24.User{FirstName: "Ivan", LastName: "Petrov & Sons"})
	}
	a, b := chats(), chats()
	for i, text := range []string{"", "Leave a request", "Anna <anna@example.com> 100% + ещё"} {
		if i == 0 {
			if got, want := string(b.JoinBody()), a.Join().Encode(); got != want {
				t.Fatalf("JoinBody:\n got %s\nwant %s", got, want)
			}
			continue
		}
		if got, want := string(b.SayBody(text)), a.Say(text).Encode(); got != want {
			t.Fatalf("SayBody(%q):\n got %s\nwant %s", text, got, want)
		}
	}
}

// BenchmarkSayBody: the load tool's cost of one client message's body,
// built directly and through url.Values.
//
//	go test -run '^$' -bench SayBody -benchmem ./fakeportal/
func BenchmarkSayBody(b *testing.B) {
	chat := fakeportal.New(fakeportal.Config{}).Chat(8, 1777, bitrix24.User{FirstName: "Ivan"})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			chat.SayBody("Leave a request")
		}
	})
	b.Run("url.Values", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = chat.Say("Leave a request").Encode()
		}
	})
}
