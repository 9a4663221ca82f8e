package bitrix24

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// APIError is an error answer of the portal or the OAuth server:
// {"error":"CODE","error_description":"…"} with a non-2xx status. Status is 0
// for a failed sub-call of a batch. Code may be empty: crm.* methods answer
// {"error":"","error_description":"Not found"}.
type APIError struct {
	Status      int    // HTTP status; 0 inside a batch
	Code        string // error, e.g. MESSAGE_EMPTY, expired_token
	Description string // error_description; for logs, not for end users
	Method      string // the REST method called, e.g. imbot.message.add
	// RetryAfter is the server's Retry-After hint, 0 when it gave none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("bitrix24: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString("error")
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(clip(e.Description))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

// ErrInvalidRequest marks a call that was refused before it was sent (a bad
// method name, params that are not a JSON object, a batch of more than 50
// calls). Such calls can never succeed: Classify says ClassPermanent.
var ErrInvalidRequest = errors.New("bitrix24: invalid request")

// ErrCannotRefresh is returned by a TokenSource that has no way to get a new
// access token (StaticToken, or no refresh token). Classify says ClassAuth.
var ErrCannotRefresh = errors.New("bitrix24: access token expired and cannot be refreshed")

// ErrBadResponse wraps a 2xx answer that is not the documented JSON. Such
// answers come from proxies and maintenance pages: Classify says ClassTransient.
var ErrBadResponse = errors.New("bitrix24: unexpected response")

// Class says what an outbox should do with a call's error.
type Class int

// Error classes, from Classify.
const (
	// ClassOK: no error.
	ClassOK Class = iota
	// ClassTransient: network errors, 5xx, QUERY_LIMIT_EXCEEDED,
	// OPERATION_TIME_LIMIT, OVERLOAD_LIMIT. Retry with backoff.
	ClassTransient
	// ClassExpired: expired_token or invalid_token. The Client already refreshed once and
	// retried; if it still comes back, retry later with backoff.
	ClassExpired
	// ClassAuth: a permanent authorization or permission failure
	// (NO_AUTH_FOUND, INVALID_CREDENTIALS, insufficient_scope, ACCESS_DENIED,
	// WRONG_AUTH_TYPE, invalid_grant, …). Park the call; a person must act.
	ClassAuth
	// ClassPermanent: the call itself is wrong (CHAT_ID_EMPTY, MESSAGE_EMPTY,
	// BOT_ID_ERROR, OPERATOR_WRONG, other 4xx). Park the call.
	ClassPermanent
	// ClassDone: the error means the call's goal already holds (WRONG_CHAT on
	// imopenlines.bot.session.operator: a person already has the chat).
	// Treat as delivered.
	ClassDone
)

var classNames = [...]string{"ok", "transient", "expired", "auth", "permanent", "done"}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Retry reports whether a call failing with this class should be tried again.
func (c Class) Retry() bool { return c == ClassTransient || c == ClassExpired }

// Method names used by Classify and the typed helpers.
const (
	MethodMessageAdd         = "imbot.message.add"
	MethodRegister           = "imbot.register"
	MethodUnregister         = "imbot.unregister"
	MethodSessionMessageSend = "imopenlines.bot.session.message.send"
	MethodSessionOperator    = "imopenlines.bot.session.operator"
	MethodSessionTransfer    = "imopenlines.bot.session.transfer"
	MethodSessionFinish      = "imopenlines.bot.session.finish"
	MethodLeadAdd            = "crm.lead.add"
	MethodLeadUpdate         = "crm.lead.update"
	MethodBatch              = "batch"
	MethodEventBind          = "event.bind"
	MethodContactUpdate      = "crm.contact.update"
	MethodDealUpdate         = "crm.deal.update"
)

// Codes are matched case-insensitively: the portal mixes QUERY_LIMIT_EXCEEDED
// and expired_token.
var codeClass = map[string]Class{
	"QUERY_LIMIT_EXCEEDED":    ClassTransient,
	"OPERATION_TIME_LIMIT":    ClassTransient,
	"OVERLOAD_LIMIT":          ClassTransient,
	"INTERNAL_SERVER_ERROR":   ClassTransient,
	"ERROR_UNEXPECTED_ANSWER": ClassTransient,
	"EXPIRED_TOKEN":           ClassExpired,
	"NO_AUTH_FOUND":           ClassAuth,
	"INVALID_CREDENTIALS":     ClassAuth,
	"INSUFFICIENT_SCOPE":      ClassAuth,
	"ACCESS_DENIED":           ClassAuth,
	"WRONG_AUTH_TYPE":         ClassAuth,
	"USER_ACCESS_ERROR":       ClassAuth,
	"INVALID_TOKEN":           ClassExpired, // an on-premise auth provider's expired token (custom-auth-provider.md)
	"INVALID_GRANT":           ClassAuth,
	"INVALID_CLIENT":          ClassAuth,
	"PORTAL_DELETED":          ClassAuth,
}

// Classify says what to do with an error from Client: see the Class
// constants. Errors that are not *APIError count as network trouble
// (ClassTransient), except ErrInvalidRequest (ClassPermanent) and
// ErrCannotRefresh (ClassAuth). An APIError with an unknown code is classed
// by status: 5xx and 429 transient, 401/403 auth, anything else permanent.
func Classify(err error) Class {
	if err == nil {
		return ClassOK
	}
	var ae *APIError
	if errors.As(err, &ae) {
		code := strings.ToUpper(ae.Code)
		if code == "WRONG_CHAT" && strings.EqualFold(ae.Method, MethodSessionOperator) {
			return ClassDone
		}
		if c, ok := codeClass[code]; ok {
			return c
		}
		switch {
		case ae.Status >= 500 || ae.Status == http.StatusTooManyRequests:
			return ClassTransient
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return ClassAuth
		default:
			return ClassPermanent
		}
	}
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return ClassPermanent
	case errors.Is(err, ErrCannotRefresh), errors.Is(err, ErrRedirect):
		return ClassAuth
	}
	return ClassTransient
}
