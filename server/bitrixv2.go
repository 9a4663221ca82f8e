package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/pull"
)

// handleV2 takes an imbot.v2 webhook event of a local application's bot
// (eventMode webhook): ONIMBOTV2* form-encoded as the portal's
// http_build_query writes it (every scalar a string), verified by the
// top-level auth[application_token] against the portal's install record —
// never by data[bot][auth], the bot's callback tokens (events.md,
// "Webhook Notification Structure"). The chat events become the same
// dialog steps as in fetch mode (pull.DialogInput), under the same keys.
func (s *Server) handleV2(c echo.Context, form postedForm) error {
	ev, err := form.v2Event()
	if err != nil {
		var r *bitrix24.V2Rejection
		if errors.As(err, &r) {
			return &Error{Code: EInvalid, Field: r.Field, Message: r.Error()}
		}
		return &Error{Code: EInvalid, Message: err.Error()}
	}
	ctx := c.Request().Context()
	in, err := s.verifyV2(ctx, ev)
	if err != nil {
		s.log.Warn("bitrix24 event refused", "event", ev.Type, "member", ev.Auth.MemberID, "domain", ev.Auth.Domain, "remote", c.RealIP(), "why", err.Error())
		return err
	}
	if in.V2BotID != 0 && ev.Bot.ID != in.V2BotID {
		return s.ignoredV2(c, ev, "not this application's imbot.v2 bot")
	}
	if ev.Type == bitrix24.EventV2Delete {
		if err := s.portals.BotDeleted(ctx, in.MemberID, ev.Bot.ID); err != nil {
			return unavailable("update portal %s", in.MemberID, err)
		}
		s.log.Info("imbot.v2 bot deleted on the portal", "member", in.MemberID, "bot", ev.Bot.ID)
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	}
	if err := checkID("data[chat][dialogId]", ev.DialogID, MaxDialogIDLen); ev.DialogID != "" && err != nil {
		return err
	}
	portal, err := s.portals.PortalID(ctx, in.Domain, in.MemberID)
	if err != nil {
		return unavailable("read portal %s", in.MemberID, err)
	}
	step, why := pull.DialogInput(portal, in.Domain, ev, s.now())
	if why != "" {
		return s.ignoredV2(c, ev, why)
	}
	// calls go with the portal's own OAuth pair, found by its member id
	step.Channel.Member = in.MemberID
	out, err := s.dialogs.Apply(ctx, step)
	if err != nil {
		return err
	}
	resp := bitrixEventAnswer{OK: true, Outcome: string(out.Outcome), Calls: out.Calls} // no reason: as before
	if out.Duplicate {
		resp.Outcome = "duplicate"
	}
	return answerBitrixEvent(c, &resp)
}

// verifyV2 finds the install record of the event's portal — by
// auth[member_id] when the top-level auth carries it, else by auth[domain]
// (the documented example shows only domain and application_token) — and
// checks the top-level application token against it.
func (s *Server) verifyV2(ctx context.Context, ev bitrix24.V2Event) (outbox.Install, error) {
	a := ev.Auth
	if a.ApplicationToken == "" {
		return outbox.Install{}, &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "the event has no top-level auth[application_token]"}
	}
	for _, f := range []struct{ field, v string }{{"auth[member_id]", a.MemberID}, {"auth[domain]", a.Domain}} {
		if err := checkLen(f.field, f.v, MaxDomainLen); err != nil {
			return outbox.Install{}, err
		}
	}
	var in outbox.Install
	var err error
	switch {
	case a.MemberID != "":
		in, err = s.portals.Get(ctx, a.MemberID)
	case a.Domain != "":
		in, err = s.portals.ByDomain(ctx, a.Domain)
	default:
		return outbox.Install{}, &Error{Code: EUnauthorized, Field: "auth[domain]", Message: "the event names no portal (auth[domain], auth[member_id])"}
	}
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return outbox.Install{}, &Error{Code: EUnauthorized, Field: "auth[domain]", Message: "unknown portal: install the application first"}
	case err != nil:
		return outbox.Install{}, unavailable("read portal %s", a.Domain, err)
	case !equal(a.ApplicationToken, in.ApplicationToken):
		return outbox.Install{}, &Error{Code: EUnauthorized, Field: "auth[application_token]", Message: "the application token does not match the one this portal installed with"}
	}
	return in, nil
}

func (s *Server) ignoredV2(c echo.Context, ev bitrix24.V2Event, why string) error {
	s.log.Info("bitrix24 event ignored", "event", ev.Type, "dialog", ev.DialogID, "why", why)
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "ignored": why})
}
