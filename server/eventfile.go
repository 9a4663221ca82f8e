package server

import (
	"fmt"
	"strings"

	"github.com/olbot/olbot/answers"
)

// FileRequest is the file of a client message in POST /v1/events and the
// playground's events: {"type": "file", "file": {"name": "photo.jpg",
// "size": 48213, "type": "image"}}. It answers a `type: file` ask; type
// "message" with a file and a text is a file with a caption.
type FileRequest struct {
	ID   string `json:"id,omitempty"`   // the file's id in the channel
	Name string `json:"name"`           // the file name with its extension
	URL  string `json:"url,omitempty"`  // a lasting http(s) link to it
	Size *int64 `json:"size,omitempty"` // bytes; not checked against max_size when absent
	// Type is the channel's content type: file, image, video or audio
	// (as Bitrix24's file object); without it the extension decides.
	Type string `json:"type,omitempty"`
}

// Limits of a FileRequest, in bytes.
const (
	MaxFileNameLen = 255
	MaxFileIDLen   = 255
	MaxFileURLLen  = 2048
)

// check validates a request's file, naming the field at fault.
func (f *FileRequest) check() error {
	if f == nil {
		return nil
	}
	for _, c := range []struct {
		field, v string
		limit    int
	}{{"file.name", f.Name, MaxFileNameLen}, {"file.id", f.ID, MaxFileIDLen}, {"file.url", f.URL, MaxFileURLLen}, {"file.type", f.Type, 16}} {
		if err := checkLen(c.field, c.v, c.limit); err != nil {
			return err
		}
	}
	switch {
	case strings.TrimSpace(f.Name) == "":
		return &Error{Code: EInvalid, Field: "file.name", Message: "a file needs its name, e.g. photo.jpg"}
	case f.Size != nil && *f.Size < 0:
		return &Error{Code: EInvalid, Field: "file.size", Message: fmt.Sprintf("file.size is %d: a size is 0 bytes or more", *f.Size)}
	case f.URL != "" && !strings.HasPrefix(f.URL, "https://") && !strings.HasPrefix(f.URL, "http://"):
		return &Error{Code: EInvalid, Field: "file.url", Message: "file.url must be an http:// or https:// link"}
	}
	switch f.Type {
	case "", "file", answers.FileImage, answers.FileVideo, answers.FileAudio:
	default:
		return &Error{Code: EInvalid, Field: "file.type", Message: fmt.Sprintf("file.type %q: want file, image, video or audio", f.Type)}
	}
	return nil
}

// client is the file as the engine takes it; nil for no file.
func (f *FileRequest) client() *answers.ClientFile {
	if f == nil {
		return nil
	}
	out := answers.ClientFile{ID: f.ID, Name: strings.TrimSpace(f.Name), URL: f.URL, Size: -1, Type: f.Type}
	if f.Size != nil {
		out.Size = *f.Size
	}
	return &out
}
