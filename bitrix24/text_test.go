package bitrix24

import "testing"

func TestCleanMessage(t *testing.T) {
	dashes := "------------------------------------------------------"
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Leave a request", "Leave a request"},
		{"bold", "[b]Leave[/b] a [i]request[/i]", "Leave a request"},
		{"mention", "[USER=567]NewBot[/USER] , how to set up the left menu", "NewBot , how to set up the left menu"},
		{"link", "see [url=https://example.com]our site[/url] or [URL]https://a.b[/URL]", "see our site or https://a.b"},
		{"strike", "[s]old[/s] new", "- new"},
		{"breaks", "one#BR#two[br]three", "one\ntwo\nthree"},
		{"quoted menu", dashes + "#BR#olbot [02.12.2026 10:00]#BR#1. Leave a request#BR#" + dashes + "#BR#I changed my mind", "I changed my mind"},
		{"only a quote", dashes + "\n1. Leave a request\n" + dashes, ""},
		{"tags", "<b>hi</b> there", "hi there"},
		{"spaces", "  a   b  ", "a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanMessage(tc.in); got != tc.want {
				t.Fatalf("CleanMessage(%q)=%q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
