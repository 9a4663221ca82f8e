package fakeportal

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// What the portal was asked and holds, for tests.

// Calls returns every recorded call so far, in order. Sub-calls of a batch
// are recorded (with Batch set) just before the batch call itself.
func (p *Portal) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// CallsFor returns the recorded calls about one chat: CHAT_ID = chatID or
// DIALOG_ID = "chat<chatID>".
func (p *Portal) CallsFor(chatID int) []Call {
	dialog := "chat" + strconv.Itoa(chatID)
	var out []Call
	for _, c := range p.Calls() {
		if c.Int("CHAT_ID") == chatID || c.Str("DIALOG_ID") == dialog {
			out = append(out, c)
		}
	}
	return out
}

// CallsOf returns the recorded calls of one method (e.g. "imbot.message.add").
func (p *Portal) CallsOf(method string) []Call {
	method = strings.ToLower(method)
	var out []Call
	for _, c := range p.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls are recorded and returns them, or
// returns ctx's error with the calls so far.
func (p *Portal) WaitCalls(ctx context.Context, n int) ([]Call, error) {
	for {
		p.mu.Lock()
		if len(p.calls) >= n {
			out := append([]Call(nil), p.calls...)
			p.mu.Unlock()
			return out, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return p.Calls(), fmt.Errorf("fakeportal: waiting for %d calls: %w", n, ctx.Err())
		}
	}
}

// Reset forgets recorded calls and posted messages (bots, leads, tokens and
// chat states stay).
func (p *Portal) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	p.messages = nil
}

// recordLocked appends c. Callers hold mu.
func (p *Portal) recordLocked(c Call) {
	c.Seq = len(p.calls) + 1
	if c.Time.IsZero() {
		c.Time = p.cfg.Now()
	}
	p.calls = append(p.calls, c)
	close(p.changed)
	p.changed = make(chan struct{})
	p.log.Debug("fakeportal call", "method", c.Method, "status", c.Status, "error", c.Error, "batch", c.Batch)
}

// Messages returns the messages posted into dialogID ("chat1777"), in order.
func (p *Portal) Messages(dialogID string) []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Message
	for _, m := range p.messages {
		if m.DialogID == dialogID {
			out = append(out, m)
		}
	}
	return out
}

// Bots returns the registered bots.
func (p *Portal) Bots() []Bot {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Bot
	for _, b := range p.sortedBotsLocked() {
		out = append(out, *b)
	}
	return out
}

// Lead returns a lead's fields, or nil.
func (p *Portal) Lead(id int) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leads[id]
	if l == nil {
		return nil
	}
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// ChatState returns who has the chat now: StateBot, StateOperator,
// StateTransferred or StateFinished.
func (p *Portal) ChatState(chatID int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chats[chatID]
}

// SetChatState sets who has the chat, e.g. StateOperator to simulate an
// operator who took it (session.operator then answers WRONG_CHAT).
func (p *Portal) SetChatState(chatID int, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chats[chatID] = state
}
