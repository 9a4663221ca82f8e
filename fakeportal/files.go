package fakeportal

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/olbot/olbot/bitrix24"
)

// This file is the client's files: a message that carries a file, on both
// bot platforms, built from the file fixtures (whose shapes the docs do
// not show: see their source).

// fileKinds are the content types the fake gives a file by its extension,
// as the portal's file object has them (entities.md#file).
var fileKinds = map[string]string{
	"jpg": "image", "jpeg": "image", "png": "image", "gif": "image", "webp": "image", "heic": "image",
	"mp4": "video", "mov": "video", "webm": "video",
	"mp3": "audio", "ogg": "audio", "wav": "audio", "m4a": "audio",
}

// completeFile completes f as the portal would: an id (from msg), its
// extension and content type from the name, a size when none is given.
func completeFile(f bitrix24.File, msg int) bitrix24.File {
	if f.ID == "" {
		f.ID = strconv.Itoa(5000 + msg)
	}
	if f.Extension == "" {
		if i := strings.LastIndexByte(f.Name, '.'); i >= 0 {
			f.Extension = strings.ToLower(f.Name[i+1:])
		}
	}
	if f.Type == "" {
		f.Type = fileKinds[f.Extension]
		if f.Type == "" {
			f.Type = "file"
		}
	}
	if f.Size < 0 {
		f.Size = 0
	}
	return f
}

// SendFile builds ONIMBOTMESSAGEADD of a client message that carries the
// file name and no text (a size of 48213 bytes, the fixture's).
func (c *Chat) SendFile(name string) url.Values {
	return c.SendFileOf(bitrix24.File{Name: name, Size: 48213}, "")
}

// SendFileOf builds ONIMBOTMESSAGEADD of a client message with file f and
// caption (the message text, "" for none). Empty fields of f are filled
// as the portal would fill them; its link (urlShow, urlDownload) is the
// fake's Drive address of the file unless f.URL says otherwise.
func (c *Chat) SendFileOf(f bitrix24.File, caption string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	tree := c.messageTreeLocked("v1.event.onimbotmessageadd.files", caption, &c.Client)
	f = completeFile(f, c.lastMsg)
	if f.URL == "" {
		f.URL = fmt.Sprintf("%s/bitrix/services/main/ajax.php?action=disk.api.file.download&fileId=%s&fileName=%s",
			strings.TrimRight(c.p.cfg.BaseURL, "/"), f.ID, url.QueryEscape(f.Name))
	}
	prm := group(tree, "data", "PARAMS")
	files := group(prm, "FILES")
	var entry map[string]any
	for k, v := range files {
		entry, _ = v.(map[string]any)
		delete(files, k)
	}
	entry["id"], entry["chatId"], entry["name"], entry["type"] = f.ID, strconv.Itoa(c.ChatID), f.Name, f.Type
	entry["extension"], entry["size"] = f.Extension, strconv.FormatInt(f.Size, 10)
	entry["date"] = c.p.cfg.Now().Format("2006-01-02T15:04:05-07:00")
	entry["urlShow"], entry["urlDownload"] = f.URL, f.URL
	files[f.ID] = entry
	return bitrix24.EncodeForm(tree)
}

// SendFile queues ONIMBOTV2MESSAGEADD of a client message with file f and
// caption ("" for none): message.params.files holds the file object
// (entities.md#file), which carries no link.
func (c *V2Chat) SendFile(f bitrix24.File, caption string) int64 {
	return c.queue(bitrix24.EventV2MessageAdd, "v2.data.onimbotv2messageadd.files", func(d map[string]any) {
		c.message(caption, &c.Client, true)(d)
		m := group(d, "message")
		f = completeFile(f, c.p.nextMessage)
		id, _ := strconv.Atoi(f.ID)
		params := group(m, "params")
		list, _ := params["files"].([]any)
		entry, _ := list[0].(map[string]any)
		entry["id"], entry["chatId"], entry["name"], entry["type"] = id, c.ChatID, f.Name, f.Type
		entry["extension"], entry["size"], entry["authorId"] = f.Extension, f.Size, c.Client.ID
		entry["authorName"] = strings.TrimSpace(c.Client.FirstName + " " + c.Client.LastName)
		entry["date"] = c.p.cfg.Now().Format("2006-01-02T15:04:05-07:00")
		params["files"] = []any{entry}
	})
}
