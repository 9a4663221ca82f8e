package bitrix24_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// TestOperationTimeLimitWait: after OPERATION_TIME_LIMIT a method is tried
// again at the operating_reset_at of its last successful answer
// (limits.md), not after the short backoff of other transient errors.
func TestOperationTimeLimitWait(t *testing.T) {
	now := time.Now()
	p := startPortal(t, fakeportal.Config{Now: func() time.Time { return now }})
	p.AddBot("olbot", "olbot-key", "https://bot.example/h")
	c := webhookClient(t, p, "olbot-key")
	ctx := context.Background()
	if err := c.SessionOperator(ctx, 1777); err != nil {
		t.Fatal(err)
	}
	for _, batch := range []bool{false, true} {
		p.FailNext(1, "OPERATION_TIME_LIMIT")
		var err error
		if batch {
			var res []bitrix24.BatchResult
			res, err = c.Batch(ctx, []bitrix24.BatchCall{bitrix24.SessionOperatorRequest(1777), bitrix24.SessionOperatorRequest(1778)})
			if err == nil {
				err = res[0].Err
			}
		} else {
			err = c.SessionOperator(ctx, 1777)
		}
		var ae *bitrix24.APIError
		if !errors.As(err, &ae) || ae.Code != "OPERATION_TIME_LIMIT" {
			t.Fatalf("batch %v: err %v, want OPERATION_TIME_LIMIT", batch, err)
		}
		// the fake's answers say operating_reset_at = now + 10 minutes
		if ae.RetryAfter < 9*time.Minute || ae.RetryAfter > 11*time.Minute {
			t.Fatalf("batch %v: RetryAfter %v, want about 10m (until operating_reset_at)", batch, ae.RetryAfter)
		}
	}
}
