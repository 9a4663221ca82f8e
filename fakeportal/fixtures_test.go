package fakeportal

import (
	"reflect"
	"time"

	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

// TestFixturesDecode is the contract test: every documented body is read by
// olbot's own decoders, the way the portal's traffic would be. Events go
// through bitrix24.ParseEvent as the form body the portal posts; answers and
// errors are served with their status to a bitrix24.Client (REST) or to
// bitrix24.Exchange (OAuth server).
func TestFixturesDecode(t *testing.T) {
	fixtures, err := Fixtures()
	if err != nil {
		t.Fatal(err)
	}
	if len(fixtures) < 40 {
		t.Fatalf("%d fixtures, want the whole documented set", len(fixtures))
	}
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			if len(f.Commit) != 40 {
				t.Fatalf("commit %q is not a full docs commit", f.Commit)
			}
			if !strings.HasSuffix(f.Doc, ".md") {
				t.Fatalf("doc %q is not a doc page", f.Doc)
			}
			switch {
			case strings.HasPrefix(f.Name, "v1.event."):
				checkV1Event(t, f)
			case strings.HasPrefix(f.Name, "v2.event."), strings.HasPrefix(f.Name, "v2.data."):
				checkV2Event(t, f)
			case strings.HasPrefix(f.Name, "oauth."):
				checkOAuth(t, f)
			case f.Method == "imbot.v2.Event.get" && f.Kind == "answer":
				checkV2EventGet(t, f)
			case f.Method == bitrix24.MethodBatch:
				checkBatch(t, f)
			case f.Kind == "answer" || f.Kind == "error":
				checkAnswer(t, f)
			case f.Kind == "request" || f.Kind == "block":
				checkAttachFixture(t, f) // attach_test.go
			default:
				t.Fatalf("no decoder for fixture kind %q", f.Kind)
			}
		})
	}
}

func checkV1Event(t *testing.T, f Fixture) {
	form, err := f.Form()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := bitrix24.ParseEvent(form)
	if err != nil {
		t.Fatalf("ParseEvent: %v", err)
	}
	tree, _ := f.Tree()
	if want := strings.ToUpper(tree["event"].(string)); ev.Name != want {
		t.Fatalf("event %q, want %q", ev.Name, want)
	}
	if ev.Auth.MemberID == "" || ev.Auth.ApplicationToken == "" {
		t.Fatalf("auth member_id %q, application_token %q: the documented envelope has both", ev.Auth.MemberID, ev.Auth.ApplicationToken)
	}
	switch ev.Name {
	case bitrix24.EventAppInstall, bitrix24.EventAppUpdate:
		if ev.Install == nil || ev.Install.Version == "" {
			t.Fatalf("install data %+v: VERSION is a documented string", ev.Install)
		}
	case bitrix24.EventMessageAdd, bitrix24.EventJoinChat, bitrix24.EventCommandAdd:
		if ev.Params.DialogID == "" {
			t.Fatal("no DIALOG_ID")
		}
		if _, ok := ev.Bot(); !ok {
			t.Fatal("no data[BOT] / data[COMMAND] bot")
		}
	case bitrix24.EventBotDelete:
		if ev.BotID == 0 {
			t.Fatal("no BOT_ID")
		}
	}
	if ev.Name == bitrix24.EventJoinChat && ev.Params.ChatEntityData2 != "" {
		t.Fatal("a documented join carries no CHAT_ENTITY_DATA_*")
	}
	if got := ev.Files(); !reflect.DeepEqual(got, fixtureFiles[f.Name]) {
		t.Fatalf("Files() = %+v, want %+v", got, fixtureFiles[f.Name])
	}
}

// v2Types maps the data fixtures to their event types.
var v2Types = map[string]string{
	"v2.data.onimbotv2messageadd": bitrix24.EventV2MessageAdd, "v2.data.onimbotv2joinchat": bitrix24.EventV2JoinChat,
	"v2.data.onimbotv2delete": bitrix24.EventV2Delete, "v2.data.onimbotv2contextget": bitrix24.EventV2ContextGet,
	"v2.data.onimbotv2commandadd": bitrix24.EventV2CommandAdd, "v2.data.onimbotv2reactionchange": bitrix24.EventV2ReactionChange,
	"v2.data.onimbotv2messageadd.files": bitrix24.EventV2MessageAdd,
}

// fixtureFiles are the files each fixture with files must decode to.
var fixtureFiles = map[string][]bitrix24.File{
	"v1.event.onimbotmessageadd.files": {{ID: "1057", Name: "photo.jpg", Size: 48213, Type: "image", Extension: "jpg",
		URL: "https://some-domain.bitrix24.com/bitrix/services/main/ajax.php?action=disk.api.file.download&SITE_ID=s1&humanRE=1&fileId=1057&exact=N&fileName=photo.jpg"}},
	"v2.data.onimbotv2messageadd.files": {{ID: "138", Name: "report.pdf", Size: 35341, Type: "file", Extension: "pdf"}},
}

// checkV2Event decodes the imbot.v2 bodies with olbot's v2 decoders: a
// data object as one element of Event.get's events, a webhook envelope as
// the form the portal posts. The docs' two trimmed examples (the webhook
// envelope with "..." tokens and the tutorial's Open Lines check) carry
// too little for a whole event: only their JSON shape is pinned.
func checkV2Event(t *testing.T, f Fixture) {
	tree, err := f.Tree()
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind == "data" {
		typ, ok := v2Types[f.Name]
		if !ok {
			t.Fatalf("no event type for %s", f.Name)
		}
		raw, _ := json.Marshal(map[string]any{"eventId": 1001, "type": typ, "date": "2025-01-15T10:30:00+02:00", "data": json.RawMessage(f.Body)})
		ev, err := bitrix24.DecodeV2Event(raw)
		if err != nil {
			t.Fatalf("DecodeV2Event: %v", err)
		}
		if ev.Type != typ || ev.Bot.ID == 0 {
			t.Fatalf("event %+v: want type %s and the bot", ev, typ)
		}
		if got := ev.Message.Files(); !reflect.DeepEqual(got, fixtureFiles[f.Name]) {
			t.Fatalf("Message.Files() = %+v, want %+v", got, fixtureFiles[f.Name])
		}
		return
	}
	if s, _ := tree["event"].(string); !strings.HasPrefix(s, "ONIMBOTV2") {
		t.Fatalf("event %q is not an imbot.v2 event", s)
	}
	if data, _ := tree["data"].(map[string]any); data == nil {
		t.Fatal("no data object")
	}
}

func serve(t *testing.T, f Fixture) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write(f.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func checkAnswer(t *testing.T, f Fixture) {
	srv := serve(t, f)
	// a webhook client: it reports expired_token instead of refreshing
	c, err := bitrix24.NewWebhook(srv.URL+"/rest/1/secret/", "client")
	if err != nil {
		t.Fatal(err)
	}
	method := f.Method
	if method == "" {
		method = bitrix24.MethodMessageAdd // a system error: any method may answer it
	}
	res, err := c.Call(context.Background(), method, map[string]any{})
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(f.Body, &body)
	if f.Kind == "answer" {
		if err != nil || len(res) == 0 {
			t.Fatalf("answer: %v, result %s", err, res)
		}
		if method == bitrix24.MethodConfigGet {
			// the line's language is what olbot reads of it
			if lc, err := bitrix24.ParseLineConfig(res); err != nil || lc.ID != 22 || lc.LanguageID != "de" ||
				lc.WelcomeBotTime != 180*time.Second || !lc.Worktime.Enabled || lc.Worktime.From != "0" || lc.Worktime.To != "23.59" ||
				lc.Worktime.Timezone != "Europe/Berlin" || lc.Worktime.DayOff != nil || lc.Worktime.Holidays != nil {
				t.Fatalf("ParseLineConfig: %+v, %v; want line 22 in de, bot time 180s, open 0–23.59 Berlin time every day", lc, err)
			}
		}
		return
	}
	var ae *bitrix24.APIError
	if !errors.As(err, &ae) || ae.Code != body.Error || ae.Status != f.Status {
		t.Fatalf("error %v, want code %q with HTTP %d", err, body.Error, f.Status)
	}
	if want, ok := errorClass[strings.ToLower(body.Error)]; ok {
		if got := bitrix24.Classify(err); got != want {
			t.Fatalf("Classify(%s)=%v, want %v", body.Error, got, want)
		}
	}
}

// errorClass is what olbot must do with the documented errors.
var errorClass = map[string]bitrix24.Class{
	"expired_token":        bitrix24.ClassExpired,
	"invalid_token":        bitrix24.ClassExpired,
	"query_limit_exceeded": bitrix24.ClassTransient,
	"operation_time_limit": bitrix24.ClassTransient,
	"wrong_chat":           bitrix24.ClassDone, // on imopenlines.bot.session.operator
}

// checkBatch serves the documented batch answer under the keys olbot's
// client gives its sub-calls (c0, c1, …: the docs' get_user/get_department
// are the ids the fake may change) and reads each sub-call's outcome.
func checkBatch(t *testing.T, f Fixture) {
	body := strings.NewReplacer(`"get_user"`, `"c0"`, `"get_department"`, `"c1"`).Replace(string(f.Body))
	f.Body = json.RawMessage(body)
	srv := serve(t, f)
	c, err := bitrix24.NewOAuth(srv.URL+"/rest/", bitrix24.StaticToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Batch(context.Background(), []bitrix24.BatchCall{{Method: "user.current"}, {Method: "department.get"}})
	if err != nil || len(res) != 2 {
		t.Fatalf("batch: %v, %d results", err, len(res))
	}
	failed := strings.Contains(f.Name, "errors")
	for i, r := range res {
		if failed != (r.Err != nil) {
			t.Fatalf("sub-call %d: err %v, result %s", i, r.Err, r.Result)
		}
	}
}

func checkOAuth(t *testing.T, f Fixture) {
	srv := serve(t, f)
	tok, err := bitrix24.Exchange(context.Background(), bitrix24.OAuthConfig{TokenURL: srv.URL + "/oauth/token/", ClientID: "app", ClientSecret: "s"}, "r")
	if f.Kind == "error" {
		var ae *bitrix24.APIError
		if !errors.As(err, &ae) || ae.Code == "" {
			t.Fatalf("error %v, want the documented code", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var ans map[string]any
	_ = json.Unmarshal(f.Body, &ans)
	if tok.AccessToken != ans["access_token"] || tok.ClientEndpoint != ans["client_endpoint"] || tok.MemberID != ans["member_id"] {
		t.Fatalf("token %+v does not carry the answer's access_token, client_endpoint and member_id", tok)
	}
	if tok.Domain != "" {
		t.Fatalf("domain %q: the answer's domain is the OAuth server's, never the portal's", tok.Domain)
	}
}

// checkV2EventGet decodes every event of the documented Event.get answer.
func checkV2EventGet(t *testing.T, f Fixture) {
	var ans struct {
		Result struct {
			Events []json.RawMessage `json:"events"`
		} `json:"result"`
	}
	if err := json.Unmarshal(f.Body, &ans); err != nil || len(ans.Result.Events) == 0 {
		t.Fatalf("answer: %v, %d events", err, len(ans.Result.Events))
	}
	// the docs trim each event's data to {}: the envelope decodes, and
	// the empty data is refused naming the field
	for i, raw := range ans.Result.Events {
		_, err := bitrix24.DecodeV2Event(raw)
		var r *bitrix24.V2Rejection
		if err != nil && (!errors.As(err, &r) || r.EventID == 0 || r.Type == "" || !strings.Contains(err.Error(), "data.bot")) {
			t.Fatalf("event %d: %v, want the envelope read and data.bot named", i, err)
		}
	}
	checkAnswer(t, f)
}

// TestMustTreeCopies: the fake decodes each fixture once and hands out
// copies, so an event built by changing its tree (every Chat method does)
// leaves the next event's tree as documented.
func TestMustTreeCopies(t *testing.T) {
	for _, name := range []string{"v1.event.onimbotmessageadd.openline", "v1.event.onimbotjoinchat.openline", "v1.event.onimcommandadd.group"} {
		t.Run(name, func(t *testing.T) {
			f, err := LoadFixture(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.Tree()
			if err != nil {
				t.Fatal(err)
			}
			first := mustTree(name)
			if !reflect.DeepEqual(first, want) {
				t.Fatal("first tree differs from the fixture")
			}
			// change every level of the first copy: the top, a group, a list
			first["event"] = "CHANGED"
			data := group(first, "data")
			for k := range data {
				if g, ok := data[k].(map[string]any); ok {
					for gk := range g {
						g[gk] = "CHANGED"
					}
				}
				if l, ok := data[k].([]any); ok && len(l) > 0 {
					l[0] = "CHANGED"
				}
			}
			data["NEW"] = "x"
			if second := mustTree(name); !reflect.DeepEqual(second, want) {
				t.Errorf("a changed copy leaked into the next tree:\n got %v\nwant %v", second, want)
			}
		})
	}
}
