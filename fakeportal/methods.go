package fakeportal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/olbot/olbot/bitrix24"
)

// params are decoded call params: JSON values (json.Number, string, bool,
// []any, map[string]any) or form strings and map[string]any groups.
type params map[string]any

// get finds key case-insensitively, as PHP's REST layer upper-cases keys for most methods.
func (p params) get(key string) (any, bool) {
	if v, ok := p[key]; ok {
		return v, true
	}
	for k, v := range p {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func (p params) str(key string) string {
	v, _ := p.get(key)
	return scalar(v)
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "1"
		}
		return ""
	}
	return ""
}

// intval is PHP's (int) cast: leading digits, else 0.
func (p params) intval(key string) int { return intval(p.str(key)) }

func intval(s string) int {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' || n > 1e15 {
			break
		}
		n = n*10 + int(r-'0')
	}
	if neg {
		return -n
	}
	return n
}

// asList returns v as a list: a JSON array, or a form group keyed 0..n-1.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case map[string]any:
		out := make([]any, len(x))
		for i := range out {
			e, ok := x[strconv.Itoa(i)]
			if !ok {
				return nil, false
			}
			out[i] = e
		}
		return out, true
	}
	return nil, false
}

// jsonish decodes a JSON string param ("{…}"), as the portal accepts KEYBOARD as a string.
func jsonish(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		var out any
		d := json.NewDecoder(strings.NewReader(t))
		d.UseNumber()
		if d.Decode(&out) == nil {
			return out
		}
	}
	return v
}

func (p *Portal) id(n int) any {
	if p.cfg.StringIDs {
		return strconv.Itoa(n)
	}
	return n
}

func needsClientID(method string) bool { return strings.HasPrefix(method, "imbot.") }

// dispatchLocked runs one REST method. Callers hold mu.
func (p *Portal) dispatchLocked(who caller, method string, prm params) (any, *apiErr) {
	if isV2(method) { // imbot.v2 authorizes by botToken, not CLIENT_ID (v2.go)
		return p.v2Locked(who, method, prm)
	}
	if who.webhook && needsClientID(method) && who.clientID == "" {
		return nil, fail("ACCESS_DENIED", "Client ID not specified")
	}
	switch method {
	case "imbot.register":
		return p.register(who, prm)
	case "imbot.unregister":
		return p.unregister(who, prm)
	case "imbot.bot.list":
		return p.botList(), nil
	case "imbot.message.add":
		return p.messageAdd(who, prm)
	case "imopenlines.bot.session.message.send", "imopenlines.bot.session.send.message":
		return p.sessionMessageSend(prm)
	case "imopenlines.bot.session.operator":
		return p.sessionOperator(prm)
	case "imopenlines.bot.session.transfer":
		return p.sessionTransfer(who, prm)
	case "imopenlines.bot.session.finish":
		return p.sessionFinish(who, prm)
	case "crm.lead.add":
		return p.leadAdd(prm)
	case "crm.lead.update":
		return p.leadUpdate(prm)
	case "crm.lead.get":
		return p.leadGet(prm)
	case "crm.contact.update", "crm.deal.update":
		return p.entityUpdate(strings.TrimSuffix(strings.TrimPrefix(method, "crm."), ".update"), prm)
	case "imopenlines.dialog.get":
		return p.dialogGet(prm)
	case "imopenlines.config.get":
		return p.configGet(prm)
	case "event.bind":
		return p.eventBind(prm)
	}
	return nil, fail("ERROR_METHOD_NOT_FOUND", "Method not found!")
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (p *Portal) register(who caller, prm params) (any, *apiErr) {
	code := strings.TrimSpace(prm.str("CODE"))
	if code == "" {
		return nil, fail("CODE_ERROR", "Bot code is not specified")
	}
	handler := prm.str("EVENT_HANDLER")
	handlers := map[string]string{}
	for _, ev := range []string{"EVENT_MESSAGE_ADD", "EVENT_WELCOME_MESSAGE", "EVENT_BOT_DELETE", "EVENT_MESSAGE_UPDATE", "EVENT_MESSAGE_DELETE"} {
		h := prm.str(ev)
		if h == "" {
			h = handler
		}
		required := ev == "EVENT_MESSAGE_ADD" || ev == "EVENT_WELCOME_MESSAGE" || ev == "EVENT_BOT_DELETE"
		if h == "" && !required {
			continue
		}
		if !isURL(h) {
			return nil, fail(ev+"_ERROR", "Event handler "+ev+" is not specified or is not a URL")
		}
		handlers[ev] = h
	}
	props, _ := prm.get("PROPERTIES")
	pm, _ := jsonish(props).(map[string]any)
	name, last := scalar(pm["NAME"]), scalar(pm["LAST_NAME"])
	if name == "" && last == "" {
		return nil, fail("NAME_ERROR", "Bot name is not specified")
	}
	app := who.app()
	count := 0
	for _, b := range p.bots {
		if b.Code == code {
			// Re-registering a code is undocumented for v1; the fake returns the existing bot.
			return p.id(b.ID), nil
		}
		if b.App == app {
			count++
		}
	}
	if count >= 5 {
		return nil, fail("MAX_COUNT_ERROR", "Has reached the maximum number of bots for this application (max: 5)")
	}
	typ := prm.str("TYPE")
	if typ == "" {
		typ = "B"
	}
	p.nextBot++
	p.bots[p.nextBot] = &Bot{ID: p.nextBot, Code: code, Type: typ, App: app, Handlers: handlers, Name: strings.TrimSpace(name + " " + last)}
	return p.id(p.nextBot), nil
}

// addBotLocked registers a bot directly (no call recorded).
func (p *Portal) addBotLocked(code, app, handler string) *Bot {
	p.nextBot++
	b := &Bot{ID: p.nextBot, Code: code, Type: "O", App: app, Name: code, Handlers: map[string]string{}}
	if handler != "" {
		for _, ev := range []string{"EVENT_MESSAGE_ADD", "EVENT_WELCOME_MESSAGE", "EVENT_BOT_DELETE"} {
			b.Handlers[ev] = handler
		}
	}
	p.bots[b.ID] = b
	return b
}

// AddBot registers a bot as if the OAuth application (clientID "") or a
// webhook with that CLIENT_ID had called imbot.register with EVENT_HANDLER
// handler, and returns its id. No call is recorded.
func (p *Portal) AddBot(code, clientID, handler string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	app := caller{webhook: clientID != "", clientID: clientID}.app()
	return p.addBotLocked(code, app, handler).ID
}

func (p *Portal) unregister(who caller, prm params) (any, *apiErr) {
	id := prm.intval("BOT_ID")
	b := p.bots[id]
	if id <= 0 || b == nil {
		return nil, fail("BOT_ID_ERROR", "Bot not found")
	}
	if b.App != who.app() {
		return nil, fail("APP_ID_ERROR", "Bot was installed by another rest application")
	}
	delete(p.bots, id)
	return true, nil
}

func (p *Portal) sortedBotsLocked() []*Bot {
	out := make([]*Bot, 0, len(p.bots))
	for _, b := range p.bots {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (p *Portal) botList() any {
	out := map[string]any{}
	for _, b := range p.sortedBotsLocked() {
		out[strconv.Itoa(b.ID)] = map[string]any{"ID": p.id(b.ID), "CODE": b.Code, "OPENLINE": "Y", "TYPE": b.Type}
	}
	return out
}

// appBotLocked returns the first bot owned by app.
func (p *Portal) appBotLocked(app string) *Bot {
	if app == "" {
		return nil
	}
	for _, b := range p.sortedBotsLocked() {
		if b.App == app {
			return b
		}
	}
	return nil
}

func (p *Portal) messageAdd(who caller, prm params) (any, *apiErr) {
	var bot *Bot
	if _, given := prm.get("BOT_ID"); given {
		bot = p.bots[prm.intval("BOT_ID")]
		if bot == nil {
			return nil, fail("BOT_ID_ERROR", "Bot not found")
		}
		if bot.App != who.app() {
			return nil, fail("APP_ID_ERROR", "Bot was installed by another rest application")
		}
	} else if bot = p.appBotLocked(who.app()); bot == nil {
		return nil, fail("BOT_ID_ERROR", "Bot not found")
	}
	dialog := strings.TrimSpace(prm.str("DIALOG_ID"))
	if dialog == "" {
		return nil, fail("DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	text := strings.TrimSpace(prm.str("MESSAGE"))
	if text == "" {
		return nil, fail("MESSAGE_EMPTY", "Message can't be empty")
	}
	kb, _ := prm.get("KEYBOARD")
	kb = jsonish(kb)
	if kb != nil && kb != "" && kb != "N" {
		if e := checkKeyboard(kb); e != nil {
			return nil, e
		}
	} else {
		kb = nil
	}
	att, _ := prm.get("ATTACH")
	if att != nil {
		var e *apiErr
		if att, e = checkAttach(att, v1AttachLimit); e != nil {
			return nil, e
		}
	}
	p.nextMessage++
	p.messages = append(p.messages, Message{ID: p.nextMessage, DialogID: dialog, BotID: bot.ID, Text: text, Keyboard: kb, Attach: att, Kind: "bot", Time: p.cfg.Now(),
		SkipConnector: strings.EqualFold(prm.str("SKIP_CONNECTOR"), "Y")})
	return p.id(p.nextMessage), nil
}

var buttonActions = map[string]bool{"PUT": true, "SEND": true, "COPY": true, "CALL": true, "DIALOG": true}

func checkKeyboard(kb any) *apiErr {
	if b, err := json.Marshal(kb); err != nil || len(b) > 30*1024 {
		return fail("KEYBOARD_OVERSIZE", "You have exceeded the maximum allowable size of keyboard")
	}
	bad := fail("KEYBOARD_ERROR", "Incorrect keyboard params")
	buttons, ok := asList(kb)
	if !ok {
		m, isMap := kb.(map[string]any)
		if !isMap {
			return bad
		}
		if buttons, ok = asList(m["BUTTONS"]); !ok {
			return bad
		}
	}
	if len(buttons) == 0 {
		return bad
	}
	for _, raw := range buttons {
		b, ok := raw.(map[string]any)
		if !ok {
			return bad
		}
		if scalar(b["TYPE"]) == "NEWLINE" {
			continue
		}
		if strings.TrimSpace(scalar(b["TEXT"])) == "" {
			return bad
		}
		actions := 0
		for _, k := range []string{"LINK", "COMMAND", "ACTION", "APP_ID"} {
			if scalar(b[k]) != "" {
				actions++
			}
		}
		if actions != 1 {
			return bad
		}
		if a := scalar(b["ACTION"]); a != "" && (!buttonActions[a] || scalar(b["ACTION_VALUE"]) == "") {
			return bad
		}
	}
	return nil
}

func chatID(prm params) (int, *apiErr) {
	id := prm.intval("CHAT_ID")
	if id <= 0 {
		return 0, fail("CHAT_ID_EMPTY", "Chat ID can't be empty")
	}
	return id, nil
}

func (p *Portal) sessionMessageSend(prm params) (any, *apiErr) {
	id, e := chatID(prm)
	if e != nil {
		return nil, e
	}
	name := strings.ToUpper(prm.str("NAME"))
	text := prm.str("MESSAGE")
	if name == bitrix24.GreetWelcome {
		text = "Welcome! (the line's greeting)"
	}
	if strings.TrimSpace(text) != "" {
		p.nextMessage++
		p.messages = append(p.messages, Message{ID: p.nextMessage, DialogID: "chat" + strconv.Itoa(id), Text: text, Kind: "greeting", Time: p.cfg.Now()})
	}
	return true, nil
}

func (p *Portal) sessionOperator(prm params) (any, *apiErr) {
	id, e := chatID(prm)
	if e != nil {
		return nil, e
	}
	if p.chats[id] != StateBot {
		return nil, fail("WRONG_CHAT", "Operator is not a bot")
	}
	p.chats[id] = StateOperator
	return true, nil
}

// sessionBotLocked checks that the caller owns a bot, as transfer and finish require.
func (p *Portal) sessionBotLocked(who caller) *apiErr {
	if who.webhook && p.cfg.WebhookSessionsFail {
		return fail("BOT_ID_ERROR", "Bot not found")
	}
	if p.appBotLocked(who.app()) == nil {
		return fail("BOT_ID_ERROR", "Bot not found")
	}
	return nil
}

func contains(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

func (p *Portal) sessionTransfer(who caller, prm params) (any, *apiErr) {
	id, e := chatID(prm)
	if e != nil {
		return nil, e
	}
	if e := p.sessionBotLocked(who); e != nil {
		return nil, e
	}
	user, queue := prm.intval("USER_ID"), prm.intval("QUEUE_ID")
	if tid := prm.str("TRANSFER_ID"); user <= 0 && queue <= 0 && tid != "" {
		if q, ok := strings.CutPrefix(tid, "queue"); ok {
			queue = intval(q)
		} else {
			user = intval(tid)
		}
	}
	switch {
	case user > 0:
		if len(p.cfg.Operators) > 0 && !contains(p.cfg.Operators, user) {
			return nil, fail("OPERATOR_WRONG", "You can not redirect to this operator")
		}
	case queue > 0:
		if len(p.cfg.Lines) > 0 && !contains(p.cfg.Lines, queue) {
			return nil, fail("OPERATOR_WRONG", "You can not redirect to this operator")
		}
	default:
		return nil, fail("TRANSFER_ID_EMPTY", "Queue ID or User ID can't be empty")
	}
	p.chats[id] = StateTransferred
	return true, nil
}

func (p *Portal) sessionFinish(who caller, prm params) (any, *apiErr) {
	id, e := chatID(prm)
	if e != nil {
		return nil, e
	}
	if e := p.sessionBotLocked(who); e != nil {
		return nil, e
	}
	p.chats[id] = StateFinished
	return true, nil
}

// batchLocked runs a batch: {"halt":0,"cmd":{"key":"method?query",…}}.
// The request's checks (rate limit, where the batch took one token, auth,
// request-level faults) are done; each sub-call then runs through callLocked
// like a single call, in cmd's order, and is recorded with its key in
// Call.Batch. The answer is the documented
// {"result":{result,result_error,result_total,result_next,result_time}}
// keyed by sub-call key, with PHP's [] for an empty part.
func (p *Portal) batchLocked(who caller, prm params, order []string) (any, *apiErr) {
	raw, _ := prm.get("cmd")
	cmd, ok := raw.(map[string]any)
	if !ok || len(cmd) == 0 {
		return nil, fail("ERROR_BATCH_METHOD_NOT_ALLOWED", "Batch cmd is empty")
	}
	if len(cmd) > bitrix24.MaxBatch {
		return nil, fail("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
	}
	if len(order) != len(cmd) {
		order = order[:0]
		for k := range cmd {
			order = append(order, k)
		}
		sort.Slice(order, func(i, j int) bool {
			if len(order[i]) != len(order[j]) {
				return len(order[i]) < len(order[j])
			}
			return order[i] < order[j]
		})
	}
	halt := prm.intval("halt") != 0
	results, errs, times := map[string]any{}, map[string]any{}, map[string]any{}
	for _, key := range order {
		line := scalar(cmd[key])
		method, query, _ := strings.Cut(line, "?")
		method = strings.ToLower(strings.TrimSuffix(method, ".json"))
		rec := Call{Method: method, Batch: key}
		sub := params{}
		var e *apiErr
		var res any
		if vals, err := url.ParseQuery(query); err != nil {
			e = fail("WRONG_REQUEST", "bad sub-call query")
		} else if tree, err := bitrix24.DecodeForm(vals); err != nil {
			e = fail("WRONG_REQUEST", err.Error())
		} else {
			sub = params(substitute(tree, results).(map[string]any))
			switch {
			case method == bitrix24.MethodBatch:
				e = fail("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
			case len(p.failQueue) > 0 && !requestLevel(p.failQueue[0]):
				// FailNext's method-level faults hit sub-calls one by one
				e = injected(p.failQueue[0])
				p.failQueue = p.failQueue[1:]
			default:
				subWho := who
				if who.webhook {
					subWho.clientID = sub.str("CLIENT_ID")
				}
				res, e = p.callLocked(subWho, method, sub)
			}
		}
		rec.Params = sub
		rec.Auth = "oauth"
		if who.webhook {
			rec.Auth = "webhook"
		}
		if e != nil {
			rec.Status, rec.Error = e.status, e.code
			errs[key] = map[string]string{"error": e.code, "error_description": e.desc}
		} else {
			rec.Status, rec.Result = http.StatusOK, res
			results[key] = res
			times[key] = p.timeLocked()
		}
		p.recordLocked(rec)
		if e != nil && halt {
			break
		}
	}
	// PHP encodes an empty array as [], not {}.
	phpMap := func(m map[string]any) any {
		if len(m) == 0 {
			return []any{}
		}
		return m
	}
	// result_total and result_next are for list methods, which the fake
	// does not page: empty, as the portal sends them for other methods.
	return map[string]any{
		"result":       phpMap(results),
		"result_error": phpMap(errs),
		"result_total": []any{},
		"result_next":  []any{},
		"result_time":  phpMap(times),
	}, nil
}
