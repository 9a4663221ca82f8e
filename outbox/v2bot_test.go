package outbox

import (
	"context"
	"log/slog"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// registeredV2Bot starts a fake portal without a burst limit and registers
// a v2 bot on it through its webhook, as `olbot serve --webhook` does; it
// returns the portal, the bot and the bot's id.
func registeredV2Bot(t *testing.T) (*fakeportal.Portal, *bitrix24.V2, int) {
	t.Helper()
	p, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	t.Cleanup(srv.Close)
	client, err := bitrix24.NewWebhook(p.WebhookURL(), "", bitrix24.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.V2Register(context.Background(), bitrix24.V2RegisterParams{Code: "olbot", Token: "tok", Name: "olbot"})
	if err != nil {
		t.Fatal(err)
	}
	return p, client.V2Bot(info.ID, "tok"), info.ID
}
