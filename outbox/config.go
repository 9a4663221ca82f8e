package outbox

import (
	"net/http"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// Defaults of Config: cmd/olbot's configuration table shows these, and a
// zero value in Config means them.
const (
	DefaultRate = bitrix24.DefaultRate // requests per second per portal
	// DefaultBurst is the requests a portal takes at once: its bucket of
	// bitrix24.DefaultBurst less BurstReserve.
	DefaultBurst       = bitrix24.DefaultBurst - BurstReserve
	DefaultLease       = 2 * time.Minute
	DefaultCallTimeout = 15 * time.Second
)

// BurstReserve is the part of the portal's bucket olbot's default pace
// leaves unused, so that a request the pace allows is not refused with
// QUERY_LIMIT_EXCEEDED: the portal lowers its counter by the rate once a
// second rather than continuously (limits.md), so it may count up to a
// second's worth (2) more than olbot's continuous model; requests reach
// it with uneven delays; and other applications calling the portal from
// the same address share its counter.
const BurstReserve = 5

// Config says how the outbox reaches portals and paces its calls.
type Config struct {
	// Incoming-webhook mode: every call goes through Webhook with ClientID.
	Webhook  string
	ClientID string
	// V2 is the imbot.v2 bot of fetch mode (Webhook without ClientID):
	// every call goes through its webhook client, prepared by it (botToken,
	// CLIENT_ID = botToken where the docs say so), and Say actions become
	// imbot.v2.Chat.Message.send. Webhook is then ignored.
	V2 *bitrix24.V2
	// Local-application mode: tokens come with ONAPPINSTALL and events and
	// are refreshed through OAuthURL with the application's credentials.
	AppClientID     string
	AppClientSecret string
	OAuthURL        string

	// Rate and Burst are the per-portal rate limit in requests: a single
	// call or a batch of up to 50 calls each take one. Default 2/s, 45
	// (DefaultRate, DefaultBurst).
	Rate  float64
	Burst int
	// Lease is how long a claimed call stays reserved for this replica:
	// the calls of a replica that died go out from the others once it
	// ends. Longer than any one delivery; default 2m.
	Lease time.Duration
	// CallTimeout bounds one request to a portal (a call or a batch): a
	// portal that does not answer in time has the call retried later, and
	// delays only its own calls. Default 15s.
	CallTimeout time.Duration
	// MaxBatch is the most calls sent in one batch request:
	// bitrix24.MaxBatch when 0; 1 sends every call by itself.
	MaxBatch int

	HTTPClient *http.Client // for tests; default bitrix24's
}

func (c *Config) defaults() {
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxBatch <= 0 || c.MaxBatch > bitrix24.MaxBatch {
		c.MaxBatch = bitrix24.MaxBatch
	}
}
