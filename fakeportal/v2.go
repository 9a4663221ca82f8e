package fakeportal

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// The imbot.v2 side of the fake: Bot.register/get, Event.get with a real
// event queue confirmed by offset, and Chat.Message.send. Answers and error
// bodies are the documented ones (testdata/docs/v2.*); codes without a
// documented body take the same shape with the description of the page's
// error table.

// v2State is the imbot.v2 part of a Portal. Its zero value is ready.
type v2State struct {
	bots      map[int]*V2Bot
	lastEvent int64 // event ids are portal-wide and increasing
}

// V2Bot is a bot registered through imbot.v2, with its event queue.
type V2Bot struct {
	ID        int
	Code      string
	Type      string
	EventMode string
	Token     string // botToken; "" for an OAuth application's bot
	Name      string
	// WebhookURL is where a webhook-mode bot's events go (V2Deliver).
	WebhookURL string
	// Confirmed is the offset of the last Event.get: every event with a
	// smaller id has been confirmed and dropped.
	Confirmed int64
	Gets      int // Event.get calls answered
	queue     []v2Event
}

type v2Event struct {
	ID   int64
	Type string
	Date string
	Data map[string]any
}

// v2Errors are the descriptions of the documented error tables
// (bot-register.md, event-get.md, chat-message-send.md, bot-get.md).
var v2Errors = map[string]string{
	"BOT_TOKEN_NOT_SPECIFIED":  "Bot token is not specified",
	"BOT_TOKEN_INVALID_LENGTH": "Bot token is too long",
	"BOT_CODE_REQUIRED":        "Bot code is required",
	"BOT_PROPERTIES_REQUIRED":  "Bot properties are required",
	"BOT_CODE_ALREADY_TAKEN":   "Bot code is already taken",
	"BOT_INVALID_TYPE":         "Invalid bot type",
	"BOT_INVALID_EVENT_MODE":   "Invalid event mode",
	"BOT_WEBHOOK_URL_REQUIRED": "Webhook URL is required",
	"BOT_ID_REQUIRED":          "Bot ID is required",
	"BOT_NOT_FOUND":            "Bot not found",
	"BOT_OWNERSHIP_ERROR":      "Bot is registered by another application",
	"PARAMS_REQUIRED":          "Bot ID or code is required",
	"EMPTY_MESSAGE":            "Message is empty",
	"DIALOG_ID_REQUIRED":       "Dialog ID is required",
	// attachments/index.md lists these codes with when each is returned,
	// not their descriptions: those sentences stand in for them
	"ATTACH_ERROR":    "The attachment structure is incorrect",
	"ATTACH_OVERSIZE": "The limit of 60,000 characters is exceeded",
}

// v2Fail is a documented imbot.v2 error: 400, or 403 for ownership (the
// pages say "HTTP Status: 400, 403").
func v2Fail(code string) *apiErr {
	status := http.StatusBadRequest
	if code == "BOT_OWNERSHIP_ERROR" {
		status = http.StatusForbidden
	}
	return &apiErr{status: status, code: code, desc: v2Errors[code]}
}

func isV2(method string) bool { return strings.HasPrefix(method, "imbot.v2.") }

// v2Locked runs one imbot.v2 method (method is lower-case). Callers hold mu.
func (p *Portal) v2Locked(who caller, method string, prm params) (any, *apiErr) {
	if p.v2.bots == nil {
		p.v2.bots = map[int]*V2Bot{}
		p.v2.lastEvent = 1000 // ids like the docs' examples (1001, …)
	}
	switch method {
	case "imbot.v2.bot.register":
		return p.v2Register(who, prm)
	case "imbot.v2.bot.get":
		return p.v2Get(who, prm)
	case "imbot.v2.event.get":
		return p.v2EventGet(who, prm)
	case "imbot.v2.chat.message.send":
		return p.v2Send(who, prm)
	}
	return nil, fail("ERROR_METHOD_NOT_FOUND", "Method not found!")
}

// v2Fields returns the fields group; botToken may sit in it or at the top
// (quick-start.md shows it at the top).
func v2Fields(prm params) (params, string) {
	raw, _ := prm.get("fields")
	f, _ := jsonish(raw).(map[string]any)
	fields := params(f)
	tok := fields.str("botToken")
	if tok == "" {
		tok = prm.str("botToken")
	}
	return fields, tok
}

// v2App is the owner of a v2 bot: the OAuth application, or with webhook
// auth the botToken (each such bot is its own application). The v1 session
// methods know the same owner from CLIENT_ID=botToken.
func v2App(who caller, token string) string {
	if !who.webhook {
		return "oauth"
	}
	return caller{webhook: true, clientID: token}.app()
}

func (p *Portal) v2Register(who caller, prm params) (any, *apiErr) {
	fields, tok := v2Fields(prm)
	code := strings.TrimSpace(fields.str("code"))
	switch {
	case code == "":
		return nil, v2Fail("BOT_CODE_REQUIRED")
	case who.webhook && tok == "":
		return nil, v2Fail("BOT_TOKEN_NOT_SPECIFIED")
	case len(tok) > bitrix24.MaxBotToken:
		return nil, v2Fail("BOT_TOKEN_INVALID_LENGTH")
	}
	propsRaw, _ := fields.get("properties")
	props, _ := jsonish(propsRaw).(map[string]any)
	name := strings.TrimSpace(params(props).str("name"))
	if name == "" {
		return nil, v2Fail("BOT_PROPERTIES_REQUIRED")
	}
	typ, mode := fields.str("type"), fields.str("eventMode")
	if typ == "" {
		typ = "bot"
	}
	if mode == "" {
		mode = "fetch"
	}
	switch {
	case !map[string]bool{"bot": true, "network": true, "openline": true, "supervisor": true, "personal": true}[typ]:
		return nil, v2Fail("BOT_INVALID_TYPE")
	case mode != "fetch" && mode != "webhook":
		return nil, v2Fail("BOT_INVALID_EVENT_MODE")
	case mode == "webhook" && !isURL(fields.str("webhookUrl")):
		return nil, v2Fail("BOT_WEBHOOK_URL_REQUIRED")
	}
	app := v2App(who, tok)
	for _, b := range p.bots {
		if b.Code != code {
			continue
		}
		if b.App != app {
			return nil, v2Fail("BOT_CODE_ALREADY_TAKEN")
		}
		if vb := p.v2.bots[b.ID]; vb != nil {
			return p.v2BotAnswer(vb), nil // idempotent: the existing bot, unchanged
		}
		return nil, v2Fail("BOT_CODE_ALREADY_TAKEN") // a v1 bot of the same app
	}
	// The bot joins the portal's bot table too, owned like a v1 bot of the
	// same application, so the session methods find it.
	b := p.addBotLocked(code, app, "")
	b.Type, b.Name = typ, name
	vb := &V2Bot{ID: b.ID, Code: code, Type: typ, EventMode: mode, Name: name, WebhookURL: fields.str("webhookUrl")}
	if who.webhook {
		vb.Token = tok // OAuth bots are bound by client_id; a token sent along is unused
	}
	p.v2.bots[b.ID] = vb
	return p.v2BotAnswer(vb), nil
}

// v2BotAnswer is the documented Bot.register / Bot.get result with the
// bot's values.
func (p *Portal) v2BotAnswer(b *V2Bot) any {
	body := mustTree("v2.answer.imbot.v2.Bot.register")
	res := group(body, "result")
	bot := group(res, "bot")
	bot["id"], bot["code"], bot["type"], bot["eventMode"] = b.ID, b.Code, b.Type, b.EventMode
	bot["isSupportOpenline"] = b.Type == "openline" || b.Type == "bot"
	if users, ok := res["users"].([]any); ok && len(users) > 0 {
		if u, ok := users[0].(map[string]any); ok {
			u["id"], u["name"], u["firstName"], u["lastName"] = b.ID, b.Name, b.Name, ""
		}
	}
	return res
}

// v2BotLocked finds the bot of a call by botId and checks that the caller
// owns it.
func (p *Portal) v2BotLocked(who caller, prm params) (*V2Bot, *apiErr) {
	if _, ok := prm.get("botId"); !ok {
		return nil, v2Fail("BOT_ID_REQUIRED")
	}
	return p.v2OwnLocked(who, prm, p.v2.bots[prm.intval("botId")])
}

func (p *Portal) v2OwnLocked(who caller, prm params, b *V2Bot) (*V2Bot, *apiErr) {
	tok := prm.str("botToken")
	if who.webhook && tok == "" {
		return nil, v2Fail("BOT_TOKEN_NOT_SPECIFIED")
	}
	if b == nil {
		return nil, v2Fail("BOT_NOT_FOUND")
	}
	if owner := p.bots[b.ID]; owner == nil || owner.App != v2App(who, tok) {
		return nil, v2Fail("BOT_OWNERSHIP_ERROR")
	}
	return b, nil
}

func (p *Portal) v2Get(who caller, prm params) (any, *apiErr) {
	if _, ok := prm.get("botId"); ok {
		b, e := p.v2BotLocked(who, prm)
		if e != nil {
			return nil, e
		}
		return p.v2BotAnswer(b), nil
	}
	code := prm.str("code")
	if code == "" {
		return nil, v2Fail("PARAMS_REQUIRED")
	}
	for _, b := range p.v2.bots {
		if b.Code == code {
			b, e := p.v2OwnLocked(who, prm, b)
			if e != nil {
				return nil, e
			}
			return p.v2BotAnswer(b), nil
		}
	}
	return nil, v2Fail("BOT_NOT_FOUND")
}

// v2EventGet confirms the events below offset (drops them), then returns
// up to limit of the rest, oldest first; events not confirmed come back on
// the next call. nextOffset is the id after the last one returned (or,
// with none returned, the id after the last event queued so far).
func (p *Portal) v2EventGet(who caller, prm params) (any, *apiErr) {
	b, e := p.v2BotLocked(who, prm)
	if e != nil {
		return nil, e
	}
	b.Gets++
	if off := int64(prm.intval("offset")); off > b.Confirmed {
		b.Confirmed = off
	}
	keep := b.queue[:0]
	for _, ev := range b.queue {
		if ev.ID >= b.Confirmed {
			keep = append(keep, ev)
		}
	}
	b.queue = keep
	limit := prm.intval("limit")
	if limit < 1 || limit > bitrix24.MaxEventLimit {
		limit = bitrix24.DefaultEventLimit
	}
	n := min(limit, len(b.queue))
	template := group(mustTree("v2.answer.imbot.v2.Event.get"), "result")
	first, _ := template["events"].([]any)
	events := make([]any, 0, n)
	next := max(b.Confirmed, p.v2.lastEvent+1)
	for _, ev := range b.queue[:n] {
		// a fresh copy of the documented envelope per event
		env := cloneTree(first[0].(map[string]any))
		env["eventId"], env["type"], env["date"], env["data"] = ev.ID, ev.Type, ev.Date, cloneTree(ev.Data)
		events = append(events, env)
		next = ev.ID + 1
	}
	template["events"], template["nextOffset"], template["hasMore"] = events, next, n < len(b.queue)
	return template, nil
}

func (p *Portal) v2Send(who caller, prm params) (any, *apiErr) {
	b, e := p.v2BotLocked(who, prm)
	if e != nil {
		return nil, e
	}
	dialog := strings.TrimSpace(prm.str("dialogId"))
	if dialog == "" {
		return nil, v2Fail("DIALOG_ID_REQUIRED")
	}
	fields, _ := v2Fields(prm)
	text := fields.str("message")
	attach, _ := fields.get("attach")
	if attach != nil {
		var e *apiErr
		if attach, e = checkAttach(attach, v2AttachLimit); e != nil {
			return nil, e
		}
	}
	if strings.TrimSpace(text) == "" && attach == nil {
		return nil, v2Fail("EMPTY_MESSAGE")
	}
	kb, _ := fields.get("keyboard")
	kb = jsonish(kb)
	if kb != nil && kb != "" {
		if list, ok := asList(kb); ok {
			kb = list
		}
	}
	p.nextMessage++
	skip, _ := fields.get("skipConnector") // change-log.md, revision 33: true/false or Y/N
	p.messages = append(p.messages, Message{ID: p.nextMessage, DialogID: dialog, BotID: b.ID, Text: text, Keyboard: kb, Attach: attach, Kind: "bot", Time: p.cfg.Now(),
		SkipConnector: skip == true || skip == "Y" || skip == "true"})
	res := group(mustTree("v2.answer.imbot.v2.Chat.Message.send"), "result")
	res["id"] = p.nextMessage
	return res, nil
}

// cloneTree deep-copies a decoded JSON tree.
func cloneTree(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var out map[string]any
	_ = d.Decode(&out)
	return out
}

// V2Bots returns the bots registered through imbot.v2, by id.
func (p *Portal) V2Bots() []V2Bot {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []V2Bot
	for _, b := range p.sortedBotsLocked() {
		if vb := p.v2.bots[b.ID]; vb != nil {
			cp := *vb
			cp.queue = nil
			out = append(out, cp)
		}
	}
	return out
}

// V2Pending returns how many events of bot wait unconfirmed.
func (p *Portal) V2Pending(botID int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.v2.bots[botID]; b != nil {
		n := 0
		for _, ev := range b.queue {
			if ev.ID >= b.Confirmed {
				n++
			}
		}
		return n
	}
	return 0
}

// V2Push queues an event for bot with the given data (a documented data
// object, or a malformed one for tests) and returns its id. Callers
// building documented events use V2Chat.
func (p *Portal) V2Push(botID int, typ string, data map[string]any) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v2PushLocked(botID, typ, data)
}

func (p *Portal) v2PushLocked(botID int, typ string, data map[string]any) int64 {
	b := p.v2.bots[botID]
	if b == nil {
		panic("fakeportal: V2Push to a bot that is not registered through imbot.v2: " + strconv.Itoa(botID))
	}
	p.v2.lastEvent++
	b.queue = append(b.queue, v2Event{ID: p.v2.lastEvent, Type: typ, Date: p.cfg.Now().Format(time.RFC3339), Data: data})
	return p.v2.lastEvent
}
