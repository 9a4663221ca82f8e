package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/outbox"
)

// handleBitrix24 is POST /bitrix24/events: a Bitrix24 event exactly as the
// portal posts it (form-encoded, bracketed keys). It answers as soon as the
// step is committed; portal calls go out through the outbox afterwards.
func (s *Server) handleBitrix24(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	if form.v2() {
		return s.handleV2(c, form)
	}
	ev, err := form.event()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	switch ev.Name {
	case bitrix24.EventAppInstall:
		return s.handleInstall(c, ev)
	case bitrix24.EventAppUpdate:
		// proven like an install: it may carry a new application token
		return s.handleUpdate(c, ev)
	}
	host, err := s.verify(ctx, ev, c.QueryParam("k"))
	if err != nil {
		s.log.Warn("bitrix24 event refused", "event", ev.Name, "member", ev.Auth.MemberID, "domain", ev.Auth.Domain, "remote", c.RealIP(), "why", err.Error())
		return err
	}
	switch ev.Name {
	case bitrix24.EventAppUninstall:
		if err := s.portals.Uninstall(ctx, ev.Auth.MemberID); err != nil {
			return unavailable("forget portal %s", ev.Auth.MemberID, err)
		}
		// data[CLEAN] is the "clear application data" box of the uninstall
		// (on-app-uninstall.md): erase now, else after --uninstall-grace.
		clean := fmt.Sprint(ev.Data["CLEAN"]) == "1"
		e, err := s.eraser.Uninstalled(ctx, ev.Auth.MemberID, clean)
		if err != nil {
			return unavailable("erase portal %s", ev.Auth.MemberID, err)
		}
		s.log.Info("application uninstalled", "member", ev.Auth.MemberID, "domain", ev.Auth.Domain, "clean", clean, "erased_dialogs", e.Dialogs)
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	case bitrix24.EventBotDelete:
		if err := s.portals.BotDeleted(ctx, ev.Auth.MemberID, ev.BotID); err != nil {
			return unavailable("update portal %s", ev.Auth.MemberID, err)
		}
		s.log.Info("bot deleted on the portal", "member", ev.Auth.MemberID, "bot", ev.BotID)
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	case bitrix24.EventJoinChat, bitrix24.EventMessageAdd, bitrix24.EventCommandAdd:
		return s.handleChatEvent(c, ev, host)
	}
	return s.ignored(c, ev, "olbot does not handle "+ev.Name)
}

// postedForm is the portal's form body, decoded: a line's everyday post
// (a message, a join) straight into its event by bitrix24.DecodeEventBody;
// any other, its tree from the one pass of bitrix24.DecodeFormBody; a body
// both leave alone (a malformed one, mostly), its url.Values, whose
// two-step decode says what is wrong.
type postedForm struct {
	ev     *bitrix24.Event
	tree   map[string]any
	values url.Values
}

// readForm reads the portal's form body.
func readForm(c echo.Context) (postedForm, error) {
	// the tree and the url.Values hold copies of the body's text, so the
	// body is read into a pooled buffer
	bp := bodyBufs.Get().(*[]byte)
	body, err := readBodyInto(c, (*bp)[:0])
	if cap(body) <= maxPresize {
		*bp = body
		defer bodyBufs.Put(bp)
	}
	if err != nil {
		return postedForm{}, err
	}
	if ev, ok := bitrix24.DecodeEventBody(string(body)); ok {
		return postedForm{ev: ev}, nil
	}
	if tree, ok := bitrix24.DecodeFormBody(string(body)); ok {
		return postedForm{tree: tree}, nil
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return postedForm{}, &Error{Code: EInvalid, Message: "the body is not form-encoded: " + err.Error()}
	}
	return postedForm{values: values}, nil
}

// v2 reports whether the form is an imbot.v2 webhook event.
func (f postedForm) v2() bool {
	if f.ev != nil {
		return false // DecodeEventBody takes v1 events only
	}
	if f.tree != nil {
		return bitrix24.IsV2Tree(f.tree)
	}
	return bitrix24.IsV2Form(f.values)
}

// event decodes a v1 event.
func (f postedForm) event() (*bitrix24.Event, error) {
	if f.ev != nil {
		return parseEvent(f.ev, nil)
	}
	if f.tree != nil {
		return parseEvent(bitrix24.ParseEventTree(f.tree))
	}
	return parseEvent(bitrix24.ParseEvent(f.values))
}

// v2Event decodes an imbot.v2 webhook event.
func (f postedForm) v2Event() (bitrix24.V2Event, error) {
	if f.tree != nil {
		return bitrix24.ParseV2Tree(f.tree)
	}
	return bitrix24.ParseV2Form(f.values)
}

// parseEvent checks a v1 event's decode, as bitrix24.ParseEvent returns it.
func parseEvent(ev *bitrix24.Event, err error) (*bitrix24.Event, error) {
	if err != nil {
		var fe *bitrix24.FieldError
		if errors.As(err, &fe) {
			return nil, &Error{Code: EInvalid, Field: fe.Field, Message: fe.Error()}
		}
		return nil, &Error{Code: EInvalid, Message: err.Error()}
	}
	if err := checkPortalIDs(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// ignored answers 200 to an event olbot leaves alone, saying why.
func (s *Server) ignored(c echo.Context, ev *bitrix24.Event, why string) error {
	s.log.Info("bitrix24 event ignored", "event", ev.Name, "dialog", ev.Params.DialogID, "why", why)
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "ignored": why})
}

// handleChatEvent applies a verified chat event (join, message, button)
// to the chat's dialog; host is the portal's, as verify found it.
func (s *Server) handleChatEvent(c echo.Context, ev *bitrix24.Event, host string) error {
	if !ev.IsOpenLine() {
		return s.ignored(c, ev, "not an Open Lines chat")
	}
	if ev.ChatID() <= 0 {
		// every reply addresses the chat: without it the step could not be committed
		return &Error{Code: EInvalid, Field: "data[PARAMS][CHAT_ID]", Message: "an Open Lines event needs its chat: data[PARAMS][CHAT_ID], or a DIALOG_ID of the form chat<N>"}
	}
	ctx := c.Request().Context()
	portal, err := s.portals.PortalID(ctx, host, ev.Auth.MemberID)
	if err != nil {
		return unavailable("read portal %s", ev.Auth.MemberID, err)
	}
	in, why := s.chatInput(ctx, ev, portal)
	if why != "" {
		return s.ignored(c, ev, why)
	}
	out, err := s.applyRetrying(ctx, in)
	if err != nil {
		return err
	}
	resp := bitrixEventAnswer{OK: true, Outcome: string(out.Outcome), Calls: out.Calls, Reason: out.Reason}
	if out.Duplicate {
		resp.Outcome = "duplicate"
	}
	return answerBitrixEvent(c, &resp)
}

// EventRetryFor is how long a portal chat event whose step cannot be
// committed (the store refuses writes: a full disk, PostgreSQL failing
// over) is retried in-process before it is answered 503. Bitrix24 does not
// send a v1 event again, so a 503 loses the client's message; a short
// outage within this bound loses nothing. The retries back off from 50ms
// to 1s; the request's own end (the portal hung up) stops them.
const EventRetryFor = 5 * time.Second

// applyRetrying applies in, retrying a store failure for EventRetryFor.
// Other errors (bad input) are final at once.
func (s *Server) applyRetrying(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error) {
	deadline := time.Now().Add(EventRetryFor)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := s.dialogs.Apply(ctx, in)
		var ue *dialogs.UnavailableError
		if err == nil || !errors.As(err, &ue) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			if err != nil && attempt > 1 {
				s.log.Warn("portal event not committed after retrying; answered 503 (the portal will not send it again)", "dialog", in.Key, "attempts", attempt, "err", err)
			}
			return out, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return out, err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// chatInput is the engine event of a chat event, or why it is ignored.
// portal is the portal's dialog-key id (outbox.Portals.PortalID).
func (s *Server) chatInput(ctx context.Context, ev *bitrix24.Event, portal string) (dialogs.Input, string) {
	line, _ := ev.OpenLine()
	in := dialogs.Input{
		Key:   engine.KeyPortal + portal + ":" + ev.Params.DialogID,
		Event: engine.Event{Line: line, LeadID: ev.LeadID(), Time: s.now()},
		Channel: engine.Channel{Member: ev.Auth.MemberID, Dialog: ev.Params.DialogID, Chat: ev.ChatID(), Domain: ev.Auth.Domain,
			Entity: ev.Params.ChatEntityID},
	}
	// the chat's CRM bindings come with its messages (a join has none)
	b := ev.Bindings()
	in.Channel.Contact, in.Channel.Deal = b.Contact, b.Deal
	if bot, ok := ev.Bot(); ok {
		// only the bot's id: its token (data[BOT][…][access_token]) is the
		// bot user's, who has no CRM rights; every call goes with the
		// application's own pair
		in.Channel.Bot = bot.BotID
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
			return in, why
		}
		in.Event.Type, in.Event.Text = engine.Message, ev.Text()
		if files := ev.Files(); len(files) > 0 {
			f := answers.ClientFile(files[0]) // a file ask takes the first file
			in.Event.File = &f
		}
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
		return in, fmt.Sprintf("command /%s is not one of olbot's: its buttons come as messages", clip(cmd.Command))
	}
	return in, ""
}

// clip shortens a value from an event for a log line or an answer.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
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

// verify checks an event's application token against the portal's install
// record, or, for a webhook-registered bot, the configured token or the
// handler URL's k secret. A rejected event changes nothing. It returns the
// portal's host: the install record's domain, else the incoming webhook's
// host, else the event's auth[domain].
func (s *Server) verify(ctx context.Context, ev *bitrix24.Event, k string) (string, error) {
	if ev.Auth.MemberID == "" {
		return "", &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "the event has no auth[member_id]"}
	}
	in, err := s.portals.Get(ctx, ev.Auth.MemberID)
	switch {
	case err == nil:
		if ev.Auth.ApplicationToken != "" && equal(ev.Auth.ApplicationToken, in.ApplicationToken) {
			return in.Domain, nil
		}
		return "", &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "the application token does not match the one this portal installed with"}
	case !errors.Is(err, engine.ErrNotFound):
		return "", unavailable("read portal %s", ev.Auth.MemberID, err)
	}
	if s.cfg.Bitrix24.AppToken == "" && s.cfg.Bitrix24.HandlerSecret == "" {
		return "", &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "unknown portal: install the application first, or configure --app-token / --handler-secret for a webhook bot"}
	}
	host := s.portals.WebhookHost()
	if host == "" {
		host = ev.Auth.Domain
	}
	if s.cfg.Bitrix24.AppToken != "" && ev.Auth.ApplicationToken != "" && equal(ev.Auth.ApplicationToken, s.cfg.Bitrix24.AppToken) {
		return host, nil
	}
	if s.cfg.Bitrix24.HandlerSecret != "" && k != "" && equal(k, s.cfg.Bitrix24.HandlerSecret) {
		return host, nil
	}
	return "", &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "neither the application token nor the handler secret matches"}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// handleInstall takes a portal's install (ONAPPINSTALL) once the OAuth
// server has proven it (see prove), stores the proven tokens and queues the
// bot's registration and the bindings of ONAPPUNINSTALL and ONAPPUPDATE. A
// known portal never moves to another address without --allow-reinstall.
func (s *Server) handleInstall(c echo.Context, ev *bitrix24.Event) error {
	ctx := c.Request().Context()
	proof, err := s.prove(ctx, ev)
	if err != nil {
		return err
	}
	a := ev.Auth
	handler := s.handlerURL(c)
	in := outbox.Install{MemberID: proof.MemberID, Domain: proof.Domain, ClientEndpoint: proof.ClientEndpoint, ApplicationToken: a.ApplicationToken,
		AccessToken: proof.AccessToken, RefreshToken: proof.RefreshToken, Expiry: proof.Expiry, InstalledAt: s.now(), Handler: handler}
	in, err = s.portals.Install(ctx, in, func(old outbox.Install) error { return s.samePortal(old, proof, "install") })
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return err
		}
		return unavailable("save portal %s", a.MemberID, err)
	}
	s.log.Info("application installed", "domain", in.Domain, "member", in.MemberID)
	switch s.botAPI(in) {
	case "v1":
		if in.BotID == 0 {
			if err := s.registrar.QueueRegister(ctx, in.MemberID, handler); err != nil {
				return unavailable("queue the bot registration for %s", in.MemberID, err)
			}
		}
	default:
		if in.V2BotID == 0 {
			code := outbox.BotCode
			if in.BotID != 0 {
				code = outbox.BotCodeV2 // the v1 bot keeps its code; both bots serve until the move is done
			}
			if err := s.registrar.QueueRegisterV2(ctx, in.MemberID, handler, s.events(), code); err != nil {
				return unavailable("queue the imbot.v2 bot registration for %s", in.MemberID, err)
			}
		}
	}
	if err := s.registrar.QueueBind(ctx, in.MemberID, handler); err != nil {
		return unavailable("queue the event bindings for %s", in.MemberID, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "installed": in.Domain})
}

// botAPI is the platform in's bot is registered with (Bitrix24Config.BotAPI):
// with "auto", v2 for a first install while a portal installed with v1
// stays v1.
func (s *Server) botAPI(in outbox.Install) string {
	switch s.cfg.Bitrix24.BotAPI {
	case "v2":
		return "v2"
	case "auto":
		if in.BotID != 0 && in.V2BotID == 0 {
			return "v1"
		}
		return "v2"
	}
	return "v1"
}

// events is the v2 bot's eventMode.
func (s *Server) events() string {
	if s.cfg.Bitrix24.Events == "fetch" {
		return "fetch"
	}
	return "webhook"
}

// handleUpdate takes ONAPPUPDATE of a known portal: like an install it is
// proven by the OAuth server before its (changed) application token and
// tokens replace the stored ones, and the event bindings, which the portal
// dropped with the update, are queued again.
func (s *Server) handleUpdate(c echo.Context, ev *bitrix24.Event) error {
	ctx := c.Request().Context()
	if _, err := s.portals.Get(ctx, ev.Auth.MemberID); errors.Is(err, engine.ErrNotFound) {
		return &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "ONAPPUPDATE of a portal that has not installed olbot"}
	} else if err != nil {
		return unavailable("read portal %s", ev.Auth.MemberID, err)
	}
	return s.handleInstall(c, ev)
}

// proof is a portal as the OAuth server knows it.
type proof struct {
	bitrix24.Token
	Domain string // the host of the proven client_endpoint
}

// prove checks an install or update: its body has the documented keys, and
// the OAuth server takes its refresh token from this application. The
// portal's address is the one the OAuth server names, never the event's.
// A failed proof is a 401 and changes nothing; it cost one request to the
// OAuth server.
func (s *Server) prove(ctx context.Context, ev *bitrix24.Event) (proof, error) {
	a := ev.Auth
	for _, f := range []struct{ key, v string }{{"member_id", a.MemberID}, {"application_token", a.ApplicationToken}, {"refresh_token", a.RefreshToken}} {
		if f.v == "" {
			return proof{}, &Error{Code: EInvalid, Field: "auth[" + f.key + "]", Message: fmt.Sprintf("%s needs auth[%s]", ev.Name, f.key)}
		}
	}
	tok, err := s.portals.Prove(ctx, a.RefreshToken)
	if errors.Is(err, outbox.ErrNoApp) {
		return proof{}, &Error{Code: EUnauthorized, Field: "auth[refresh_token]", Message: "an install can only be proven with the application's credentials: configure --app-client-id and --app-client-secret"}
	}
	if err != nil {
		s.log.Warn("install refused: the OAuth server did not prove it", "event", ev.Name, "member", a.MemberID, "domain", a.Domain, "err", err)
		return proof{}, &Error{Code: EUnauthorized, Field: "auth[refresh_token]", Message: "the OAuth server does not know this install's refresh token for this application"}
	}
	u, err := url.Parse(tok.ClientEndpoint)
	if err != nil || u.Host == "" || tok.MemberID == "" {
		return proof{}, &Error{Code: EUnauthorized, Field: "auth[refresh_token]", Message: "the OAuth server's answer names no portal (client_endpoint, member_id)"}
	}
	if tok.MemberID != a.MemberID {
		s.log.Warn("install refused: the refresh token belongs to another portal", "member", a.MemberID, "proven", tok.MemberID)
		return proof{}, &Error{Code: EUnauthorized, Field: "auth[member_id]", Message: "the refresh token belongs to another portal"}
	}
	p := proof{Token: tok, Domain: strings.ToLower(u.Host)}
	if list := s.cfg.Bitrix24.Portals; len(list) > 0 && !allowed(p.Domain, list) && !allowed(strings.ToLower(u.Hostname()), list) {
		s.log.Warn("install refused: portal not in --portals", "domain", p.Domain, "member", a.MemberID)
		return proof{}, &Error{Code: EUnauthorized, Field: "auth[domain]", Message: fmt.Sprintf("portal %s may not install this olbot (not in --portals)", p.Domain)}
	}
	return p, nil
}

// samePortal refuses a proven install of a known portal that would move
// its calls to another address, unless --allow-reinstall.
func (s *Server) samePortal(old outbox.Install, p proof, what string) error {
	if strings.EqualFold(old.ClientEndpoint, p.ClientEndpoint) && strings.EqualFold(old.Domain, p.Domain) {
		return nil
	}
	if s.cfg.Bitrix24.AllowReinstall {
		s.log.Warn("portal moved to another address (--allow-reinstall)", "member", old.MemberID, "from", old.ClientEndpoint, "to", p.ClientEndpoint)
		return nil
	}
	s.log.Warn(what+" refused: it would move a known portal to another address", "member", old.MemberID, "stored", old.ClientEndpoint, "proven", p.ClientEndpoint)
	return &Error{Code: EUnauthorized, Field: "auth[client_endpoint]", Message: "this portal is installed at another address; restart olbot with --allow-reinstall to move it"}
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
func (s *Server) handlerURL(c echo.Context) string {
	base := strings.TrimRight(s.cfg.Bitrix24.PublicURL, "/")
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	u := base + "/bitrix24/events"
	if s.cfg.Bitrix24.HandlerSecret != "" {
		u += "?k=" + url.QueryEscape(s.cfg.Bitrix24.HandlerSecret)
	}
	return u
}
