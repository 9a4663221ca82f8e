package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// BotCode is the CODE olbot registers its Open Lines bot under.
const BotCode = "olbot"

// appDialog is the outbox key of a portal's application-level calls
// (bot registration), kept apart from every chat.
func appDialog(member string) string { return NSPortal + member + ":~app" }

// handleBitrix24 is POST /bitrix24/events: a Bitrix24 event exactly as the
// portal posts it (form-encoded, bracketed keys). It answers as soon as the
// step is committed; portal calls go out through the outbox afterwards.
func (s *Server) handleBitrix24(c echo.Context) error {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return &Error{Code: EInvalid, Message: fmt.Sprintf("Content-Type is %q; Bitrix24 events are application/x-www-form-urlencoded", ct)}
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return &Error{Code: EInvalid, Message: "the body is not form-encoded: " + err.Error()}
	}
	ev, err := bitrix24.ParseEvent(form)
	if err != nil {
		var fe *bitrix24.FieldError
		if errors.As(err, &fe) {
			return &Error{Code: EInvalid, Field: fe.Field, Message: fe.Error()}
		}
		return &Error{Code: EInvalid, Message: err.Error()}
	}
	ctx := req.Context()
	if ev.Name == bitrix24.EventAppInstall {
		return s.portal.handleInstall(c, ev)
	}
	if err := s.portal.verify(ctx, ev, c.QueryParam("k")); err != nil {
		s.log.Warn("bitrix24 event refused", "event", ev.Name, "member", ev.Auth.MemberID, "domain", ev.Auth.Domain, "remote", c.RealIP(), "why", err.Error())
		return err
	}
	ignored := func(why string) error {
		s.log.Info("bitrix24 event ignored", "event", ev.Name, "dialog", ev.Params.DialogID, "why", why)
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "ignored": why})
	}
	switch ev.Name {
	case bitrix24.EventAppUninstall:
		if err := s.portal.kv.Delete(ctx, nsPortal, ev.Auth.MemberID); err != nil {
			return unavailable("forget portal %s", ev.Auth.MemberID, err)
		}
		s.portal.forget(ev.Auth.MemberID)
		s.log.Info("application uninstalled", "member", ev.Auth.MemberID, "domain", ev.Auth.Domain)
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	case bitrix24.EventBotDelete:
		if in, err := s.portal.install(ctx, ev.Auth.MemberID); err == nil && in.BotID == ev.BotID {
			in.BotID = 0
			if err := s.portal.putInstall(ctx, in); err != nil {
				return unavailable("update portal %s", ev.Auth.MemberID, err)
			}
		}
		s.log.Info("bot deleted on the portal", "member", ev.Auth.MemberID, "bot", ev.BotID)
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	case bitrix24.EventJoinChat, bitrix24.EventMessageAdd, bitrix24.EventCommandAdd:
	default:
		return ignored("olbot does not handle " + ev.Name)
	}
	in, why, err := s.portalInput(ev)
	if err != nil {
		return err
	}
	if why != "" {
		return ignored(why)
	}
	out, err := s.process(ctx, in)
	if err != nil {
		return err
	}
	resp := map[string]any{"ok": true, "outcome": string(out.Outcome), "calls": out.Calls}
	if out.Duplicate {
		resp["outcome"] = "duplicate"
	}
	if out.Reason != "" {
		resp["reason"] = out.Reason
	}
	return c.JSON(http.StatusOK, resp)
}

func firstCommand(ev *bitrix24.Event) (bitrix24.Command, bool) {
	best := -1
	for id := range ev.Commands {
		if best < 0 || id < best {
			best = id
		}
	}
	if best < 0 {
		return bitrix24.Command{}, false
	}
	return ev.Commands[best], true
}

// portalInput turns a chat event of an Open Lines chat into the engine's
// input; why says why the event is ignored instead.
func (s *Server) portalInput(ev *bitrix24.Event) (in input, why string, err error) {
	if !ev.IsOpenLine() {
		return input{}, "not an Open Lines chat", nil
	}
	if ev.ChatID() <= 0 {
		// every reply addresses the chat: without it the step could not be committed
		return input{}, "", &Error{Code: EInvalid, Field: "data[PARAMS][CHAT_ID]", Message: "an Open Lines event needs its chat: data[PARAMS][CHAT_ID], or a DIALOG_ID of the form chat<N>"}
	}
	line, _ := ev.OpenLine()
	in = input{
		Key:   NSPortal + ev.Auth.MemberID + ":" + ev.Params.DialogID,
		Event: engine.Event{Line: line, LeadID: ev.LeadID(), Time: s.now()},
		Meta:  map[string]string{"member": ev.Auth.MemberID, "dialog": ev.Params.DialogID, "chat": strconv.Itoa(ev.ChatID()), "domain": ev.Auth.Domain},
	}
	if bot, ok := ev.Bot(); ok {
		// only the bot's id: its token (data[BOT][…][access_token]) is the
		// bot user's, who has no CRM rights; every call goes with the
		// application's own pair
		in.Meta["bot"] = strconv.Itoa(bot.BotID)
	}
	if ev.User != nil {
		in.Event.Client = ev.User.FirstName
		if in.Event.Client == "" {
			in.Event.Client, _, _ = strings.Cut(ev.User.Name, " ")
		}
	}
	switch ev.Name {
	case bitrix24.EventJoinChat:
		// a join is a new session of the line (service-2.md): a run still
		// active or handed off is closed first
		in.Event.Type, in.NewSession = engine.Start, true
	case bitrix24.EventMessageAdd:
		if client, why := ev.Author(); !client {
			return input{}, why, nil
		}
		in.Event.Type, in.Event.Text = engine.Message, ev.Text()
		if in.Event.Text == "" && ev.HasFiles() {
			in.Event.Type = engine.File
		}
		if ev.Params.MessageID != 0 {
			in.Event.ID = "m" + strconv.Itoa(ev.Params.MessageID)
		}
	case bitrix24.EventCommandAdd:
		// The portal sends ONIMCOMMANDADD only for commands registered with
		// imbot.command.register; olbot registers none and its buttons are
		// ACTION=SEND buttons that arrive as the client's message. A
		// command is therefore never a menu button: it is answered 200.
		cmd, _ := firstCommand(ev)
		return input{}, fmt.Sprintf("command /%s is not one of olbot's: its buttons come as messages", clip(cmd.Command)), nil
	}
	return in, "", nil
}

// verify checks an event's application token against the portal's install
// record, or, for a webhook-registered bot, the configured token or the
// handler URL's k secret. A rejected event changes nothing.
func (p *portalSide) verify(ctx context.Context, ev *bitrix24.Event, k string) error {
	if ev.Auth.MemberID == "" {
		return &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "the event has no auth[member_id]"}
	}
	in, err := p.install(ctx, ev.Auth.MemberID)
	switch {
	case err == nil:
		if ev.Auth.ApplicationToken != "" && equal(ev.Auth.ApplicationToken, in.ApplicationToken) {
			return nil
		}
		return &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "the application token does not match the one this portal installed with"}
	case !errors.Is(err, engine.ErrNotFound):
		return unavailable("read portal %s", ev.Auth.MemberID, err)
	}
	if p.cfg.AppToken == "" && p.cfg.HandlerSecret == "" {
		return &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "unknown portal: install the application first, or configure --app-token / --handler-secret for a webhook bot"}
	}
	if p.cfg.AppToken != "" && ev.Auth.ApplicationToken != "" && equal(ev.Auth.ApplicationToken, p.cfg.AppToken) {
		return nil
	}
	if p.cfg.HandlerSecret != "" && k != "" && equal(k, p.cfg.HandlerSecret) {
		return nil
	}
	return &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "neither the application token nor the handler secret matches"}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// handleInstall stores a portal's tokens (ONAPPINSTALL) and queues the
// registration of the Open Lines bot.
func (p *portalSide) handleInstall(c echo.Context, ev *bitrix24.Event) error {
	ctx := c.Request().Context()
	a := ev.Auth
	domain := strings.ToLower(a.Domain)
	if domain == "" || a.MemberID == "" || a.ApplicationToken == "" {
		return &Error{Code: EInvalid, Field: "auth", Message: "ONAPPINSTALL needs auth[domain], auth[member_id] and auth[application_token]"}
	}
	if len(p.cfg.Portals) > 0 && !allowed(domain, p.cfg.Portals) {
		p.s.log.Warn("install refused: portal not in --portals", "domain", domain, "member", a.MemberID)
		return &Error{Code: EUnauthorized, Field: "auth[domain]", Message: fmt.Sprintf("portal %s may not install this olbot (not in --portals)", domain)}
	}
	if h := hostOf(a.ClientEndpoint); h == "" || (h != domain && h != hostOf("//"+domain)) {
		return &Error{Code: EInvalid, Field: "auth[client_endpoint]", Message: fmt.Sprintf("client_endpoint %q is not on the portal's domain %s", a.ClientEndpoint, domain)}
	}
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	old, err := p.install(ctx, a.MemberID)
	switch {
	case err == nil:
		if !equal(old.ApplicationToken, a.ApplicationToken) && !p.cfg.AllowReinstall {
			p.s.log.Warn("re-install refused: a different application token for a known portal", "domain", domain, "member", a.MemberID)
			return &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "this portal is installed with another application token; restart olbot with --allow-reinstall to accept it"}
		}
	case !errors.Is(err, engine.ErrNotFound):
		return unavailable("read portal %s", a.MemberID, err)
	}
	tok := bitrix24.TokenFromAuth(a, p.s.now())
	in := install{MemberID: a.MemberID, Domain: domain, ClientEndpoint: a.ClientEndpoint, ApplicationToken: a.ApplicationToken,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry, BotID: old.BotID, InstalledAt: p.s.now()}
	if err := p.putInstall(ctx, in); err != nil {
		return unavailable("save portal %s", a.MemberID, err)
	}
	p.forget(a.MemberID)
	p.s.log.Info("application installed", "domain", domain, "member", a.MemberID)
	if in.BotID == 0 {
		if err := p.queueRegister(ctx, a.MemberID, p.handlerURL(c)); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "installed": domain})
}

func allowed(domain string, list []string) bool {
	for _, d := range list {
		if strings.EqualFold(strings.TrimSpace(d), domain) {
			return true
		}
	}
	return false
}

// handlerURL is the public URL of /bitrix24/events, for imbot.register.
func (p *portalSide) handlerURL(c echo.Context) string {
	base := strings.TrimRight(p.cfg.PublicURL, "/")
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	u := base + "/bitrix24/events"
	if p.cfg.HandlerSecret != "" {
		u += "?k=" + url.QueryEscape(p.cfg.HandlerSecret)
	}
	return u
}

// queueRegister commits the bot's registration to the portal's app outbox.
func (p *portalSide) queueRegister(ctx context.Context, member, handler string) error {
	r := bitrix24.RegisterRequest(bitrix24.RegisterParams{Code: BotCode, Type: "O", OpenLine: true, EventHandler: handler,
		Properties: bitrix24.BotProperties{Name: "olbot", WorkPosition: "Open Lines assistant", Color: "AZURE"}})
	params, err := json.Marshal(r.Params)
	if err != nil {
		return err
	}
	key := appDialog(member)
	unlock := p.s.locks.lock(key)
	defer unlock()
	d, err := p.s.store.Dialog(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		d = engine.Dialog{Key: key}
	} else if err != nil {
		return unavailable("read %s", key, err)
	}
	prev := d.Rev
	d.Rev++
	d.Updated = p.s.now()
	call := engine.Call{Portal: member, Method: r.Method, Params: params, Created: p.s.now()}
	if err := p.s.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: []engine.Call{call}}); err != nil {
		return unavailable("queue the bot registration for %s", member, err)
	}
	p.wake()
	return nil
}

// saveBot records the bot id imbot.register returned.
func (p *portalSide) saveBot(ctx context.Context, member string, res json.RawMessage) {
	id, err := bitrix24.ParseID(res)
	if err != nil || id <= 0 {
		p.s.log.Warn("imbot.register returned no bot id", "member", member, "result", string(res))
		return
	}
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	in, err := p.install(ctx, member)
	if err != nil {
		p.s.log.Warn("could not record the bot id", "member", member, "err", err)
		return
	}
	in.BotID = id
	if err := p.putInstall(ctx, in); err != nil {
		p.s.log.Warn("could not record the bot id", "member", member, "err", err)
		return
	}
	p.s.log.Info("bot registered on the portal; select it in the Open Line's settings (chat-bot step)", "domain", in.Domain, "bot", id)
}

// forget drops a cached client so the next call reads the install record again.
func (p *portalSide) forget(member string) {
	p.mu.Lock()
	delete(p.clients, member)
	delete(p.tokens, member)
	p.mu.Unlock()
}

// clip shortens a value from an event for a log line or an answer.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
