package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/outbox"
)

// Error codes of the application error, mapped to HTTP status in one place.
const (
	EInvalid      = "invalid"      // 400: the request is malformed or names something wrong
	EUnauthorized = "unauthorized" // 401: missing or wrong token
	EForbidden    = "forbidden"    // 403: a host name or a browser origin olbot does not serve
	ENotFound     = "not_found"    // 404
	EConflict     = "conflict"     // 409
	ETooLarge     = "too_large"    // 413
	EMediaType    = "media_type"   // 415: the body's Content-Type is not the route's
	EUnavailable  = "unavailable"  // 503: the store or the scenarios are not ready; retry later
	EInternal     = "internal"     // 500: logged in full, shown as "internal error"
)

// Error is an application error with a code and a message for the caller.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"` // the offending field of the request, when known
}

func (e *Error) Error() string { return e.Message }

// errorf builds an application error.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// unavailable is the 503 for a store failure (dialogs.UnavailableError):
// the answer says what could not be done and that a retry may work; the
// cause goes to the log only.
func unavailable(format, key string, err error) error { return dialogs.Unavailable(format, key, err) }

// answerOf is the answer of an error the dialogs and outbox packages return,
// or nil when err is none of theirs.
func answerOf(err error) *Error {
	var ie *dialogs.InvalidError
	var ue *dialogs.UnavailableError
	switch {
	case errors.As(err, &ie):
		return &Error{Code: EInvalid, Field: ie.Field, Message: ie.Message}
	case errors.As(err, &ue):
		return &Error{Code: EUnavailable, Message: ue.Message}
	case errors.Is(err, outbox.ErrStore):
		return &Error{Code: EUnavailable, Message: "the store is unavailable, try again"}
	}
	return nil
}

var statusOf = map[string]int{
	EInvalid:      http.StatusBadRequest,
	EUnauthorized: http.StatusUnauthorized,
	EForbidden:    http.StatusForbidden,
	ENotFound:     http.StatusNotFound,
	EConflict:     http.StatusConflict,
	ETooLarge:     http.StatusRequestEntityTooLarge,
	EMediaType:    http.StatusUnsupportedMediaType,
	EUnavailable:  http.StatusServiceUnavailable,
	EInternal:     http.StatusInternalServerError,
}

// httpError is Echo's error handler: every error becomes a JSON body that
// says what is wrong; internal errors are logged and shown as "internal error".
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := answerOf(err)
	var he *echo.HTTPError
	switch {
	case ae != nil || errors.As(err, &ae):
		if ae.Code == EUnavailable {
			s.log.Warn("request refused: service unavailable", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
	case errors.As(err, &he):
		code := EInvalid
		switch he.Code {
		case http.StatusNotFound:
			code = ENotFound
		case http.StatusMethodNotAllowed:
			code = EInvalid
		case http.StatusRequestEntityTooLarge:
			code = ETooLarge
		case http.StatusUnauthorized:
			code = EUnauthorized
		case http.StatusServiceUnavailable:
			code = EUnavailable
		}
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		ae = &Error{Code: code, Message: msg}
		if he.Code == http.StatusRequestEntityTooLarge {
			ae.Message = fmt.Sprintf("request body is larger than %d bytes", s.cfg.BodyLimit)
		}
		if he.Code == http.StatusMethodNotAllowed {
			_ = c.JSON(he.Code, &Error{Code: code, Message: "method not allowed"})
			return
		}
	default:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		ae = &Error{Code: EInternal, Message: "internal error"}
	}
	status := statusOf[ae.Code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, ae)
}

// readBody reads a whole request body. A body over the limit is a 413 however
// it came: with a Content-Length (the middleware refuses it before the
// handler runs) or chunked (cut off while reading — possibly after the JSON
// or form inside it already looked complete, so it must be read to the end
// before it is decoded). A body that cannot be read (a client too slow for
// the read timeout) is the caller's fault, not an internal error.
func readBody(c echo.Context) ([]byte, error) { return readBodyInto(c, nil) }

// maxPresize bounds the buffer readBodyInto makes from a request's
// Content-Length, which the client chooses (BodyLimit has refused a longer
// declared length by then); a longer body grows as it is read. It is also
// the largest buffer that goes back to bodyBufs.
const maxPresize = 64 << 10

// bodyBufs are request bodies' buffers, for handlers that keep nothing of
// the body once it is decoded.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readBodyInto is readBody appending to buf.
func readBodyInto(c echo.Context, buf []byte) ([]byte, error) {
	// room for the declared length and the read that sees EOF, in one
	// allocation instead of a doubling per read (a portal event is 4 KB);
	// the body limit (BodyLimit) still stops a longer one
	if n := c.Request().ContentLength; n > 0 && n < maxPresize && int64(cap(buf)-len(buf)) <= n {
		buf = slices.Grow(buf, int(n)+1)
	}
	b, err := readAllInto(c.Request().Body, buf)
	if err != nil {
		var tooBig *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &tooBig) || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return nil, echo.ErrStatusRequestEntityTooLarge
		}
		return nil, &Error{Code: EInvalid, Message: "could not read the request body"}
	}
	return b, nil
}

// readAllInto is io.ReadAll appending to buf.
func readAllInto(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
