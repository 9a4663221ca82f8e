package fakeportal

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

// attachRig is a fake portal over HTTP with a v1 bot (webhook app
// olbot-key) and a v2 bot, and a client of each, for sending attachments
// the way olbot does.
type attachRig struct {
	p     *Portal
	c     *bitrix24.Client
	v1Bot int
	v2    *bitrix24.V2
	v2Bot int
}

func newAttachRig(t *testing.T) *attachRig {
	t.Helper()
	p, srv := NewServer(Config{Burst: -1})
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewWebhook(p.WebhookURL(), "olbot-key")
	if err != nil {
		t.Fatal(err)
	}
	r := &attachRig{p: p, c: c, v1Bot: p.AddBot("olbot", "olbot-key", "https://h.example/e")}
	info, err := c.V2Register(context.Background(), bitrix24.V2RegisterParams{Code: "olbot2", Token: "tok", Name: "olbot"})
	if err != nil {
		t.Fatal(err)
	}
	r.v2Bot, r.v2 = info.ID, c.V2Bot(info.ID, "tok")
	return r
}

// sendV1 posts imbot.message.add with attach as ATTACH; it returns the
// error code ("" on success).
func (r *attachRig) sendV1(t *testing.T, attach any) string {
	t.Helper()
	_, err := r.c.Call(context.Background(), bitrix24.MethodMessageAdd, map[string]any{"BOT_ID": r.v1Bot, "DIALOG_ID": "chat1777", "MESSAGE": "Our address", "ATTACH": attach})
	return errCode(t, err)
}

// sendV2 posts imbot.v2.Chat.Message.send with attach as fields.attach.
func (r *attachRig) sendV2(t *testing.T, attach any) string {
	t.Helper()
	_, err := r.v2.Send(context.Background(), "chat1777", bitrix24.V2Message{Text: "Our address", Attach: attach})
	return errCode(t, err)
}

func errCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var api *bitrix24.APIError
	if !errors.As(err, &api) {
		t.Fatalf("not an API error: %v", err)
	}
	return api.Code
}

// lastAttach is the ATTACH of the last message the portal posted, as JSON.
func (r *attachRig) lastAttach(t *testing.T) string {
	t.Helper()
	ms := r.p.Messages("chat1777")
	if len(ms) == 0 {
		t.Fatal("no message posted")
	}
	b, err := json.Marshal(ms[len(ms)-1].Attach)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkAttachFixture sends a documented request (kind request) as it is,
// addressed to the fake's bots, or a documented block (kind block) inside
// a short-form ATTACH on both platforms: the fake must accept them all
// and keep the attachment as sent.
func checkAttachFixture(t *testing.T, f Fixture) {
	r := newAttachRig(t)
	tree, err := f.Tree()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sent []any
	switch {
	case f.Kind == "block":
		block := map[string]any(tree)
		for name, send := range map[string]func(*testing.T, any) string{"v1": r.sendV1, "v2": r.sendV2} {
			if code := send(t, []any{block}); code != "" {
				t.Fatalf("%s refused the documented block: %s", name, code)
			}
			sent = append(sent, []any{block})
		}
	case f.Method == bitrix24.MethodMessageAdd:
		tree["BOT_ID"], tree["DIALOG_ID"] = r.v1Bot, "chat1777"
		if _, err := r.c.Call(ctx, f.Method, tree); err != nil {
			t.Fatalf("the documented request was refused: %v", err)
		}
		sent = append(sent, tree["ATTACH"])
	case f.Method == bitrix24.MethodV2MessageSend:
		tree["botId"], tree["botToken"], tree["dialogId"] = r.v2Bot, "tok", "chat1777"
		if _, err := r.c.Call(ctx, f.Method, tree); err != nil {
			t.Fatalf("the documented request was refused: %v", err)
		}
		sent = append(sent, group(tree, "fields")["attach"])
	default:
		t.Fatalf("no sender for %s %s", f.Kind, f.Method)
	}
	ms := r.p.Messages("chat1777")
	if len(ms) != len(sent) {
		t.Fatalf("%d messages posted, want %d", len(ms), len(sent))
	}
	for i, m := range ms {
		got, _ := json.Marshal(m.Attach)
		want, _ := json.Marshal(sent[i])
		if string(got) != string(want) {
			t.Fatalf("message %d kept ATTACH %s, want %s", i, got, want)
		}
	}
}

// TestAttachShapes: olbot's own attachment goes through both platforms
// unchanged, and every block element olbot builds uses only keys the
// documented block of its kind has; what the docs do not describe, or a
// size over each platform's limit, is refused with the documented code.
func TestAttachShapes(t *testing.T) {
	own := bitrix24.Attachment{Image: "https://example.com/map.png", File: "https://example.com/files/prices%202027.pdf"}
	t.Run("olbot's own", func(t *testing.T) {
		r := newAttachRig(t)
		want, _ := json.Marshal(own.Blocks())
		v1 := bitrix24.MessageRequest("chat1777", r.v1Bot, bitrix24.Message{Text: "Our address", Attach: own})
		if _, err := r.c.Call(context.Background(), v1.Method, v1.Params); err != nil {
			t.Fatal(err)
		}
		if got := r.lastAttach(t); got != string(want) {
			t.Fatalf("v1 kept %s, want %s", got, want)
		}
		// in a batch ATTACH travels as a JSON string, and reads the same
		res, err := r.c.Batch(context.Background(), []bitrix24.BatchCall{v1})
		if err != nil || res[0].Err != nil {
			t.Fatalf("batch: %v %v", err, res)
		}
		if got := r.lastAttach(t); got != string(want) {
			t.Fatalf("v1 in a batch kept %s, want %s", got, want)
		}
		if code := r.sendV2(t, own.Blocks()); code != "" {
			t.Fatal(code)
		}
		if got := r.lastAttach(t); got != string(want) {
			t.Fatalf("v2 kept %s, want %s", got, want)
		}
		if !strings.Contains(string(want), `"NAME":"prices 2027.pdf"`) {
			t.Fatalf("the file's name is the address's last part, unescaped: %s", want)
		}
	})
	t.Run("documented keys", func(t *testing.T) {
		documented := map[string][]string{}
		for _, name := range []string{"v2.block.attach.image", "v2.block.attach.file"} {
			for kind, els := range mustTree(name) {
				for k := range els.([]any)[0].(map[string]any) {
					documented[kind] = append(documented[kind], k)
				}
			}
		}
		for _, b := range own.Blocks() {
			for kind, els := range b {
				for _, el := range els.([]map[string]any) {
					for k := range el {
						if !slices.Contains(documented[kind], k) {
							t.Errorf("%s element key %s is not in the documented block (%v)", kind, k, documented[kind])
						}
					}
				}
			}
		}
	})
	image := func(el map[string]any) []any { return []any{map[string]any{"IMAGE": []any{el}}} }
	big := strings.Repeat("x", 40000) // over v1's 30 KB, within v2's 60,000 characters
	for _, tc := range []struct {
		name   string
		attach any
		v1, v2 string // the error codes, "" for accepted
	}{
		{"short form", own.Blocks(), "", ""},
		{"JSON string (v1 takes it)", `[{"MESSAGE":"hi"}]`, "", ""},
		{"full form", map[string]any{"ID": 1, "COLOR_TOKEN": "primary", "BLOCKS": []any{map[string]any{"MESSAGE": "hi"}}}, "", ""},
		{"relative link from the portal's root", image(map[string]any{"LINK": "/upload/map.png"}), "", ""},
		{"unknown block kind", []any{map[string]any{"VIDEO": map[string]any{"LINK": "https://example.com/v.mp4"}}}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"two kinds in one block", []any{map[string]any{"MESSAGE": "a", "DELIMITER": map[string]any{}}}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"image without LINK", image(map[string]any{"NAME": "map.png"}), "ATTACH_ERROR", "ATTACH_ERROR"},
		{"image with an undocumented key", image(map[string]any{"LINK": "https://example.com/a.png", "URL": "https://example.com/a.png"}), "ATTACH_ERROR", "ATTACH_ERROR"},
		{"ftp link", image(map[string]any{"LINK": "ftp://example.com/a.png"}), "ATTACH_ERROR", "ATTACH_ERROR"},
		{"protocol-relative link", image(map[string]any{"LINK": "//example.com/a.png"}), "ATTACH_ERROR", "ATTACH_ERROR"},
		{"no blocks", []any{}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"full form with an undocumented key", map[string]any{"TITLE": "x", "BLOCKS": []any{map[string]any{"MESSAGE": "hi"}}}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"undocumented color token", map[string]any{"COLOR_TOKEN": "pink", "BLOCKS": []any{map[string]any{"MESSAGE": "hi"}}}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"text that is not JSON", "a picture", "ATTACH_ERROR", "ATTACH_ERROR"},
		{"a list where one element goes", []any{map[string]any{"LINK": []any{map[string]any{"LINK": "https://example.com"}}}}, "ATTACH_ERROR", "ATTACH_ERROR"},
		{"40 KB", image(map[string]any{"LINK": "https://example.com/a.png?" + big}), "ATTACH_OVERSIZE", ""},
		{"70,000 characters", image(map[string]any{"LINK": "https://example.com/a.png?" + big + big[:30000]}), "ATTACH_OVERSIZE", "ATTACH_OVERSIZE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newAttachRig(t)
			if got := r.sendV1(t, tc.attach); got != tc.v1 {
				t.Errorf("imbot.message.add: %q, want %q", got, tc.v1)
			}
			if got := r.sendV2(t, tc.attach); got != tc.v2 {
				t.Errorf("imbot.v2.Chat.Message.send: %q, want %q", got, tc.v2)
			}
			want := 0
			for _, code := range []string{tc.v1, tc.v2} {
				if code == "" {
					want++
				}
			}
			if n := len(r.p.Messages("chat1777")); n != want {
				t.Errorf("%d messages posted, want %d (a refused one is not posted)", n, want)
			}
		})
	}
}
