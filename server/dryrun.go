package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// DryRunResponse says what saving a scenario file would do to live dialogs.
type DryRunResponse struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Problems are the errors and warnings, positioned, for the editor's marks.
	Problems []ProblemView `json:"problems"`
	Scenario string        `json:"scenario,omitempty"`
	Version  string        `json:"version,omitempty"`
	Live     string        `json:"live_version,omitempty"` // the version it would replace
	Running  int           `json:"running"`                // active dialogs of this scenario now
	// Moved counts running dialogs whose state the new version removes, by
	// their current state; each goes to MovedTo.
	Moved   map[string]int `json:"moved,omitempty"`
	MovedTo string         `json:"moved_to,omitempty"`
	// Removed states of the live version that the new one lacks.
	Removed []string `json:"removed_states,omitempty"`
}

// handleDryRun is POST /v1/scenarios/check?file=PATH with the file's new
// content as the body; PATH is the file inside the scenario folder
// (support.yaml, sales/leads.yaml). It checks the content exactly as a
// reload would and reports how many running dialogs sit in states the
// change removes and where they would go. Nothing is changed.
func (s *Server) handleDryRun(c echo.Context) error {
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), false)
	if err != nil {
		return err
	}
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, scenarios.MaxFileSize)
	src, err := readBody(c)
	if err != nil {
		if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return &Error{Code: ETooLarge, Message: "the scenario is larger than 1 MiB, the limit of a scenario file"}
		}
		return err
	}
	resp, err := s.dryRun(c.Request().Context(), abs, src)
	if err != nil {
		return err
	}
	resp.File = filepath.Join(s.registry.Dir(), filepath.FromSlash(rel))
	if !resp.OK {
		return c.JSON(http.StatusUnprocessableEntity, resp)
	}
	return c.JSON(http.StatusOK, resp)
}

// dryRun checks src as the new content of file and counts the running
// dialogs the change would move.
func (s *Server) dryRun(ctx context.Context, file string, src []byte) (DryRunResponse, error) {
	resp := DryRunResponse{File: file, Problems: []ProblemView{}}
	sc, problems := s.registry.DryRun(file, src)
	for _, p := range problems {
		if p.Warning {
			resp.Warnings = append(resp.Warnings, p.Error())
		} else {
			resp.Errors = append(resp.Errors, p.Error())
		}
		resp.Problems = append(resp.Problems, problemView(p))
	}
	if sc == nil {
		return resp, nil
	}
	resp.OK, resp.Scenario, resp.Version = true, sc.Name, sc.Version
	live := s.registry.Current().Set.ByName[sc.Name]
	if live == nil {
		return resp, nil
	}
	resp.Live = live.Version
	for _, st := range live.Order {
		if _, ok := sc.States[st]; !ok {
			resp.Removed = append(resp.Removed, st)
		}
	}
	resp.Moved = map[string]int{}
	err := s.store.ScanDialogs(ctx, func(d engine.Dialog) error {
		if d.Status != engine.Active || d.Scenario != sc.Name {
			return nil
		}
		resp.Running++
		if _, ok := sc.States[d.State]; !ok {
			resp.Moved[d.State]++
		}
		return nil
	})
	if err != nil {
		return resp, unavailable("scan dialogs for %s", sc.Name, err)
	}
	if len(resp.Moved) > 0 {
		resp.MovedTo = sc.MissingTarget()
	} else {
		resp.Moved = nil
	}
	sort.Strings(resp.Removed)
	return resp, nil
}

// Summary describes a dry run in a few lines for `olbot check --server`.
func (r DryRunResponse) Summary() string {
	var b strings.Builder
	for _, e := range r.Errors {
		fmt.Fprintln(&b, e)
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(&b, w)
	}
	if !r.OK {
		fmt.Fprintf(&b, "%s would be rejected: the server keeps serving the current version\n", r.File)
		return b.String()
	}
	if r.Live == "" {
		fmt.Fprintf(&b, "%s: new scenario %s (version %s); no running dialogs are affected\n", r.File, r.Scenario, r.Version)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: scenario %s %s → %s; %d running dialogs\n", r.File, r.Scenario, r.Live, r.Version, r.Running)
	if len(r.Removed) > 0 {
		fmt.Fprintf(&b, "removed states: %s\n", strings.Join(r.Removed, ", "))
	}
	if len(r.Moved) == 0 {
		fmt.Fprintln(&b, "no running dialog sits in a removed state")
		return b.String()
	}
	states := make([]string, 0, len(r.Moved))
	for st := range r.Moved {
		states = append(states, st)
	}
	sort.Strings(states)
	for _, st := range states {
		fmt.Fprintf(&b, "%d running dialogs in %q would move to %q\n", r.Moved[st], st, r.MovedTo)
	}
	return b.String()
}
