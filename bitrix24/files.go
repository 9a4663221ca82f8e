package bitrix24

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// File is one file of a client's message, as the portal describes it. Its
// fields are those of answers.ClientFile, in its order, so that a caller
// converts one into the other: answers.ClientFile(f).
type File struct {
	ID   string // the file's id on Drive
	Name string // the file name with its extension
	// URL is a lasting link to the file, "" when the event gives none: on
	// v1, urlShow (else urlDownload), a portal page that opens for the
	// portal's users; v2 events carry none (imbot.v2.File.download makes
	// a one-time link, which olbot does not keep).
	URL       string
	Size      int64  // bytes; -1 when the event does not say
	Type      string // file, image, video or audio (entities.md#file)
	Extension string // lower case, without the dot
}

// Files are the files of an ONIMBOTMESSAGEADD, from data[PARAMS][FILES]
// in the order of their ids. The docs do not describe FILES for this
// event: its entries are read as the file object of the im module, the
// one documented for the answer of im.v2.File.upload (id, chatId, type,
// name, extension, size, urlShow, urlDownload; see the fixture
// v1.event.onimbotmessageadd.files). Entries without an id are skipped.
func (ev *Event) Files() []File {
	params, _ := ev.Data["PARAMS"].(map[string]any)
	return filesOf(params["FILES"])
}

// filesOf reads a map (keyed by file id, as a form-encoded event has it)
// or a list of file objects.
func filesOf(v any) []File {
	var items []map[string]any
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return idLess(keys[i], keys[j]) })
		for _, k := range keys {
			if m, ok := t[k].(map[string]any); ok {
				items = append(items, m)
			}
		}
	case []any:
		for _, x := range t {
			if m, ok := x.(map[string]any); ok {
				items = append(items, m)
			}
		}
	}
	var out []File
	for _, m := range items {
		f := File{ID: scalar(m["id"]), Name: scalar(m["name"]), Type: scalar(m["type"]),
			Extension: strings.ToLower(scalar(m["extension"])), Size: -1}
		if f.ID == "" {
			continue
		}
		if n, err := strconv.ParseInt(scalar(m["size"]), 10, 64); err == nil && n >= 0 {
			f.Size = n
		}
		f.URL = scalar(m["urlShow"])
		if f.URL == "" {
			f.URL = scalar(m["urlDownload"])
		}
		out = append(out, f)
	}
	return out
}

// idLess orders numeric ids as numbers, others as text after them.
func idLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return x < y
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}

// scalar is a string or number of a decoded event as text ("" for
// anything else): form-encoded events carry strings, JSON ones numbers
// (json.Number where the decoder keeps them).
func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case bool:
		if t {
			return "1"
		}
		return "0"
	}
	return ""
}

// Files are the files of a v2 message, from message.params.files. The v2
// docs say message.params holds "attach, keyboard, files, and others"
// (entities.md#message) and document the file object (entities.md#file:
// id, chatId, type, name, extension, size, …) but give no example of a
// message with files: olbot reads params.files as a list of file objects,
// or a map of them by id, and takes no link from it (the file object has
// none). See the fixture v2.data.onimbotv2messageadd.files.
func (m V2Msg) Files() []File {
	out := filesOf(m.Params["files"])
	for i := range out {
		out[i].URL = ""
	}
	return out
}
