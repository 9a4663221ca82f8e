package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/retention"
)

// Eraser deletes personal data at once (package retention).
type Eraser interface {
	// EraseDialog deletes one dialog's record and calls.
	EraseDialog(ctx context.Context, key string) (engine.Erased, error)
	// ErasePortal deletes every dialog of a portal and its install record.
	ErasePortal(ctx context.Context, member string) (retention.PortalErased, error)
	// Uninstalled schedules (or, with clean, does) the erasure of an
	// uninstalled portal's dialogs.
	Uninstalled(ctx context.Context, member string, clean bool) (retention.PortalErased, error)
}

// EraseDialogResponse is the answer of DELETE /v1/dialogs/{id}: what was
// deleted (nothing, for a dialog that does not exist).
type EraseDialogResponse struct {
	Dialog string `json:"dialog"` // the store key
	Record bool   `json:"record"` // the record (fields, processed ids) was deleted
	Calls  int    `json:"calls"`  // pending and parked portal calls deleted
}

// EraseSummary is the one-line account `olbot erase` prints.
func (r EraseDialogResponse) EraseSummary() string {
	if !r.Record && r.Calls == 0 {
		return fmt.Sprintf("dialog %s: nothing to erase (no record, no calls)\n", r.Dialog)
	}
	return fmt.Sprintf("dialog %s: erased the record and %d pending or parked calls\n", r.Dialog, r.Calls)
}

// ErasePortalResponse is the answer of DELETE /v1/portals/{member_id}.
type ErasePortalResponse retention.PortalErased

// EraseSummary is the one-line account `olbot erase` prints.
func (r ErasePortalResponse) EraseSummary() string {
	install := "no install record"
	if r.Install {
		install = "its install record (tokens)"
	}
	return fmt.Sprintf("portal %s: erased %d dialogs, %d pending or parked calls and %s\n", r.Member, r.Dialogs, r.Calls, install)
}

func (s *Server) handleEraseDialog(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	key := dialogKey(id)
	limit := MaxDialogIDLen
	if key == id {
		limit = engine.MaxKeyLen
	}
	if err := checkID("id", id, limit); err != nil {
		return err
	}
	e, err := s.eraser.EraseDialog(c.Request().Context(), key)
	if err != nil {
		return unavailable("erase dialog %s", key, err)
	}
	return c.JSON(http.StatusOK, EraseDialogResponse{Dialog: key, Record: e.Dialog, Calls: e.Calls})
}

func (s *Server) handleErasePortal(c echo.Context) error {
	member, err := pathParam(c, "member")
	if err != nil {
		return err
	}
	if err := checkID("member", member, engine.MaxKeyLen-len(engine.KeyPortal)-2); err != nil {
		return err
	}
	if err := retention.CheckPortalID(member); err != nil {
		// the portal's id in its dialog keys: a member_id, or the host
		// (with its port, if any) where the portal is known by no member_id
		return &Error{Code: EInvalid, Field: "member", Message: strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": ")}
	}
	e, err := s.eraser.ErasePortal(c.Request().Context(), member)
	if err != nil {
		return unavailable("erase portal %s", member, err)
	}
	return c.JSON(http.StatusOK, ErasePortalResponse(e))
}
