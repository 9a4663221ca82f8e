package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// TestHangingPortalHoldsOnlyItsOwnCalls: two portals installed in one
// olbot; one stops answering (every request hangs). The other portal's
// chats keep getting every reply, each call after the one before it, while
// the hanging portal's calls time out after --portal-timeout and are
// retried; once it answers again they all arrive, in order.
// twoPortals starts one olbot with two installed portals, hanging and
// live, and a call timeout.
func twoPortals(t *testing.T, timeout time.Duration) (e *env, hanging, live *fakeportal.Portal) {
	t.Helper()
	hanging = newPortal(t, fakeportal.Config{MemberID: "member-hanging"})
	live = newPortal(t, fakeportal.Config{MemberID: "member-live"})
	e = startEnv(t, hanging, func(e *env) { e.ob.CallTimeout = timeout })
	e.install()
	hanging.AlsoIssues(live)                            // one OAuth server proves every portal's install
	status, body := e.postForm(live.InstallEvent(), "") // the second portal, through the same handler
	if status != http.StatusOK {
		t.Fatalf("install of the second portal: %d %v", status, body)
	}
	waitFor(t, "the second portal's bot registration", func() (bool, string) {
		return len(live.Bots()) == 1, "no bot yet"
	})
	return e, hanging, live
}

// liveChats starts two chats on the live portal and waits until each got
// every reply: the greeting, the welcome, and the question after the menu
// choice (each call after the one before it).
func liveChats(t *testing.T, e *env, live *fakeportal.Portal) {
	t.Helper()
	chats := []*fakeportal.Chat{live.Chat(1, 9200, bitrix24.User{FirstName: "Boris"}), live.Chat(1, 9201, bitrix24.User{FirstName: "Vera"})}
	for _, c := range chats {
		e.send(c, c.Join())
		e.send(c, c.Say("Leave a request"))
	}
	for _, c := range chats {
		waitFor(t, "the live portal's replies", func() (bool, string) {
			got := texts(live, c.ChatID)
			return len(got) >= 2 && got[len(got)-1] == "How may I call you?", strings.Join(got, " | ")
		})
	}
}

// TestSlowPortalRoundHoldsOnlyItsOwnCalls: a portal that does not answer
// within the call timeout's first part keeps only its own calls waiting:
// the other portal's chats get every reply while the slow portal's first
// call is still unanswered (long before its timeout).
func TestSlowPortalRoundHoldsOnlyItsOwnCalls(t *testing.T) {
	e, hanging, live := twoPortals(t, time.Minute)
	hanging.Delay(time.Hour)
	stuck := hanging.Chat(1, 9100, bitrix24.User{FirstName: "Anna"})
	e.send(stuck, stuck.Join())
	liveChats(t, e, live)
	if got := texts(hanging, stuck.ChatID); len(got) != 0 || strings.Contains(e.logs.String(), "member-hanging:chat9100 call") {
		t.Fatalf("the hanging portal's call went out or was given up already: %q", got)
	}
}

func TestHangingPortalHoldsOnlyItsOwnCalls(t *testing.T) {
	e, hanging, live := twoPortals(t, 200*time.Millisecond)

	hanging.Delay(time.Hour) // answers only when the request is given up
	stuck := hanging.Chat(1, 9100, bitrix24.User{FirstName: "Anna"})
	e.send(stuck, stuck.Join())
	liveChats(t, e, live) // every reply of the live portal arrives while the other one hangs
	waitFor(t, "a timed-out call of the hanging portal to be retried", func() (bool, string) {
		return strings.Contains(e.logs.String(), "portal call failed; retrying") && strings.Contains(e.logs.String(), "member-hanging:chat9100"), "no retry logged"
	})
	if got := texts(hanging, stuck.ChatID); len(got) != 0 {
		t.Fatalf("the hanging portal answered %q", got)
	}

	hanging.Delay(0)
	waitFor(t, "the hanging portal's replies once it answers", func() (bool, string) {
		got := texts(hanging, stuck.ChatID)
		return len(got) >= 1, strings.Join(got, " | ")
	})
	e.settle()
}
