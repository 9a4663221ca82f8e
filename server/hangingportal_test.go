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
func TestHangingPortalHoldsOnlyItsOwnCalls(t *testing.T) {
	hanging := newPortal(t, fakeportal.Config{MemberID: "member-hanging"})
	live := newPortal(t, fakeportal.Config{MemberID: "member-live"})
	e := startEnv(t, hanging, func(e *env) {
		e.ob.CallTimeout = 200 * time.Millisecond
	})
	e.install()
	hanging.AlsoIssues(live)                            // one OAuth server proves every portal's install
	status, body := e.postForm(live.InstallEvent(), "") // the second portal, through the same handler
	if status != http.StatusOK {
		t.Fatalf("install of the second portal: %d %v", status, body)
	}
	waitFor(t, "the second portal's bot registration", func() (bool, string) {
		return len(live.Bots()) == 1, "no bot yet"
	})

	hanging.Delay(time.Hour) // answers only when the request is given up
	stuck := hanging.Chat(1, 9100, bitrix24.User{FirstName: "Anna"})
	e.send(stuck, stuck.Join())
	chats := []*fakeportal.Chat{live.Chat(1, 9200, bitrix24.User{FirstName: "Boris"}), live.Chat(1, 9201, bitrix24.User{FirstName: "Vera"})}
	for _, c := range chats {
		e.send(c, c.Join())
		e.send(c, c.Say("Leave a request"))
	}
	// every reply of the live portal arrives while the other one hangs:
	// the greeting, the welcome, and the question after the menu choice
	for _, c := range chats {
		waitFor(t, "the live portal's replies", func() (bool, string) {
			got := texts(live, c.ChatID)
			return len(got) >= 2 && got[len(got)-1] == "How may I call you?", strings.Join(got, " | ")
		})
	}
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
