package bitrix24

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
)

// Attachments (ATTACH) of bot messages, as both bot platforms document
// them: api-reference/chats/messages/attachments.md (imbot.message.add's
// ATTACH, which imbot-message-add.md points to) and
// chat-bots-v2/imbot.v2/messages/attachments/ (fields.attach of
// imbot.v2.Chat.Message.send). olbot sends the short form, an array of
// blocks ("an array of blocks without wrapping", valid on both), with an
// IMAGE block (block-collections/images.md) and a FILE block
// (block-collections/files.md), each a list of one {NAME, LINK}.

// MaxAttachBytes is the largest serialized ATTACH olbot sends. The v1
// page (imbot-message-add.md, ATTACH_OVERSIZE) allows 30 KB; the v2 pages
// (attachments/index.md, "Limitations and Errors") allow 60,000
// characters. A scenario must work on both platforms, so the stricter
// one holds, counted in bytes of the JSON as sent (a byte count is never
// below the character count) and as 30,000 rather than 30,720.
const MaxAttachBytes = 30000

// Attachment is what a bot message carries besides its text: an image
// and a file, each an absolute http(s) address ("" when none).
type Attachment struct {
	Image string
	File  string
}

// Empty reports whether there is nothing to attach.
func (a Attachment) Empty() bool { return a.Image == "" && a.File == "" }

// Blocks is the attachment as sent: the short form of ATTACH, an IMAGE
// block then a FILE block; nil when a is empty.
func (a Attachment) Blocks() []map[string]any {
	if a.Empty() {
		return nil
	}
	var out []map[string]any
	if a.Image != "" {
		out = append(out, map[string]any{"IMAGE": []map[string]any{linkBlock(a.Image)}})
	}
	if a.File != "" {
		out = append(out, map[string]any{"FILE": []map[string]any{linkBlock(a.File)}})
	}
	return out
}

// linkBlock is one element of an IMAGE or FILE block: LINK (required)
// and NAME, the last part of the address's path when it has one.
func linkBlock(link string) map[string]any {
	b := map[string]any{"LINK": link}
	if name := LinkName(link); name != "" {
		b["NAME"] = name
	}
	return b
}

// LinkName is the name an attachment shows for link: the last element of
// its path, unescaped ("prices.pdf" of https://example.com/prices.pdf), or
// "" when the path has none.
func LinkName(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		return ""
	}
	return path.Base(p)
}

// Size is the length in bytes of the attachment serialized as it is sent
// (the JSON of Blocks); compare it with MaxAttachBytes.
func (a Attachment) Size() int {
	b, err := json.Marshal(a.Blocks())
	if err != nil {
		return 0
	}
	return len(b)
}
