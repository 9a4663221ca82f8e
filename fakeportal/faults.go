package fakeportal

import (
	"net/http"
	"strings"
	"time"
)

// Down makes the portal drop every connection without an answer (the
// client sees a network error) until Down(false).
func (p *Portal) Down(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = on
}

// BadGateway makes every REST request get a 502 HTML page, as from a broken
// proxy in front of the portal, until BadGateway(false).
func (p *Portal) BadGateway(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.badGateway = on
}

// FailNext makes the next n REST calls fail with code (with its usual
// HTTP status: 503 QUERY_LIMIT_EXCEEDED, 500 INTERNAL_SERVER_ERROR, 401
// expired_token, 400 for parameter codes, …), before any other check.
//
// Inside a batch it fails what the real portal would fail: a code of the
// request as a whole (401 and 5xx: expired_token, QUERY_LIMIT_EXCEEDED,
// INTERNAL_SERVER_ERROR, …; the batch errors ERROR_BATCH_*) fails the
// batch request, taking one from the queue for the whole batch; any other
// code (parameter errors, 403, 404, OPERATION_TIME_LIMIT) fails sub-calls,
// one from the queue each, in the result_error part of a successful batch
// answer.
func (p *Portal) FailNext(n int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.failQueue = append(p.failQueue, code)
	}
}

// FailChat makes the next n calls about chat chatID (CHAT_ID = chatID or
// DIALOG_ID = "chat<chatID>"), single or inside a batch, fail with code
// after the request's own checks (rate limit, auth). Inside a batch each
// such sub-call gets its own result_error entry whatever the code, so tests
// can fail one chosen sub-call of a batch.
func (p *Portal) FailChat(chatID, n int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.chatFails[chatID] = append(p.chatFails[chatID], code)
	}
}

// requestLevel reports whether code fails a whole request (a batch as a
// whole) rather than one method call: authorization and 5xx system errors,
// and the batch errors (ERROR_BATCH_*).
func requestLevel(code string) bool {
	s := errorStatus(code)
	return s == http.StatusUnauthorized || s >= 500 || strings.HasPrefix(strings.ToUpper(code), "ERROR_BATCH_")
}

// QueryLimitBurst makes the next n REST requests get 503 QUERY_LIMIT_EXCEEDED.
func (p *Portal) QueryLimitBurst(n int) { p.FailNext(n, "QUERY_LIMIT_EXCEEDED") }

// Delay makes every answer wait d (or until the request is cancelled).
func (p *Portal) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// errorStatus maps error codes to the HTTP status the portal uses.
func errorStatus(code string) int {
	switch strings.ToUpper(code) {
	case "NO_AUTH_FOUND", "EXPIRED_TOKEN", "INVALID_TOKEN":
		return http.StatusUnauthorized
	case "ACCESS_DENIED", "INVALID_CREDENTIALS", "INSUFFICIENT_SCOPE", "WRONG_AUTH_TYPE", "USER_ACCESS_ERROR":
		return http.StatusForbidden
	case "ERROR_METHOD_NOT_FOUND":
		return http.StatusNotFound
	case "ERROR_BATCH_METHOD_NOT_ALLOWED":
		return http.StatusMethodNotAllowed
	case "OPERATION_TIME_LIMIT":
		return http.StatusTooManyRequests
	case "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "PORTAL_DELETED":
		return http.StatusInternalServerError
	case "QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func injected(code string) *apiErr {
	d := descriptions[code]
	if d == "" {
		d = "injected failure"
	}
	return fail(code, d)
}

// fault applies Down, BadGateway and Delay. It reports whether the request
// was answered (or dropped) already.
func (p *Portal) fault(w http.ResponseWriter, r *http.Request, method string) bool {
	p.mu.Lock()
	down, bad, delay := p.down, p.badGateway, p.delay
	switch {
	case down:
		p.recordLocked(Call{Method: method, Error: "connection dropped"})
	case bad:
		p.recordLocked(Call{Method: method, Status: http.StatusBadGateway, Error: "bad gateway"})
	}
	p.mu.Unlock()
	if down {
		panic(http.ErrAbortHandler) // the server closes the connection without an answer
	}
	if bad {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
		return true
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	return false
}
