package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// NSPortals is the key-value namespace of the portals' install records
// (key: member_id). The dialogs of a portal's chats are keyed
// engine.KeyPortal + PortalID + ":" + DIALOG_ID.
const NSPortals = "portal"

// Install is what ONAPPINSTALL leaves behind for one portal (keyed by member_id).
type Install struct {
	MemberID         string    `json:"member_id"`
	Domain           string    `json:"domain"`
	ClientEndpoint   string    `json:"client_endpoint"`
	ApplicationToken string    `json:"application_token"`
	AccessToken      string    `json:"access_token,omitempty"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	Expiry           time.Time `json:"expiry,omitzero"`
	BotID            int       `json:"bot_id,omitempty"` // the v1 bot (imbot.register)
	// V2BotID is the imbot.v2 bot registered with the application's OAuth
	// tokens, and V2Events its eventMode (webhook or fetch).
	V2BotID  int    `json:"v2_bot_id,omitempty"`
	V2Events string `json:"v2_events,omitempty"`
	// Handler is the /bitrix24/events URL the install came to: the bots'
	// event handler (empty in records of earlier versions).
	Handler     string    `json:"handler,omitempty"`
	InstalledAt time.Time `json:"installed_at"`
	// RefreshedAt is when the pair was last issued: the refresh token
	// dies 180 days later unless used (see RenewIdle).
	RefreshedAt time.Time `json:"refreshed_at,omitzero"`
}

// Portals keeps the portals' install records and one REST client per
// portal: the incoming webhook, or an OAuth client whose rotating token
// pair is saved back into the portal's record.
type Portals struct {
	cfg     Config
	kv      engine.KV
	log     *slog.Logger
	now     func() time.Time
	webhook *bitrix24.Client

	mu      sync.Mutex
	clients map[string]*bitrix24.Client      // OAuth client per member_id
	tokens  map[string]*bitrix24.OAuthTokens // each cached client's token source
	ids     map[string]string                // PortalID by host, once read or chosen

	// decoded holds the install record each portal's Get decoded last
	// (*decodedInstall by member_id)
	decoded sync.Map

	// recMu serialises the read-modify-write of install records (a refresh
	// saving rotated tokens, an event's fresher token, the bot id): a lost
	// update could bring back a refresh token the portal already rotated out.
	recMu sync.Mutex
}

func newPortals(cfg Config, store engine.KV, log *slog.Logger, now func() time.Time) (*Portals, error) {
	p := &Portals{cfg: cfg, kv: store, log: log, now: now, clients: map[string]*bitrix24.Client{}, tokens: map[string]*bitrix24.OAuthTokens{},
		ids: map[string]string{}}
	if cfg.V2 != nil {
		p.webhook = cfg.V2.Client()
		return p, nil
	}
	if cfg.Webhook != "" {
		if cfg.ClientID == "" {
			return nil, errors.New("bitrix24: a webhook needs the CLIENT_ID chosen at registration (--client-id); run olbot register to get one")
		}
		c, err := bitrix24.NewWebhook(cfg.Webhook, cfg.ClientID, p.clientOpts()...)
		if err != nil {
			return nil, fmt.Errorf("bitrix24 webhook: %w", err)
		}
		p.webhook = c
	}
	return p, nil
}

func (p *Portals) clientOpts() []bitrix24.Option {
	opts := []bitrix24.Option{bitrix24.WithLogger(p.log)}
	if p.cfg.HTTPClient != nil {
		opts = append(opts, bitrix24.WithHTTPClient(p.cfg.HTTPClient))
	}
	return opts
}

// Webhook reports whether every call goes through one incoming webhook.
func (p *Portals) Webhook() bool { return p.webhook != nil }

// WebhookHost is the host of the incoming webhook, "" without one.
func (p *Portals) WebhookHost() string {
	if p.webhook == nil {
		return ""
	}
	return p.webhook.Host()
}

// Get returns a portal's install record, or engine.ErrNotFound.
func (p *Portals) Get(ctx context.Context, member string) (Install, error) {
	var in Install
	b, err := p.kv.Get(ctx, NSPortals, member)
	if err != nil {
		return in, err
	}
	// Every event of a portal reads its record (the application token it
	// is checked against): the record decoded last is kept with its bytes,
	// and used again while the store holds the same bytes. The store is
	// still read each time, so a record changed by another replica, or by
	// an install here, is seen at once.
	if d, ok := p.decoded.Load(member); ok && bytes.Equal(d.(*decodedInstall).raw, b) {
		return d.(*decodedInstall).in, nil
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("portal record %s: %w", member, err)
	}
	p.decoded.Store(member, &decodedInstall{raw: bytes.Clone(b), in: in})
	return in, nil
}

// decodedInstall is an install record with the bytes it was decoded from.
type decodedInstall struct {
	raw []byte
	in  Install
}

// Installed reports whether portal member has an install record.
func (p *Portals) Installed(ctx context.Context, member string) (bool, error) {
	_, err := p.kv.Get(ctx, NSPortals, member)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return false, nil
	case err != nil:
		return false, storeErr(err)
	}
	return true, nil
}

func (p *Portals) put(ctx context.Context, in Install) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return p.kv.Put(ctx, NSPortals, in.MemberID, b)
}

// Install saves a portal's install record. When the portal is known, allow
// decides on the old record first (its error is returned, nothing saved)
// and the bot id the old record holds is kept. It returns the saved record;
// the portal's cached client is dropped, so the next call uses the new
// tokens. A store failure is returned wrapped as ErrStore.
func (p *Portals) Install(ctx context.Context, in Install, allow func(old Install) error) (Install, error) {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	old, err := p.Get(ctx, in.MemberID)
	switch {
	case err == nil:
		if err := allow(old); err != nil {
			return Install{}, err
		}
		in.BotID, in.V2BotID, in.V2Events = old.BotID, old.V2BotID, old.V2Events
	case !errors.Is(err, engine.ErrNotFound):
		return Install{}, storeErr(err)
	}
	if in.RefreshedAt.IsZero() {
		in.RefreshedAt = p.now()
	}
	if err := p.put(ctx, in); err != nil {
		return Install{}, storeErr(err)
	}
	if err := p.index(ctx, in.MemberID, false); err != nil {
		return Install{}, storeErr(err)
	}
	p.forget(in.MemberID)
	return in, nil
}

// ErrNoApp marks a proof that cannot be made: no application client id and
// secret are configured.
var ErrNoApp = errors.New("no local application is configured (--app-client-id, --app-client-secret)")

// Prove exchanges an install's (or update's) refresh token at the OAuth
// server with the application's client id and secret. Only a token the
// portal really issued to this application passes; the answer says the
// portal's client_endpoint and member_id, and carries the new pair (the
// exchanged refresh token is spent).
func (p *Portals) Prove(ctx context.Context, refreshToken string) (bitrix24.Token, error) {
	if p.cfg.AppClientID == "" || p.cfg.AppClientSecret == "" {
		return bitrix24.Token{}, ErrNoApp
	}
	return bitrix24.Exchange(ctx, bitrix24.OAuthConfig{ClientID: p.cfg.AppClientID, ClientSecret: p.cfg.AppClientSecret,
		TokenURL: p.cfg.OAuthURL, HTTPClient: p.cfg.HTTPClient, Logger: p.log, Now: p.now}, refreshToken)
}

// Uninstall forgets a portal: its record and its cached client.
func (p *Portals) Uninstall(ctx context.Context, member string) error {
	if err := p.kv.Delete(ctx, NSPortals, member); err != nil {
		return storeErr(err)
	}
	p.decoded.Delete(member)
	p.recMu.Lock()
	err := p.index(ctx, member, true)
	p.recMu.Unlock()
	if err != nil {
		return storeErr(err)
	}
	p.forget(member)
	return nil
}

// BotDeleted clears the portal's bot id when it is bot (ONIMBOTDELETE,
// ONIMBOTV2DELETE).
func (p *Portals) BotDeleted(ctx context.Context, member string, bot int) error {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	in, err := p.Get(ctx, member)
	if err != nil || bot == 0 || (in.BotID != bot && in.V2BotID != bot) {
		return nil
	}
	if in.BotID == bot {
		in.BotID = 0
	} else {
		in.V2BotID, in.V2Events = 0, ""
	}
	if err := p.put(ctx, in); err != nil {
		return storeErr(err)
	}
	return nil
}

// ErrStore marks a failure of the store behind the install records.
var ErrStore = errors.New("the store is unavailable")

func storeErr(err error) error { return fmt.Errorf("%w: %w", ErrStore, err) }

// saveBot records the bot id imbot.register returned.
func (p *Portals) saveBot(ctx context.Context, member string, res json.RawMessage) {
	id, err := bitrix24.ParseID(res)
	if err != nil || id <= 0 {
		p.log.Warn("imbot.register returned no bot id", "member", member, "result", string(res))
		return
	}
	p.recMu.Lock()
	defer p.recMu.Unlock()
	in, err := p.Get(ctx, member)
	if err != nil {
		p.log.Warn("could not record the bot id", "member", member, "err", err)
		return
	}
	in.BotID = id
	if err := p.put(ctx, in); err != nil {
		p.log.Warn("could not record the bot id", "member", member, "err", err)
		return
	}
	p.log.Info("bot registered on the portal; select it in the Open Line's settings (chat-bot step)", "domain", in.Domain, "bot", id)
}

// List returns the install records of every installed portal.
func (p *Portals) List(ctx context.Context) ([]Install, error) {
	members, err := p.members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Install, 0, len(members))
	for _, m := range members {
		in, err := p.Get(ctx, m)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Client is the REST client of an installed portal (its OAuth pair,
// refreshed and saved as it rotates), or of the incoming webhook;
// engine.ErrNotFound for a portal that is not installed.
func (p *Portals) Client(ctx context.Context, member string) (*bitrix24.Client, error) {
	c, err := p.client(ctx, member)
	if err == nil && c == nil {
		err = engine.ErrNotFound
	}
	return c, err
}

// saveV2Bot records the bot imbot.v2.Bot.register returned (result.bot).
func (p *Portals) saveV2Bot(ctx context.Context, member string, res json.RawMessage) {
	var ans struct {
		Bot struct {
			ID        int    `json:"id"`
			EventMode string `json:"eventMode"`
		} `json:"bot"`
	}
	if json.Unmarshal(res, &ans) != nil || ans.Bot.ID <= 0 {
		p.log.Warn("imbot.v2.Bot.register returned no bot id", "member", member, "result", string(res))
		return
	}
	p.recMu.Lock()
	defer p.recMu.Unlock()
	in, err := p.Get(ctx, member)
	if err != nil {
		p.log.Warn("could not record the imbot.v2 bot id", "member", member, "err", err)
		return
	}
	in.V2BotID, in.V2Events = ans.Bot.ID, ans.Bot.EventMode
	if err := p.put(ctx, in); err != nil {
		p.log.Warn("could not record the imbot.v2 bot id", "member", member, "err", err)
		return
	}
	p.log.Info("imbot.v2 bot registered on the portal; select it in the Open Line's settings (chat-bot step)",
		"domain", in.Domain, "bot", ans.Bot.ID, "events", ans.Bot.EventMode)
}

// ByDomain returns the install record of the portal at domain (a v2
// webhook's top-level auth names the domain and the application token,
// not always the member id), or engine.ErrNotFound.
func (p *Portals) ByDomain(ctx context.Context, domain string) (Install, error) {
	list, err := p.List(ctx)
	if err != nil {
		return Install{}, err
	}
	for _, in := range list {
		if strings.EqualFold(in.Domain, domain) {
			return in, nil
		}
	}
	return Install{}, engine.ErrNotFound
}

// saveTokens keeps rotated tokens: the old refresh token stops working.
func (p *Portals) saveTokens(ctx context.Context, member string, t bitrix24.Token) error {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	in, err := p.Get(ctx, member)
	if err != nil {
		return err
	}
	in.AccessToken, in.RefreshToken, in.Expiry = t.AccessToken, t.RefreshToken, t.Expiry
	in.RefreshedAt = p.now()
	return p.put(ctx, in)
}

// forget drops a cached client so the next call reads the install record again.
func (p *Portals) forget(member string) {
	p.mu.Lock()
	delete(p.clients, member)
	delete(p.tokens, member)
	p.mu.Unlock()
}

// client returns the REST client for a portal: the webhook, the portal's
// OAuth client from its install record, or nil when no portal is configured.
func (p *Portals) client(ctx context.Context, member string) (*bitrix24.Client, error) {
	if p.webhook != nil {
		return p.webhook, nil
	}
	p.mu.Lock()
	c := p.clients[member]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	in, err := p.Get(ctx, member)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tok := bitrix24.Token{AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, Expiry: in.Expiry, ClientEndpoint: in.ClientEndpoint, MemberID: in.MemberID, Domain: in.Domain}
	src, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{
		ClientID: p.cfg.AppClientID, ClientSecret: p.cfg.AppClientSecret, TokenURL: p.cfg.OAuthURL, HTTPClient: p.cfg.HTTPClient, Logger: p.log,
		OnRefresh: func(ctx context.Context, t bitrix24.Token) error { return p.saveTokens(ctx, member, t) },
		// replicas share the install record: a pair another replica rotated
		// is taken from there instead of refreshing a retired refresh token
		Stored: func(ctx context.Context) (bitrix24.Token, error) {
			in, err := p.Get(ctx, member)
			return bitrix24.Token{AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, Expiry: in.Expiry}, err
		},
	}, tok)
	if err != nil {
		return nil, fmt.Errorf("portal %s: %w", in.Domain, err)
	}
	c, err = bitrix24.NewOAuth(in.ClientEndpoint, src, p.clientOpts()...)
	if err != nil {
		return nil, fmt.Errorf("portal %s: %w", in.Domain, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cached := p.clients[member]; cached != nil {
		// built concurrently: keep one token source per portal, or two
		// would refresh the same rotating refresh token
		return cached, nil
	}
	p.clients[member], p.tokens[member] = c, src
	return c, nil
}

// ErrNoPortal: no portal is connected for the member (no webhook and no
// install record), so nothing can be read from it.
var ErrNoPortal = errors.New("outbox: no portal is connected")

// LineConfig reads an Open Line's settings from a portal
// (imopenlines.config.get). It is a read outside the outbox: nothing is
// queued, and a failure is the caller's to handle.
func (p *Portals) LineConfig(ctx context.Context, member string, line int) (bitrix24.LineConfig, error) {
	c, err := p.client(ctx, member)
	if err != nil {
		return bitrix24.LineConfig{}, err
	}
	if c == nil {
		return bitrix24.LineConfig{}, fmt.Errorf("%w: %s", ErrNoPortal, member)
	}
	raw, err := c.Do(ctx, bitrix24.ConfigGetRequest(line))
	if err != nil {
		return bitrix24.LineConfig{}, err
	}
	return bitrix24.ParseLineConfig(raw)
}
