package fakeportal

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// ATTACH as the docs describe it: the full form (an object with BLOCKS and
// optionally ID, COLOR_TOKEN, COLOR) or the short form (an array of
// blocks), each block an object with one key naming its kind
// (chat-bots-v2/imbot.v2/messages/attachments/index.md and
// block-collections/*.md; api-reference/chats/messages/attachments.md for
// imbot.message.add, which also takes it as a JSON string). The fake
// refuses what the docs do not describe: another top-level key, a block of
// an unknown kind or with an unknown key, a block without its required
// key, a link that is neither http(s) nor a path from the portal's root.

// attachLimit is one platform's size limit on the serialized ATTACH.
type attachLimit struct {
	over       func(serialized []byte) bool
	bad, large *apiErr
}

var (
	// imbot-message-add.md: ATTACH_OVERSIZE past 30 KB
	v1AttachLimit = attachLimit{
		over:  func(b []byte) bool { return len(b) > 30*1024 },
		bad:   fail("ATTACH_ERROR", "Incorrect attach params"),
		large: fail("ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach"),
	}
	// attachments/index.md, "Limitations and Errors": 60,000 characters
	v2AttachLimit = attachLimit{
		over:  func(b []byte) bool { return utf8.RuneCount(b) > 60000 },
		bad:   v2Fail("ATTACH_ERROR"),
		large: v2Fail("ATTACH_OVERSIZE"),
	}
)

// attachBlocks are the documented keys of each block kind's element, and
// which of them is required ("" when none is) and which hold links.
var attachBlocks = map[string]struct {
	keys     []string
	required string
	links    []string
	list     bool // the element may be a list of them (IMAGE, FILE, GRID)
	text     bool // the block is a text (MESSAGE)
}{
	"MESSAGE":   {text: true},
	"LINK":      {keys: []string{"LINK", "NAME", "DESC", "HTML", "PREVIEW", "WIDTH", "HEIGHT", "USER_ID", "CHAT_ID", "NETWORK_ID"}, required: "LINK", links: []string{"LINK", "PREVIEW"}},
	"USER":      {keys: []string{"NAME", "AVATAR", "LINK", "USER_ID", "CHAT_ID", "BOT_ID", "NETWORK_ID", "AVATAR_TYPE"}, required: "NAME", links: []string{"AVATAR", "LINK"}},
	"GRID":      {keys: []string{"DISPLAY", "NAME", "VALUE", "WIDTH", "HEIGHT", "COLOR_TOKEN", "COLOR", "LINK", "USER_ID", "CHAT_ID"}, required: "DISPLAY", links: []string{"LINK"}, list: true},
	"IMAGE":     {keys: []string{"LINK", "NAME", "PREVIEW", "WIDTH", "HEIGHT"}, required: "LINK", links: []string{"LINK", "PREVIEW"}, list: true},
	"FILE":      {keys: []string{"LINK", "NAME", "SIZE"}, required: "LINK", links: []string{"LINK"}, list: true},
	"DELIMITER": {keys: []string{"SIZE", "COLOR"}},
}

// attachColorTokens are the documented COLOR_TOKEN values.
var attachColorTokens = map[string]bool{"primary": true, "secondary": true, "alert": true, "base": true}

// checkAttach validates an ATTACH param as sent (a JSON string, an array,
// an object, or their PHP form) against the documented shapes and the
// platform's size limit. It returns the attachment decoded, or the error.
func checkAttach(v any, limit attachLimit) (any, *apiErr) {
	v = jsonish(v)
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil, nil // no attachment
		}
		return nil, limit.bad // a string that is not JSON
	}
	var blocks []any
	if list, ok := asList(v); ok {
		blocks, v = list, list
	} else if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			switch k {
			case "ID", "COLOR":
			case "COLOR_TOKEN":
				if !attachColorTokens[scalar(x)] {
					return nil, limit.bad
				}
			case "BLOCKS":
				if blocks, ok = asList(x); !ok {
					return nil, limit.bad
				}
				m[k] = blocks
			default:
				return nil, limit.bad
			}
		}
	} else {
		return nil, limit.bad
	}
	if len(blocks) == 0 {
		return nil, limit.bad
	}
	for _, b := range blocks {
		if !attachBlockOK(b) {
			return nil, limit.bad
		}
	}
	if b, err := json.Marshal(v); err != nil || limit.over(b) {
		return nil, limit.large
	}
	return v, nil
}

// attachBlockOK checks one block: one key naming a documented kind, and
// its element (or list of elements) with documented keys only.
func attachBlockOK(raw any) bool {
	b, ok := raw.(map[string]any)
	if !ok || len(b) != 1 {
		return false
	}
	for kind, el := range b {
		spec, known := attachBlocks[kind]
		switch {
		case !known:
			return false
		case spec.text:
			s, ok := el.(string)
			return ok && strings.TrimSpace(s) != ""
		}
		elems := []any{el}
		if list, ok := asList(el); ok && !isMap(el) {
			if !spec.list || len(list) == 0 {
				return false
			}
			elems = list
		}
		for _, e := range elems {
			m, ok := e.(map[string]any)
			if !ok {
				return false
			}
			for k := range m {
				if !slices.Contains(spec.keys, k) {
					return false
				}
			}
			if spec.required != "" && strings.TrimSpace(scalar(m[spec.required])) == "" {
				return false
			}
			for _, k := range spec.links {
				if l, given := m[k]; given && !attachLinkOK(scalar(l)) {
					return false
				}
			}
		}
	}
	return true
}

func isMap(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	// the PHP form of a list is a map of "0", "1", …: that is a list
	_, list := m["0"]
	return !list
}

// attachLinkOK: "absolute URLs http:// and https:// or relative paths from
// the Bitrix24 root" (attachments/index.md).
func attachLinkOK(link string) bool {
	if strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "//") {
		return true
	}
	u, err := url.Parse(link)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
