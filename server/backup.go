package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Backuper is a store that can stream a consistent copy of itself while
// serving (the embedded store: bolt.Store.Backup).
type Backuper interface {
	Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error)
}

// handleBackup streams the embedded store's snapshot. Other stores have
// their own tools: the answer says which.
func (s *Server) handleBackup(c echo.Context) error {
	b, ok := s.store.(Backuper)
	if !ok {
		return &Error{Code: EInvalid, Message: "only the embedded store (a bbolt file) is backed up here: the memory store keeps nothing to back up, " +
			"and PostgreSQL is backed up with pg_dump (README, Backup and restore)"}
	}
	ctx := c.Request().Context()
	resp := c.Response()
	name := "olbot-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	start := time.Now()
	n, err := b.Backup(ctx, resp, func(size int64) {
		h := resp.Header()
		h.Set(echo.HeaderContentType, "application/octet-stream")
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
		h.Set("Cache-Control", "no-store")
		resp.WriteHeader(http.StatusOK)
	})
	if err != nil {
		if resp.Committed {
			// the header went out: the client sees a short body
			s.log.Warn("backup cut off", "bytes", n, "err", err)
			return nil
		}
		return unavailable("back up the %s", "store", err)
	}
	s.log.Info("backup sent", "bytes", n, "took", time.Since(start).Round(time.Millisecond), "remote", c.RealIP())
	return nil
}
