package bitrix24

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// operating remembers, per method, the operating_reset_at of the last
// successful answer (limits.md, "Resource Intensity Limits"): when a
// method's time budget runs out the portal answers 429 OPERATION_TIME_LIMIT,
// and the docs say to retry it first at operating_reset_at of the last
// successful answer.
type operating struct {
	mu    sync.Mutex
	reset map[string]time.Time
}

// answerTime is the time object of an answer.
type answerTime struct {
	OperatingResetAt float64 `json:"operating_reset_at"`
}

// note records the reset time of a successful answer's time object.
func (o *operating) note(method string, raw json.RawMessage) {
	var t answerTime
	if len(raw) == 0 || json.Unmarshal(raw, &t) != nil || t.OperatingResetAt <= 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reset == nil {
		o.reset = map[string]time.Time{}
	}
	o.reset[strings.ToLower(method)] = time.Unix(int64(t.OperatingResetAt), 0)
}

// wait sets the RetryAfter of an OPERATION_TIME_LIMIT error to the time
// until the method's budget frees up: the reset time in the error's own
// time object when it has one, else the last successful answer's.
func (o *operating) wait(ae *APIError, raw json.RawMessage, now time.Time) {
	if !strings.EqualFold(ae.Code, "OPERATION_TIME_LIMIT") {
		return
	}
	var at time.Time
	var t answerTime
	if len(raw) > 0 && json.Unmarshal(raw, &t) == nil && t.OperatingResetAt > 0 {
		at = time.Unix(int64(t.OperatingResetAt), 0)
	} else {
		o.mu.Lock()
		at = o.reset[strings.ToLower(ae.Method)]
		o.mu.Unlock()
	}
	if d := at.Sub(now); d > ae.RetryAfter {
		ae.RetryAfter = d
	}
}
