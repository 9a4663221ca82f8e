package fakeportal

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

// TestClientFiles: a client's file, built by the fake on either platform,
// reads back through olbot's decoders as the file it was.
func TestClientFiles(t *testing.T) {
	p, srv := NewServer(Config{Burst: -1})
	defer srv.Close()
	chat := p.Chat(1, 1777, bitrix24.User{FirstName: "Anna"})
	for _, tc := range []struct {
		name    string
		byName  bool // SendFile(name) rather than SendFileOf
		form    func() bitrix24.File
		caption string
		want    bitrix24.File
	}{
		{"a photo by name", true, func() bitrix24.File { return bitrix24.File{Name: "photo.JPG"} }, "",
			bitrix24.File{Name: "photo.JPG", Size: 48213, Type: "image", Extension: "jpg"}},
		{"a large video with a caption", false, func() bitrix24.File { return bitrix24.File{Name: "clip.mp4", Size: 60 << 20} }, "look",
			bitrix24.File{Name: "clip.mp4", Size: 60 << 20, Type: "video", Extension: "mp4"}},
		{"a file of its own id and link", false, func() bitrix24.File {
			return bitrix24.File{ID: "77", Name: "logs.zip", Size: 10, URL: "https://portal.example/disk/77"}
		}, "", bitrix24.File{ID: "77", Name: "logs.zip", Size: 10, Type: "file", Extension: "zip", URL: "https://portal.example/disk/77"}},
	} {
		t.Run("v1 "+tc.name, func(t *testing.T) {
			f := tc.form()
			form := chat.SendFileOf(f, tc.caption)
			if tc.byName {
				form = chat.SendFile(f.Name)
			}
			ev, err := bitrix24.ParseEvent(form)
			if err != nil {
				t.Fatal(err)
			}
			got := ev.Files()
			if len(got) != 1 {
				t.Fatalf("files %+v, want one", got)
			}
			want := tc.want
			if want.ID == "" {
				want.ID = got[0].ID
				if !strings.HasPrefix(got[0].URL, srv.URL+"/") || !strings.Contains(got[0].URL, "fileId="+got[0].ID) {
					t.Fatalf("link %q, want the fake's Drive address of file %s", got[0].URL, got[0].ID)
				}
				want.URL = got[0].URL
			}
			if !reflect.DeepEqual(got[0], want) {
				t.Fatalf("file %+v, want %+v", got[0], want)
			}
			if ev.Text() != tc.caption || !ev.HasFiles() {
				t.Fatalf("text %q, has files %v: want the caption %q and the file", ev.Text(), ev.HasFiles(), tc.caption)
			}
		})
	}

	t.Run("v2", func(t *testing.T) {
		ctx := context.Background()
		c, err := bitrix24.NewWebhook(p.WebhookURL(), "")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.V2Register(ctx, bitrix24.V2RegisterParams{Code: "olbot-files", Token: "tok", Name: "olbot"})
		if err != nil {
			t.Fatal(err)
		}
		v2 := p.V2Chat(info.ID, 3, 1778, bitrix24.User{FirstName: "Anna"})
		first := v2.SendFile(bitrix24.File{Name: "receipt.pdf", Size: 35341}, "")
		v2.SendFile(bitrix24.File{ID: "900", Name: "photo.png", Size: 1}, "here")
		// in webhook mode the same event travels form-encoded
		form, ok := p.V2Form(info.ID, first)
		if !ok {
			t.Fatal("no form of the file event")
		}
		posted, err := bitrix24.ParseV2Form(form)
		if err != nil {
			t.Fatal(err)
		}
		if files := posted.Message.Files(); len(files) != 1 || files[0].Name != "receipt.pdf" || files[0].Size != 35341 || files[0].Type != "file" || files[0].ID == "" {
			t.Fatalf("form-encoded files %+v, want the receipt", files)
		}
		page, err := c.V2Bot(info.ID, "tok").Events(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			text string
			file bitrix24.File
		}{
			{"", bitrix24.File{Name: "receipt.pdf", Size: 35341, Type: "file", Extension: "pdf"}},
			{"here", bitrix24.File{ID: "900", Name: "photo.png", Size: 1, Type: "image", Extension: "png"}},
		}
		if len(page.Events) != len(want) {
			t.Fatalf("%d events, want %d", len(page.Events), len(want))
		}
		for i, raw := range page.Events {
			ev, err := bitrix24.DecodeV2Event(raw)
			if err != nil {
				t.Fatal(err)
			}
			files := ev.Message.Files()
			w := want[i].file
			if len(files) == 1 && w.ID == "" {
				w.ID = files[0].ID
			}
			if ev.Message.Text != want[i].text || len(files) != 1 || !reflect.DeepEqual(files[0], w) || ev.From() != bitrix24.AuthorClient {
				t.Fatalf("event %d: text %q files %+v from %v, want %q %+v from the client", i, ev.Message.Text, files, ev.From(), want[i].text, w)
			}
		}
	})
}
