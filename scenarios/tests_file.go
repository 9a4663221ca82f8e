package scenarios

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
)

// Keys of a user step that sends a file: `- user: {file: photo.jpg}` or
// `- user: {text: "here", file: {name: photo.jpg, size: 6MB, type: image}}`.
var (
	userKeys     = []string{"text", "file"}
	fileStepKeys = []string{"name", "size", "type", "url", "id"}
)

// userStep decodes a user step: a text, or a map with a file and an
// optional caption.
func (d *decoder) userStep(v *yaml.Node, p string, s *TestStep) bool {
	if v.Kind != yaml.MappingNode {
		var ok bool
		s.Text, ok = d.text(v, p)
		return ok
	}
	ok := true
	d.mapping(v, p, userKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "text":
			s.Text, _ = d.text(v, p)
		case "file":
			s.Upload = d.testFile(v, p)
			ok = ok && s.Upload != nil
		}
	})
	if s.Upload == nil && ok {
		d.errorf(v, p, ErrMissing, "write - user: {file: photo.jpg}, or - user: TEXT", "a user step written as a map sends a file: add file:")
		return false
	}
	return ok
}

// testFile decodes the file of a user step: its name, or a map of name,
// size (bytes or 10MB), type (file, image, video, audio), url and id.
func (d *decoder) testFile(v *yaml.Node, p string) *answers.ClientFile {
	f := &answers.ClientFile{Size: -1}
	if v.Kind == yaml.ScalarNode {
		name, ok := d.text(v, p)
		if !ok || strings.TrimSpace(name) == "" {
			d.errorf(v, p, ErrValue, "write the file's name, e.g. file: photo.jpg", "a file needs its name")
			return nil
		}
		f.Name, f.ID = name, "test-1"
		return f
	}
	bad := false
	d.mapping(v, p, fileStepKeys, func(key string, k, v *yaml.Node, p string) {
		s, ok := d.text(v, p)
		if !ok {
			bad = true
			return
		}
		switch key {
		case "name":
			f.Name = s
		case "id":
			f.ID = s
		case "url":
			if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
				d.errorf(v, p, ErrValue, "write an http:// or https:// link", "%q is not a link", s)
				bad = true
			}
			f.URL = s
		case "size":
			n, err := answers.ParseBytes(s)
			if err != nil {
				d.errorf(v, p, ErrValue, "write bytes or a number with KB, MB or GB, e.g. size: 6MB", "size: %v", err)
				bad = true
			}
			f.Size = n
		case "type":
			switch s {
			case "file", answers.FileImage, answers.FileVideo, answers.FileAudio:
				f.Type = s
			default:
				d.errorf(v, p, ErrValue, "write type: file, image, video or audio", "unknown file type %q", s)
				bad = true
			}
		}
	})
	if f.Name == "" && !bad {
		d.errorf(v, p, ErrMissing, "add name: photo.jpg", "a file needs its name")
		bad = true
	}
	if bad {
		return nil
	}
	if f.ID == "" {
		f.ID = "test-1"
	}
	return f
}
