package bitrix24

import (
	"encoding/json"
	"testing"
)

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name       string
		req        Request
		wantMethod string
		wantJSON   string
	}{
		{"message plain", MessageAddRequest("chat1777", 1011, "Hello", nil, false), MethodMessageAdd,
			`{"BOT_ID":1011,"DIALOG_ID":"chat1777","MESSAGE":"Hello"}`},
		{"message buttons", MessageAddRequest("chat1777", 1011, "Pick one", []string{"Order status", "Talk to a human"}, false), MethodMessageAdd,
			`{"BOT_ID":1011,"DIALOG_ID":"chat1777","KEYBOARD":{"BOT_ID":1011,"BUTTONS":[` +
				`{"ACTION":"SEND","ACTION_VALUE":"Order status","DISPLAY":"LINE","TEXT":"Order status"},` +
				`{"ACTION":"SEND","ACTION_VALUE":"Talk to a human","DISPLAY":"LINE","TEXT":"Talk to a human"}]},"MESSAGE":"Pick one"}`},
		{"message numbered", MessageAddRequest("chat1777", 0, "How can we help?", []string{"Order status", "Delivery"}, true), MethodMessageAdd,
			`{"DIALOG_ID":"chat1777","KEYBOARD":{"BUTTONS":[` +
				`{"ACTION":"SEND","ACTION_VALUE":"Order status","DISPLAY":"LINE","TEXT":"Order status"},` +
				`{"ACTION":"SEND","ACTION_VALUE":"Delivery","DISPLAY":"LINE","TEXT":"Delivery"}]},` +
				`"MESSAGE":"How can we help?[BR][SEND=1]1. Order status[/SEND][BR][SEND=2]2. Delivery[/SEND]"}`},
		{"numbered without text", MessageAddRequest("chat1", 0, "", []string{"A"}, true), MethodMessageAdd,
			`{"DIALOG_ID":"chat1","KEYBOARD":{"BUTTONS":[{"ACTION":"SEND","ACTION_VALUE":"A","DISPLAY":"LINE","TEXT":"A"}]},"MESSAGE":"[SEND=1]1. A[/SEND]"}`},
		{"greeting default", SessionMessageSendRequest(1777, GreetDefault, "Thanks!"), MethodSessionMessageSend,
			`{"CHAT_ID":1777,"MESSAGE":"Thanks!","NAME":"DEFAULT"}`},
		{"greeting welcome", SessionMessageSendRequest(1777, GreetWelcome, "ignored"), MethodSessionMessageSend,
			`{"CHAT_ID":1777,"NAME":"WELCOME"}`},
		{"operator", SessionOperatorRequest(1777), MethodSessionOperator, `{"CHAT_ID":1777}`},
		{"transfer user", SessionTransferRequest(1777, 12, 22, true), MethodSessionTransfer, `{"CHAT_ID":1777,"LEAVE":"Y","USER_ID":12}`},
		{"transfer queue", SessionTransferRequest(1777, 0, 22, false), MethodSessionTransfer, `{"CHAT_ID":1777,"LEAVE":"N","QUEUE_ID":22}`},
		{"finish", SessionFinishRequest(1777), MethodSessionFinish, `{"CHAT_ID":1777}`},
		{"register", RegisterRequest(RegisterParams{Code: "olbot", EventHandler: "https://bot.example/bitrix24/events?k=s",
			Properties: BotProperties{Name: "Olbot", Color: "AZURE"}}), MethodRegister,
			`{"CODE":"olbot","EVENT_HANDLER":"https://bot.example/bitrix24/events?k=s","OPENLINE":"Y","PROPERTIES":{"NAME":"Olbot","COLOR":"AZURE"},"TYPE":"O"}`},
		{"unregister", UnregisterRequest(1011), MethodUnregister, `{"BOT_ID":1011}`},
		{"lead add", LeadAddRequest(map[string]string{"name": "Ivan", "phone": "+79990000000", "email": "ivan@example.com", "order": "42", "city": "Riga", "empty": ""}), MethodLeadAdd,
			`{"fields":{"COMMENTS":"city: Riga\norder: 42","EMAIL":[{"VALUE":"ivan@example.com","VALUE_TYPE":"WORK"}],"NAME":"Ivan","PHONE":[{"VALUE":"+79990000000","VALUE_TYPE":"WORK"}]}}`},
		{"lead update", LeadUpdateRequest(1209, map[string]string{"Last_Name": "Petrov", "title": "Telegram: Ivan"}), MethodLeadUpdate,
			`{"fields":{"LAST_NAME":"Petrov","TITLE":"Telegram: Ivan"},"id":1209}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Method != tc.wantMethod {
				t.Errorf("method=%q, want %q", tc.req.Method, tc.wantMethod)
			}
			if got := mustJSON(t, tc.req.Params); got != tc.wantJSON {
				t.Errorf("params:\n got %s\nwant %s", got, tc.wantJSON)
			}
		})
	}
}

func TestEscapeBB(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"[URL=https://evil.example]click[/URL]", "[\u200bURL=https://evil.example]click[\u200b/URL]"},
		{"[[B]]", "[\u200b[\u200bB]]"},
		{"Я [b]жирный", "Я [\u200bb]жирный"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := EscapeBB(tc.in); got != tc.want {
			t.Errorf("EscapeBB(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		raw     string
		want    int
		wantErr bool
	}{
		{`86320`, 86320, false},
		{`"86320"`, 86320, false},
		{` 7 `, 7, false},
		{`true`, 0, true},
		{`"abc"`, 0, true},
		{`0`, 0, true},
		{`null`, 0, true},
		{`1.5`, 0, true},
	}
	for _, tc := range tests {
		got, err := ParseID(json.RawMessage(tc.raw))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseID(%s)=%d,%v, want %d, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
		if err != nil && Classify(err) != ClassTransient {
			t.Errorf("ParseID(%s) error class=%v, want transient (bad answer)", tc.raw, Classify(err))
		}
	}
}

func TestNewClientURLs(t *testing.T) {
	tests := []struct {
		name    string
		webhook bool
		url     string
		wantErr string
	}{
		{"webhook https", true, "https://example.bitrix24.com/rest/1/abc123/", ""},
		{"webhook no slash", true, "https://example.bitrix24.com/rest/1/abc123", ""},
		{"webhook loopback http", true, "http://127.0.0.1:8081/rest/1/abc/", ""},
		{"webhook localhost http", true, "http://localhost:8081/rest/1/abc/", ""},
		{"webhook ipv6 loopback", true, "http://[::1]:8081/rest/1/abc/", ""},
		{"webhook public http", true, "http://example.bitrix24.com/rest/1/abc/", `bitrix24: webhook URL: http:// is allowed only for loopback hosts, not "example.bitrix24.com"; use https://`},
		{"webhook not rest", true, "https://example.bitrix24.com/api/1/abc/", "bitrix24: webhook URL: want https://PORTAL/rest/USER_ID/SECRET/"},
		{"webhook user", true, "https://example.bitrix24.com/rest/me/abc/", `bitrix24: webhook URL: user id "me" is not a number`},
		{"webhook query", true, "https://example.bitrix24.com/rest/1/abc/?x=1", "bitrix24: webhook URL: query and fragment are not allowed"},
		{"oauth https", false, "https://example.bitrix24.com/rest/", ""},
		{"oauth ftp", false, "ftp://example.bitrix24.com/rest/", `bitrix24: client endpoint: scheme "ftp": want https`},
		{"oauth no host", false, "https:///rest/", "bitrix24: client endpoint: missing host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.webhook {
				_, err = NewWebhook(tc.url, "cid")
			} else {
				_, err = NewOAuth(tc.url, StaticToken("t"))
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Fatalf("err=%q, want %q", got, tc.wantErr)
			}
		})
	}
	c, err := NewWebhook("https://example.bitrix24.com/rest/1/s3cr3t/", "cid")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); s != "bitrix24 webhook https://example.bitrix24.com/rest/1/***/" {
		t.Fatalf("String()=%q", s)
	}
}
