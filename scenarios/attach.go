package scenarios

import (
	"errors"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/bitrix24"
)

// Images and files in bot messages: say: {text, image, file} and the same
// for ask:. Both travel as Bitrix24 ATTACH blocks beside the message text
// (bitrix24.Attachment), on either bot platform; the serialized
// attachment's size is checked here, at load time, against the stricter
// of the two platforms' limits.

// ErrAttachSize reports an attachment larger than Bitrix24 takes.
var ErrAttachSize = errors.New("attachment too large")

// messageKeys are the keys of a message with an attachment.
var messageKeys = []string{"text", "image", "file"}

// Attachment is the image and the file a bot message carries, each an
// absolute http(s) address ("" when none).
type Attachment struct {
	Image string
	File  string
}

// Empty reports whether there is nothing attached.
func (a Attachment) Empty() bool { return a.Image == "" && a.File == "" }

// attachDef is the attachment part of say: or ask: written as a map.
type attachDef struct {
	scope
	Image, File val[string]
}

// richMessage reports whether v is a message written as a map of
// text/image/file rather than a text or a map of languages: one of its
// keys is a message key (no language is called text, image or file).
func richMessage(v *yaml.Node) bool {
	if v == nil || v.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i < len(v.Content); i += 2 {
		for _, k := range messageKeys {
			if v.Content[i].Value == k {
				return true
			}
		}
	}
	return false
}

// message decodes say: or ask:: a text (or a map of languages), or a map
// {text, image, file} whose text is one.
func (d *decoder) message(v *yaml.Node, p string) (val[*Template], val[attachDef]) {
	if !richMessage(d.resolve(v)) {
		return d.template(v, p), val[attachDef]{}
	}
	n := len(d.problems)
	var text val[*Template]
	var a attachDef
	var longest *yaml.Node // the longer address: where an oversize is reported
	ok := d.mappingIn(v, p, messageKeys, &a.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "text":
			text = d.template(v, p)
		case "image":
			a.Image = d.attachLink(v, p)
		case "file":
			a.File = d.attachLink(v, p)
		}
		if key != "text" && (longest == nil || len(v.Value) > len(longest.Value)) {
			longest = v
		}
	})
	out := mark(d, v, n, a)
	out.Bad = out.Bad || !ok
	switch {
	case !ok:
	case !text.Set:
		// imbot.message.add requires MESSAGE: the attachment cannot go alone
		d.errorf(v, p, ErrMissing, "add text: — what the message says beside its image or file", "a message with an image or file needs text:")
		out.Bad = true
	case !a.Image.Bad && !a.File.Bad:
		att := bitrix24.Attachment{Image: a.Image.V, File: a.File.V}
		if size := att.Size(); size > bitrix24.MaxAttachBytes {
			d.errorf(longest, p, ErrAttachSize, "use a shorter address: Bitrix24 refuses an attachment over 30 KB (ATTACH_OVERSIZE)",
				"the attachment would be %d bytes as sent, over the limit of %d", size, bitrix24.MaxAttachBytes)
			out.Bad = true
		}
	}
	if !text.Set {
		text = val[*Template]{At: posOf(v), Set: true, Bad: true}
	}
	return text, out
}

// attachLink decodes an image's or a file's address: an absolute http(s)
// link without {{fields}} (the attachment's size is known at load time).
func (d *decoder) attachLink(v *yaml.Node, p string) val[string] {
	if v.Kind == yaml.ScalarNode && strings.Contains(v.Value, "{{") {
		n := len(d.problems)
		d.errorf(v, p, ErrValue, "write the address itself, e.g. https://example.com/map.png: an attachment's size is checked when the scenario loads",
			"an image or file address cannot hold {{fields}}")
		return mark(d, v, n, "")
	}
	return d.linkURL(v, p)
}

// compileAttach is the attachment of a decoded say: or ask:.
func compileAttach(a val[attachDef]) Attachment {
	if !a.Set {
		return Attachment{}
	}
	return Attachment{Image: a.V.Image.V, File: a.V.File.V}
}

// attachWant decodes a bot step's image: or file:, the expected address (a
// * pattern); "" (or none: false) expects no attachment of that kind.
func (d *decoder) attachWant(v *yaml.Node, p string) *string {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" && v.Value == "false" {
		s := ""
		return &s
	}
	s, ok := d.text(v, p)
	if !ok {
		return nil
	}
	return &s
}

// notes appends the attachment's lines for a diagram to out:
// "image → URL", "file NAME → URL".
func (a Attachment) notes(out []string) []string {
	if a.Image != "" {
		out = append(out, "image → "+a.Image)
	}
	if a.File != "" {
		out = append(out, "file "+bitrix24.LinkName(a.File)+" → "+a.File)
	}
	return out
}

// notRich reports {text, image, file} where only a text (or a map of
// languages) goes: retry:, remind.say, greet:, a note, a button's text.
func (d *decoder) notRich(v *yaml.Node, p string) val[*Template] {
	n := len(d.problems)
	key := p[strings.LastIndexAny(p, ".]")+1:]
	d.errorf(v, p, ErrValue, "write the text itself here and put the image or file on the state's say: or ask:",
		"%s takes a text (or a map of languages), not {text, image, file}: only say: and ask: carry images and files", key)
	return mark[*Template](d, v, n, nil)
}
