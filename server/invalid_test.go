package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestInvalidIDKeepsStoreReady: a portal chat whose DIALOG_ID makes a key
// the store can never hold is refused, changes nothing and is not taken
// for a store outage (issue 17): the server stays ready and takes writes.
func TestInvalidIDKeepsStoreReady(t *testing.T) {
	for _, useBolt := range []bool{false, true} {
		name := "memory"
		if useBolt {
			name = "bolt"
		}
		t.Run(name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			e := startEnv(t, p, func(e *env) { e.bolt = useBolt })
			e.install()
			chat := e.chat(1, 9101, "Anna")
			join := chat.Join()
			long := strings.Repeat("d", engine.MaxKeyLen)
			join.Set("data[PARAMS][DIALOG_ID]", long)
			resp, err := chat.Send(context.Background(), join)
			if err != nil {
				t.Fatal(err)
			}
			status, body := decodeResp(t, resp)
			if status < 300 {
				t.Fatalf("ONIMBOTJOINCHAT with a %d-byte DIALOG_ID: %d %v, want a refusal", len(long), status, body)
			}
			if e.srv.Dialogs.Writable(t.Context()) != nil || strings.Contains(e.logs.String(), "refuses writes") {
				t.Fatalf("bad input was taken for a store outage:\n%s", e.logs.String())
			}
			if status, body := e.request(http.MethodGet, "/readyz", "", nil, ""); status != http.StatusOK {
				t.Fatalf("readyz after bad input: %d %s, want 200", status, body)
			}
			var stored int
			err = e.store.ScanDialogs(t.Context(), func(d engine.Dialog) error {
				if strings.Contains(d.Key, long[:100]) {
					stored++
				}
				return nil
			})
			if err != nil || stored != 0 {
				t.Fatalf("%d dialogs of the refused chat stored (%v), want none", stored, err)
			}
			if _, err := e.store.Dialog(t.Context(), e.key(chat)); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("Dialog: %v, want ErrNotFound", err)
			}
			e.send(chat, chat.Join()) // the chat's real DIALOG_ID goes through
		})
	}
}
