package bitrix24

import (
	"errors"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadPairs reads testdata with one decoded key=value pair per line.
func loadPairs(tb testing.TB, name string) url.Values {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	form := url.Values{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			tb.Fatalf("bad testdata line %q", line)
		}
		form.Add(k, v)
	}
	return form
}

func TestParseEventDocExample(t *testing.T) {
	form := loadPairs(t, "message_event.txt")
	// Through the wire: encode as the portal does, then parse the raw body.
	raw := form.Encode()
	if !strings.Contains(raw, "data%5BPARAMS%5D%5BCHAT_ENTITY_ID%5D=telegrambot%7C8%7C173633217%7C569") ||
		!strings.Contains(raw, "data%5BPARAMS%5D%5BMESSAGE%5D=I+want+to+order+a+pizza") {
		t.Fatalf("wire form does not match the documented encoding:\n%s", raw)
	}
	wire, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ParseEvent(wire)
	if err != nil {
		t.Fatalf("ParseEvent: %v", err)
	}
	botAuth := Auth{
		AccessToken: "a98b40e1", RefreshToken: "b7c3ff02", Expires: 1771932585, ExpiresIn: 3600,
		Scope: "imbot,imopenlines", Domain: "example.bitrix24.com",
		ClientEndpoint: "https://example.bitrix24.com/rest/", ServerEndpoint: "https://oauth.bitrix.info/rest/",
		MemberID: "bac1cd5c8940947a75e0d71b1a84e348", ApplicationToken: "831c76b092f9f135d9b6b36c3a720757",
		Status: "L", UserID: 1011, ClientID: "local.6560a3e1b1c2d3.12345678",
	}
	want := &Event{
		Name:      EventMessageAdd,
		HandlerID: 403,
		TS:        time.Unix(1771928985, 0).UTC(),
		Auth: Auth{
			AccessToken: "5f2e9a11", ExpiresIn: 3600, Scope: "imbot,imopenlines", Domain: "example.bitrix24.com",
			ClientEndpoint: "https://example.bitrix24.com/rest/", ServerEndpoint: "https://oauth.bitrix.info/rest/",
			MemberID: "bac1cd5c8940947a75e0d71b1a84e348", ApplicationToken: "831c76b092f9f135d9b6b36c3a720757",
			Status: "L", UserID: 569,
		},
		Params: Params{
			Message: "I want to order a pizza", MessageType: "L", FromUserID: 569, AuthorID: 569,
			DialogID: "chat1777", ToChatID: 1777, ChatID: 1777, ChatType: "L", ChatTitle: "Ivan Petrov - Telegram",
			ChatEntityType: "LINES", ChatEntityID: "telegrambot|8|173633217|569",
			ChatEntityData1: "Y|LEAD|1209|N|N|343|1773682918|0|0|0",
			ChatEntityData2: "LEAD|1209|COMPANY|0|CONTACT|0|DEAL|0", ChatEntityData3: "N",
			MessageID: 86101, Language: "en",
		},
		User: &User{ID: 569, Name: "Ivan Petrov", FirstName: "Ivan", IsConnector: true, ConnectorSent: true},
		Bots: map[int]BotAuth{1011: {BotID: 1011, BotCode: "scenario_bot", Auth: botAuth}},
	}
	got := *ev
	got.Data = nil
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("event:\n got %+v\nwant %+v", got, *want)
	}
	if line, ok := ev.OpenLine(); !ok || line != 8 {
		t.Errorf("OpenLine()=%d,%v, want 8,true", line, ok)
	}
	if id := ev.LeadID(); id != 1209 {
		t.Errorf("LeadID()=%d, want 1209", id)
	}
	if id := ev.ChatID(); id != 1777 {
		t.Errorf("ChatID()=%d, want 1777", id)
	}
	if c := ev.Connector(); c != "telegrambot" {
		t.Errorf("Connector()=%q, want telegrambot", c)
	}
	if b, ok := ev.Bot(); !ok || b.AccessToken != "a98b40e1" {
		t.Errorf("Bot()=%+v,%v, want the 1011 token set", b, ok)
	}
	// The raw tree keeps fields the typed view does not carry.
	bot := ev.Data["BOT"].(map[string]any)["1011"].(map[string]any)
	if bot["AUTH"].(map[string]any)["access_token"] != "a98b40e1" {
		t.Errorf("Data tree lost data[BOT][1011][AUTH][access_token]")
	}
}

func TestDecodeFormDocWire(t *testing.T) {
	// The exact two-pair raw wire form from the doc.
	raw := "data%5BPARAMS%5D%5BCHAT_ENTITY_ID%5D=telegrambot%7C8%7C173633217%7C569&data%5BPARAMS%5D%5BMESSAGE%5D=I+want+to+order+a+pizza"
	form, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := DecodeForm(form)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"data": map[string]any{"PARAMS": map[string]any{
		"CHAT_ENTITY_ID": "telegrambot|8|173633217|569",
		"MESSAGE":        "I want to order a pizza",
	}}}
	if !reflect.DeepEqual(tree, want) {
		t.Fatalf("tree=%v, want %v", tree, want)
	}
	if got := EncodeForm(tree).Encode(); got != raw {
		t.Fatalf("EncodeForm:\n got %s\nwant %s", got, raw)
	}
}

func TestDecodeFormErrors(t *testing.T) {
	many := url.Values{}
	for i := range MaxFormKeys + 1 {
		many.Set("k"+strconv.Itoa(i), "v")
	}
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"unclosed bracket", url.Values{"data[PARAMS": {"x"}}, `data[PARAMS: bad key syntax: "[" without "]"`},
		{"close without open", url.Values{"data]": {"x"}}, `data]: bad key syntax: "]" without "["`},
		{"no name", url.Values{"[PARAMS]": {"x"}}, `[PARAMS]: bad key syntax: empty name before "["`},
		{"empty brackets", url.Values{"data[]": {"x"}}, `data[]: bad key syntax: empty "[]"`},
		{"text after bracket", url.Values{"data[a]b": {"x"}}, `data[a]b: bad key syntax: text after "]" must start a new "[…]"`},
		{"nested bracket", url.Values{"data[a[b]]": {"x"}}, `data[a[b]]: bad key syntax: nested "["`},
		{"given twice", url.Values{"event": {"A", "B"}}, `event: given 2 times`},
		{"value then group", url.Values{"data[PARAMS]": {"x"}, "data[PARAMS][CHAT_ID]": {"1"}},
			`data[PARAMS]: is both a value and a group of keys`},
		{"group then value", url.Values{"data": {"x"}, "data[PARAMS][CHAT_ID]": {"1"}},
			`data: is both a value and a group of keys`},
		{"too deep", url.Values{"a[1][2][3][4][5][6][7][8]": {"x"}}, `a[1][2][3][4][5][6][7][8]: nested deeper than 8 levels`},
		{"too many keys", many, `form has 1001 keys, more than the limit of 1000`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeForm(tc.form)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err=%v, want a *FieldError", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("err=%q, want %q", err, tc.want)
			}
		})
	}
	// Exactly at the limits is fine.
	if ev, err := ParseEvent(url.Values{"event": {"onimbotmessageupdate"}, "ts": {"1771928985.25"}}); err != nil ||
		ev.Name != EventMessageUpdate || ev.TS.Unix() != 1771928985 {
		t.Fatalf("lenient update event: %+v, %v", ev, err)
	}
	if _, err := DecodeForm(url.Values{"a[1][2][3][4][5][6][7]": {"x"}}); err != nil {
		t.Fatalf("8 levels: %v", err)
	}
}

func TestParseEventErrors(t *testing.T) {
	base := func(extra ...string) url.Values {
		f := url.Values{"event": {"ONIMBOTMESSAGEADD"}, "data[PARAMS][DIALOG_ID]": {"chat1777"}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "<del>" {
				f.Del(extra[i])
			} else {
				f.Set(extra[i], extra[i+1])
			}
		}
		return f
	}
	tests := []struct {
		name      string
		form      url.Values
		want      string
		wantField string
	}{
		{"missing event", base("event", "<del>"), `event: missing`, "event"},
		{"chat id not a number", base("data[PARAMS][CHAT_ID]", "abc"), `data[PARAMS][CHAT_ID]: "abc" is not a number`, "data[PARAMS][CHAT_ID]"},
		{"message id negative", base("data[PARAMS][MESSAGE_ID]", "-5"), `data[PARAMS][MESSAGE_ID]: "-5" is negative`, "data[PARAMS][MESSAGE_ID]"},
		{"message id too big", base("data[PARAMS][MESSAGE_ID]", "99999999999999999999"), `data[PARAMS][MESSAGE_ID]: "99999999999999999999" is out of range`, "data[PARAMS][MESSAGE_ID]"},
		{"user id", base("data[USER][ID]", "5x"), `data[USER][ID]: "5x" is not a number`, "data[USER][ID]"},
		{"bool", base("data[USER][IS_CONNECTOR]", "maybe"), `data[USER][IS_CONNECTOR]: "maybe" is not Y or N`, "data[USER][IS_CONNECTOR]"},
		{"bot key", base("data[BOT][abc][access_token]", "t"), `data[BOT][abc]: bot id "abc" is not a positive number`, "data[BOT][abc]"},
		{"bot id mismatch", base("data[BOT][1011][BOT_ID]", "1012"), `data[BOT][1011][BOT_ID]: 1012 does not match the key 1011`, "data[BOT][1011][BOT_ID]"},
		{"ts", base("ts", "yesterday"), `ts: "yesterday" is not a unix time`, "ts"},
		{"ts fraction garbage", base("ts", "17.x"), `ts: "17.x" is not a unix time`, "ts"},
		{"params is a value", base("data[PARAMS][DIALOG_ID]", "<del>", "data[PARAMS]", "x"), `data[PARAMS]: is a value, want a group of keys`, "data[PARAMS]"},
		{"message is a group", base("data[PARAMS][MESSAGE][0]", "x"), `data[PARAMS][MESSAGE]: is a group of keys, want a value`, "data[PARAMS][MESSAGE]"},
		{"missing dialog", base("data[PARAMS][DIALOG_ID]", "<del>", "data[PARAMS][MESSAGE]", "hi"), `data[PARAMS][DIALOG_ID]: missing`, "data[PARAMS][DIALOG_ID]"},
		{"command without COMMAND", base("event", "ONIMCOMMANDADD"), `data[COMMAND]: missing`, "data[COMMAND]"},
		{"command key", base("event", "ONIMCOMMANDADD", "data[COMMAND][x][COMMAND]", "menu"), `data[COMMAND][x]: command id "x" is not a positive number`, "data[COMMAND][x]"},
		{"bot delete without id", url.Values{"event": {"ONIMBOTDELETE"}}, `data[BOT_ID]: missing`, "data[BOT_ID]"},
		{"install without member", url.Values{"event": {"ONAPPINSTALL"}, "auth[application_token]": {"x"}}, `auth[member_id]: missing`, "auth[member_id]"},
		{"bad syntax", base("data[PARAMS][X", "1"), `data[PARAMS][X: bad key syntax: "[" without "]"`, "data[PARAMS][X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseEvent(tc.form)
			if err == nil {
				t.Fatalf("ParseEvent=%+v, want error %q", ev, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err=%T %v, want *FieldError", err, err)
			}
			if err.Error() != tc.want || fe.Field != tc.wantField {
				t.Fatalf("err=%q (field %q), want %q (field %q)", err, fe.Field, tc.want, tc.wantField)
			}
		})
	}
}

func TestParseEventKinds(t *testing.T) {
	auth := Auth{Domain: "p.example", MemberID: "m1", ApplicationToken: "app", AccessToken: "tok", ClientEndpoint: "https://p.example/rest/"}
	bot := BotAuth{BotID: 1011, BotCode: "olbot", Auth: Auth{AccessToken: "bottok", ClientID: "local.x", UserID: 1011}}
	chat := LineChat{ChatID: 1777, Line: 8, Client: User{ID: 569, Name: "Ivan Petrov", FirstName: "Ivan"}, LeadID: 1209}
	tests := []struct {
		name  string
		ev    *Event
		check func(t *testing.T, got *Event)
	}{
		{"message", MessageEvent(auth, bot, chat, 86101, "I want a pizza"), func(t *testing.T, got *Event) {
			if got.Params.Message != "I want a pizza" || got.Params.MessageID != 86101 {
				t.Errorf("message=%q id=%d", got.Params.Message, got.Params.MessageID)
			}
			if !got.User.IsConnector || got.User.Name != "Ivan Petrov" {
				t.Errorf("user=%+v", got.User)
			}
		}},
		{"join", JoinEvent(auth, bot, chat), func(t *testing.T, got *Event) {
			if got.Params.BotID != 1011 || got.Params.UserID != 569 || got.Params.MessageID != 0 {
				t.Errorf("params=%+v", got.Params)
			}
		}},
		{"command", CommandEvent(auth, bot, chat, Command{ID: 7, Command: "menu", Params: "order", Context: "KEYBOARD", MessageID: 86102}),
			func(t *testing.T, got *Event) {
				want := Command{ID: 7, Command: "menu", Params: "order", Context: "KEYBOARD", MessageID: 86102, BotID: 1011, BotCode: "olbot", Auth: bot.Auth}
				if got.Commands[7] != want {
					t.Errorf("command=%+v, want %+v", got.Commands[7], want)
				}
				if got.Params.CommandContext != "KEYBOARD" || got.Params.Message != "/menu order" {
					t.Errorf("params=%+v", got.Params)
				}
			}},
		{"delete", DeleteEvent(auth, 1011, "olbot"), func(t *testing.T, got *Event) {
			if got.BotID != 1011 || got.BotCode != "olbot" {
				t.Errorf("bot=%d %q", got.BotID, got.BotCode)
			}
		}},
		{"install", InstallEvent(auth, Install{Version: "3", Active: true, Installed: false, LanguageID: "de"}), func(t *testing.T, got *Event) {
			want := Install{Version: "3", Active: true, Installed: false, LanguageID: "de"}
			if got.Install == nil || *got.Install != want {
				t.Errorf("install=%+v, want %+v", got.Install, want)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.HandlerID = 403
			tc.ev.TS = time.Unix(1771928985, 0).UTC()
			wire, err := url.ParseQuery(tc.ev.Form().Encode())
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEvent(wire)
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			got.Data = nil
			if !reflect.DeepEqual(got, tc.ev) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.ev)
			}
			if got.Name != EventBotDelete && got.Name != EventAppInstall {
				if line, ok := got.OpenLine(); !ok || line != 8 {
					t.Errorf("OpenLine()=%d,%v", line, ok)
				}
				if got.LeadID() != 1209 || got.ChatID() != 1777 {
					t.Errorf("LeadID()=%d ChatID()=%d", got.LeadID(), got.ChatID())
				}
				if b, ok := got.Bot(); !ok || b.AccessToken != "bottok" {
					t.Errorf("Bot()=%+v,%v", b, ok)
				}
			}
			tc.check(t, got)
		})
	}
}

func TestEventHelpers(t *testing.T) {
	tests := []struct {
		name     string
		params   Params
		wantLine int
		wantOK   bool
		wantLead int
		wantChat int
	}{
		{"open line", Params{ChatEntityType: "LINES", ChatEntityID: "livechat|22|1775|599", ChatEntityData2: "LEAD|1209|COMPANY|0", DialogID: "chat1777"}, 22, true, 1209, 1777},
		{"chat id wins over dialog", Params{ChatEntityType: "LINES", ChatEntityID: "x|3|y|z", ChatID: 5, DialogID: "chat6"}, 3, true, 0, 5},
		{"not lines", Params{ChatEntityType: "", ChatEntityID: "livechat|22|1775|599", DialogID: "27"}, 0, false, 0, 0},
		{"bad line id", Params{ChatEntityType: "LINES", ChatEntityID: "livechat|abc|1|2", DialogID: "chatX"}, 0, false, 0, 0},
		{"short entity id", Params{ChatEntityType: "LINES", ChatEntityID: "livechat"}, 0, false, 0, 0},
		{"lead later in list", Params{ChatEntityData2: "COMPANY|4|LEAD|77|DEAL|0"}, 0, false, 77, 0},
		{"bad lead", Params{ChatEntityData2: "LEAD|x|COMPANY|0"}, 0, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{Params: tc.params}
			line, ok := ev.OpenLine()
			if line != tc.wantLine || ok != tc.wantOK {
				t.Errorf("OpenLine()=%d,%v, want %d,%v", line, ok, tc.wantLine, tc.wantOK)
			}
			if got := ev.LeadID(); got != tc.wantLead {
				t.Errorf("LeadID()=%d, want %d", got, tc.wantLead)
			}
			if got := ev.ChatID(); got != tc.wantChat {
				t.Errorf("ChatID()=%d, want %d", got, tc.wantChat)
			}
		})
	}
}

func TestEncodeForm(t *testing.T) {
	tree := map[string]any{
		"DIALOG_ID": "chat1",
		"BOT_ID":    1011,
		"SYSTEM":    false,
		"URL":       true,
		"NIL":       nil,
		"EMPTY":     map[string]any{},
		"KEYBOARD": map[string]any{"BUTTONS": []map[string]string{
			{"TEXT": "Yes please", "ACTION": "SEND"},
		}},
		"LIST": []string{"a", "b"},
	}
	got := EncodeForm(tree).Encode()
	want := "BOT_ID=1011&DIALOG_ID=chat1&KEYBOARD%5BBUTTONS%5D%5B0%5D%5BACTION%5D=SEND&KEYBOARD%5BBUTTONS%5D%5B0%5D%5BTEXT%5D=Yes+please&LIST%5B0%5D=a&LIST%5B1%5D=b&SYSTEM=0&URL=1"
	if got != want {
		t.Fatalf("EncodeForm:\n got %s\nwant %s", got, want)
	}
}
