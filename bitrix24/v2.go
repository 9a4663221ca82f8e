package bitrix24

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// imbot.v2 methods (docs: api-reference/chat-bots/chat-bots-v2/imbot.v2/
// bots/, events/event-get.md, messages/chat-message-send.md).
const (
	MethodV2BotRegister = "imbot.v2.Bot.register"
	MethodV2BotGet      = "imbot.v2.Bot.get"
	MethodV2EventGet    = "imbot.v2.Event.get"
	MethodV2MessageSend = "imbot.v2.Chat.Message.send"
)

// Limits of the imbot.v2 API.
const (
	// MaxBotToken is the longest botToken Bot.register accepts from
	// 06.08.2026 (BOT_TOKEN_INVALID_LENGTH after that); olbot never sends a
	// longer one.
	MaxBotToken = 40
	// DefaultEventLimit and MaxEventLimit bound Event.get's limit (1–1000,
	// default 100).
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
	// MaxRiders is how many waiting calls one poll carries in its batch:
	// the batch limit less the Event.get itself.
	MaxRiders = MaxBatch - 1
)

// ErrBotCodeTaken is what V2Register returns when the portal answers
// BOT_CODE_ALREADY_TAKEN: the code belongs to another application (or to a
// webhook bot whose botToken olbot no longer has). The error text names the
// way out.
var ErrBotCodeTaken = errors.New("bitrix24: the bot code is already taken")

// ErrWebhookRefused is what V2Register and V2 calls return when the portal
// refuses the webhook itself (NO_AUTH_FOUND, INVALID_CREDENTIALS,
// insufficient_scope, …): a wrong, deleted or expired incoming webhook, or
// one without the imbot/imopenlines scopes. Polling cannot go on; a person
// must fix the URL.
var ErrWebhookRefused = errors.New("bitrix24: the portal refused the webhook")

// V2RegisterParams are the imbot.v2.Bot.register fields olbot sends.
type V2RegisterParams struct {
	Code string // fields.code, unique within the application
	// Token is fields.botToken, at most MaxBotToken characters; required
	// with webhook auth, left out with OAuth.
	Token    string
	Name     string // fields.properties.name
	LastName string // fields.properties.lastName, optional
	Type     string // fields.type; "openline" when empty
	// EventMode is "fetch" (the default) or "webhook" with WebhookURL.
	EventMode  string
	WebhookURL string
}

// V2BotInfo is the bot object of Bot.register and Bot.get (result.bot).
type V2BotInfo struct {
	ID                int    `json:"id"`
	Code              string `json:"code"`
	Type              string `json:"type"`
	EventMode         string `json:"eventMode"`
	IsSupportOpenline bool   `json:"isSupportOpenline"`
	Language          string `json:"language"`
}

// V2Register registers (idempotently, by code) an imbot.v2 bot. The
// portal returns the existing bot unchanged when the same application
// registers the same code again, so calling it at every start is safe.
// Errors: ErrBotCodeTaken (wrapped with the advice to pick a new
// --bot-code), ErrWebhookRefused for a refused webhook, an *APIError
// otherwise.
func (c *Client) V2Register(ctx context.Context, r V2RegisterParams) (V2BotInfo, error) {
	req, err := V2RegisterRequest(r, c.webhook)
	if err != nil {
		return V2BotInfo{}, err
	}
	raw, err := c.Call(ctx, req.Method, req.Params)
	if err != nil {
		return V2BotInfo{}, c.v2Error(err, r.Code)
	}
	return decodeV2Bot(req.Method, raw)
}

// V2RegisterRequest builds imbot.v2.Bot.register; webhook says whether
// the botToken goes with it (webhook auth needs it, OAuth ignores it).
func V2RegisterRequest(r V2RegisterParams, webhook bool) (Request, error) {
	code := strings.TrimSpace(r.Code)
	if code == "" {
		return Request{}, fmt.Errorf("%w: %s: the bot code is empty", ErrInvalidRequest, MethodV2BotRegister)
	}
	if strings.TrimSpace(r.Name) == "" {
		return Request{}, fmt.Errorf("%w: %s: the bot name is empty", ErrInvalidRequest, MethodV2BotRegister)
	}
	if len(r.Token) > MaxBotToken {
		return Request{}, fmt.Errorf("%w: %s: botToken has %d characters, the portal accepts at most %d",
			ErrInvalidRequest, MethodV2BotRegister, len(r.Token), MaxBotToken)
	}
	if webhook && r.Token == "" {
		return Request{}, fmt.Errorf("%w: %s: webhook auth needs a botToken", ErrInvalidRequest, MethodV2BotRegister)
	}
	typ, mode := r.Type, r.EventMode
	if typ == "" {
		typ = "openline"
	}
	if mode == "" {
		mode = "fetch"
	}
	props := map[string]any{"name": r.Name}
	if r.LastName != "" {
		props["lastName"] = r.LastName
	}
	fields := map[string]any{
		"code":              code,
		"type":              typ,
		"eventMode":         mode,
		"isSupportOpenline": true,
		"properties":        props,
	}
	if mode == "webhook" {
		fields["webhookUrl"] = r.WebhookURL
	}
	if webhook {
		fields["botToken"] = r.Token
	}
	return Request{Method: MethodV2BotRegister, Params: map[string]any{"fields": fields}}, nil
}

// NewBotToken returns a fresh botToken: MaxBotToken hex digits from
// crypto/rand.
func NewBotToken() (string, error) {
	b := make([]byte, MaxBotToken/2)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("bitrix24: new bot token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Matches reports why an existing bot (Bot.register returns one unchanged
// when the code is registered already) does not work the way r asks, or
// nil when it does: another event mode, or a type that gets no Open Lines
// chats.
func (b V2BotInfo) Matches(r V2RegisterParams) error {
	mode := r.EventMode
	if mode == "" {
		mode = "fetch"
	}
	if b.EventMode != "" && b.EventMode != mode {
		return fmt.Errorf("bitrix24: bot %d (code %q) is registered with eventMode %q, not %q; "+
			"register a new bot with another --bot-code, or change the mode in the portal", b.ID, clip(b.Code), clip(b.EventMode), mode)
	}
	if b.Type != "openline" && !b.IsSupportOpenline {
		return fmt.Errorf("bitrix24: bot %d (code %q) is of type %q without Open Lines support; register a new bot with another --bot-code",
			b.ID, clip(b.Code), clip(b.Type))
	}
	return nil
}

// V2GetBot calls imbot.v2.Bot.get by id (or, with id 0, by code). token is
// the botToken (webhook auth).
func (c *Client) V2GetBot(ctx context.Context, id int, code, token string) (V2BotInfo, error) {
	p := map[string]any{}
	if id > 0 {
		p["botId"] = id
	} else {
		p["code"] = code
	}
	if c.webhook {
		p["botToken"] = token
	}
	raw, err := c.Call(ctx, MethodV2BotGet, p)
	if err != nil {
		return V2BotInfo{}, c.v2Error(err, code)
	}
	return decodeV2Bot(MethodV2BotGet, raw)
}

func decodeV2Bot(method string, raw json.RawMessage) (V2BotInfo, error) {
	var ans struct {
		Bot *V2BotInfo `json:"bot"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Bot == nil || ans.Bot.ID <= 0 {
		return V2BotInfo{}, fmt.Errorf("%w: %s: result has no bot with an id", ErrBadResponse, method)
	}
	return *ans.Bot, nil
}

// v2Error turns the errors a person must act on into the sentinel errors
// with advice; others pass through. An expired_token is the webhook's
// refusal too when c is a webhook client: there is no token to refresh
// (the docs name expired_token for an OAuth access_token only).
func (c *Client) v2Error(err error, code string) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case strings.EqualFold(ae.Code, "BOT_CODE_ALREADY_TAKEN"):
		return fmt.Errorf("%w: bot code %q belongs to another application or to a bot whose botToken is lost; "+
			"register a new bot with another --bot-code (and remove the old one in the portal's settings): %w",
			ErrBotCodeTaken, clip(code), err)
	case (Classify(err) == ClassAuth || c.webhook && Classify(err) == ClassExpired) && !strings.HasPrefix(strings.ToUpper(ae.Code), "BOT_"):
		return fmt.Errorf("%w: %w; check that the incoming webhook URL is right, still exists "+
			"and has the imbot and imopenlines scopes", ErrWebhookRefused, err)
	}
	return err
}

// V2 is one imbot.v2 bot seen through a Client: it adds botId to every
// call and, with webhook auth, the botToken (imbot.v2.*) and
// CLIENT_ID=botToken (imopenlines.bot.session.transfer and .finish, as
// the docs say). Build it with Client.V2Bot; the Client must not carry a v1
// CLIENT_ID (NewWebhook(url, "")).
type V2 struct {
	c     *Client
	id    int
	token string
}

// V2Bot returns the handle of bot id with its botToken.
func (c *Client) V2Bot(id int, token string) *V2 { return &V2{c: c, id: id, token: token} }

// ID is the bot's id (botId, also the bot user's id).
func (b *V2) ID() int { return b.id }

// Client is the underlying REST client.
func (b *V2) Client() *Client { return b.c }

// params returns the common params of an imbot.v2 call.
func (b *V2) params() map[string]any {
	p := map[string]any{"botId": b.id}
	if b.c.webhook {
		p["botToken"] = b.token
	}
	return p
}

// EventGetRequest builds imbot.v2.Event.get. offset 0 leaves offset out
// (the first call); any other value is sent verbatim and confirms every
// event with a smaller id. limit outside 1–1000 takes the default 100.
func (b *V2) EventGetRequest(offset int64, limit int) Request {
	p := b.params()
	if offset > 0 {
		p["offset"] = offset
	}
	if limit < 1 || limit > MaxEventLimit {
		limit = DefaultEventLimit
	}
	p["limit"] = limit
	return Request{Method: MethodV2EventGet, Params: p}
}

// V2Page is one answer of Event.get. Events are kept raw: each is decoded
// on its own (DecodeV2Event), so that one malformed event cannot hide the
// others.
type V2Page struct {
	Events     []json.RawMessage
	NextOffset int64 // send it verbatim as the next offset
	HasMore    bool
}

func decodeV2Page(raw json.RawMessage) (V2Page, error) {
	var ans struct {
		Events     []json.RawMessage `json:"events"`
		NextOffset json.RawMessage   `json:"nextOffset"`
		HasMore    any               `json:"hasMore"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return V2Page{}, fmt.Errorf("%w: %s: result is not {events, nextOffset, hasMore}", ErrBadResponse, MethodV2EventGet)
	}
	next, err := ParseID(ans.NextOffset)
	if err != nil {
		return V2Page{}, fmt.Errorf("%w: %s: nextOffset %s is not a positive integer", ErrBadResponse, MethodV2EventGet, clip(string(ans.NextOffset)))
	}
	more, ok := looseBool(ans.HasMore)
	if !ok {
		return V2Page{}, fmt.Errorf("%w: %s: hasMore is not a boolean", ErrBadResponse, MethodV2EventGet)
	}
	return V2Page{Events: ans.Events, NextOffset: int64(next), HasMore: more}, nil
}

// Events calls Event.get alone.
func (b *V2) Events(ctx context.Context, offset int64, limit int) (V2Page, error) {
	page, _, err := b.Poll(ctx, offset, limit, nil)
	return page, err
}

// Poll calls Event.get and, when calls are waiting, sends it in one batch
// with up to MaxRiders of them (the poll first, each rider Prepared), so
// polling and sending share one request of the portal's budget. riders gets one result per
// waiting call, in order, when the batch as a whole went through (each
// with its own Err); it is nil when nothing was sent or the request
// failed. err is the Event.get error (the whole request's, or its
// sub-call's).
func (b *V2) Poll(ctx context.Context, offset int64, limit int, waiting []Request) (page V2Page, riders []BatchResult, err error) {
	if len(waiting) > MaxRiders {
		return V2Page{}, nil, fmt.Errorf("%w: a poll carries at most %d calls, not %d", ErrInvalidRequest, MaxRiders, len(waiting))
	}
	get := b.EventGetRequest(offset, limit)
	if len(waiting) == 0 {
		raw, err := b.c.Call(ctx, get.Method, get.Params)
		if err != nil {
			return V2Page{}, nil, b.c.v2Error(err, "")
		}
		page, err := decodeV2Page(raw)
		return page, nil, err
	}
	calls := make([]Request, 0, len(waiting)+1)
	calls = append(calls, get)
	for _, w := range waiting {
		calls = append(calls, b.Prepare(w))
	}
	res, err := b.c.Batch(ctx, calls)
	if err != nil {
		return V2Page{}, nil, b.c.v2Error(err, "")
	}
	riders = res[1:]
	if res[0].Err != nil {
		return V2Page{}, riders, b.c.v2Error(res[0].Err, "")
	}
	page, err = decodeV2Page(res[0].Result)
	return page, riders, err
}

// V2Message is what Chat.Message.send posts (fields.*).
type V2Message struct {
	Text string
	// Buttons become a keyboard of SEND buttons, as for the v1 bot, and
	// Links the link and call buttons after them.
	Buttons []string
	Links   []Link
	// Attach is fields.attach as documented (attachments/index.md): an
	// array of blocks, passed through.
	Attach any
	// System sends a system message (fields.system).
	System bool
	// SkipConnector keeps the message out of the client's channel
	// (fields.skipConnector): a note only the operator sees. The method's
	// page lists no such field; the REST change log (revision 33,
	// BOT-FIX-0402-2) names fields.skipConnector among Chat.Message.send's
	// boolean fields, which is what olbot relies on.
	SkipConnector bool
}

// V2Keyboard is the documented keyboard (message-keyboards.md) for
// buttons: one inline SEND button per text, each on its own line, so that
// a press sends the text as the client's message.
func V2Keyboard(buttons []string) []map[string]string { return keyboard(buttons, nil) }

// V2MessageSendRequest builds imbot.v2.Chat.Message.send of bot botID to
// dialogID ("chat112" or a user id), without the botToken: an outbox may
// store it as it is, and V2.Prepare adds the token when it is sent.
func V2MessageSendRequest(botID int, dialogID string, m V2Message) Request {
	fields := map[string]any{"message": m.Text}
	if len(m.Buttons)+len(m.Links) > 0 {
		fields["keyboard"] = keyboard(m.Buttons, m.Links)
	}
	if m.Attach != nil {
		fields["attach"] = m.Attach
	}
	if m.System {
		fields["system"] = true
	}
	if m.SkipConnector {
		fields["skipConnector"] = true
	}
	return Request{Method: MethodV2MessageSend, Params: map[string]any{"botId": botID, "dialogId": dialogID, "fields": fields}}
}

// MessageSendRequest is V2MessageSendRequest of this bot, prepared.
func (b *V2) MessageSendRequest(dialogID string, m V2Message) Request {
	return b.Prepare(V2MessageSendRequest(b.id, dialogID, m))
}

// Send posts a message and returns its id (result.id).
func (b *V2) Send(ctx context.Context, dialogID string, m V2Message) (int, error) {
	r := b.MessageSendRequest(dialogID, m)
	raw, err := b.c.Call(ctx, r.Method, r.Params)
	if err != nil {
		return 0, b.c.v2Error(err, "")
	}
	var ans struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return 0, fmt.Errorf("%w: %s: result is not an object", ErrBadResponse, r.Method)
	}
	return ParseID(ans.ID)
}

// Prepare adds what this bot's calls carry under webhook auth and a
// stored request lacks: botToken (and botId) on imbot.v2.* calls, and
// CLIENT_ID = the botToken on imopenlines.bot.session.transfer and
// .finish, as their pages and the Open Lines tutorial say. Keys already
// given are kept; with OAuth it changes nothing but botId. Params that are
// not a JSON object come back unchanged (the call then fails as it would).
func (b *V2) Prepare(r Request) Request {
	m := strings.ToLower(r.Method)
	v2 := strings.HasPrefix(m, "imbot.v2.")
	session := m == strings.ToLower(MethodSessionTransfer) || m == strings.ToLower(MethodSessionFinish)
	if !v2 && !session {
		return r
	}
	body, err := paramsObject(r.Params)
	if err != nil {
		return r
	}
	set := func(k string, v any) {
		if _, ok := body[k]; !ok {
			raw, _ := json.Marshal(v)
			body[k] = raw
		}
	}
	switch {
	case v2 && m != strings.ToLower(MethodV2BotRegister):
		set("botId", b.id)
		if b.c.webhook {
			set("botToken", b.token)
		}
	case session && b.c.webhook:
		set("CLIENT_ID", b.token)
	}
	r.Params = body
	return r
}

// SessionTransferRequest is SessionTransferRequest for this bot: with
// webhook auth it carries CLIENT_ID = the botToken, as
// imopenlines-bot-session-transfer.md and the Open Lines tutorial say.
func (b *V2) SessionTransferRequest(chatID, userID, queueID int, leave bool) Request {
	return b.Prepare(SessionTransferRequest(chatID, userID, queueID, leave))
}

// SessionFinishRequest is SessionFinishRequest with CLIENT_ID = the
// botToken under webhook auth (imopenlines-bot-session-finish.md).
func (b *V2) SessionFinishRequest(chatID int) Request {
	return b.Prepare(SessionFinishRequest(chatID))
}

// SessionOperatorRequest and SessionMessageSendRequest are the v1
// requests unchanged: their pages document no CLIENT_ID, so none is sent
// (a refusal is the portal's to give, and olbot parks it).
func (b *V2) SessionOperatorRequest(chatID int) Request { return SessionOperatorRequest(chatID) }

// SessionMessageSendRequest: see SessionOperatorRequest.
func (b *V2) SessionMessageSendRequest(chatID int, name, message string) Request {
	return SessionMessageSendRequest(chatID, name, message)
}

// looseBool reads a boolean as the portal sends it: true/false, "Y"/"N",
// "1"/"0", 1/0, or absent (false).
func looseBool(v any) (bool, bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case string:
		switch strings.ToUpper(x) {
		case "1", "Y", "TRUE":
			return true, true
		case "0", "N", "FALSE", "":
			return false, true
		}
	case float64:
		return x != 0, x == 0 || x == 1
	case json.Number:
		s := x.String()
		return s == "1", s == "0" || s == "1"
	}
	return false, false
}
