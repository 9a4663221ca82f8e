package bitrix24

import (
	"regexp"
	"strings"
)

// The clean-up of an incoming message before it is matched, as the
// official example bot does it (bitrix24com/bots, itr.php prepareText):
// formatting codes go, mentions and links keep their text, a quoted reply
// (the quote sits between two lines of 54 dashes) is dropped, so a quoted
// menu cannot pick a button.
var (
	reStrike  = regexp.MustCompile(`(?is)\[s\].*?\[/s\]`)
	reBUI     = regexp.MustCompile(`(?is)\[([bui])\](.*?)\[/[bui]\]`)
	reURL     = regexp.MustCompile(`(?is)\[url\](.*?)\[/url\]`)
	reURLText = regexp.MustCompile(`(?is)\[url\s*=\s*[^\]]*\](.*?)\[/url\]`)
	reMention = regexp.MustCompile(`(?is)\[(USER|CHAT|PCH)=[^\]]*\](.*?)\[/(USER|CHAT|PCH)\]`)
	reQuote   = regexp.MustCompile(`(?s)-{54}.+?-{54}`)
	reBreak   = regexp.MustCompile(`(?i)#BR#|\[br\]`)
	reTag     = regexp.MustCompile(`<[^>]*>`)
	reSpace   = regexp.MustCompile(`[ \t]+`)
)

// CleanMessage returns the text of an incoming message as a client typed
// it: BB-codes ([b], [i], [u], [url]) and mentions ([USER=5]Anna[/USER])
// reduced to their text, struck-out text to "-", line-break codes (#BR#,
// [BR]) to line breaks, a quoted reply removed, HTML tags stripped.
func CleanMessage(s string) string {
	s = reStrike.ReplaceAllString(s, "-")
	s = reBUI.ReplaceAllString(s, "$2")
	s = reURL.ReplaceAllString(s, "$1")
	s = reURLText.ReplaceAllString(s, "$1")
	s = reMention.ReplaceAllString(s, "$2")
	s = reBreak.ReplaceAllString(s, "\n")
	s = reQuote.ReplaceAllString(s, "")
	s = reTag.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(reSpace.ReplaceAllString(l, " ")); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
