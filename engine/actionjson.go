package engine

import (
	"encoding/json"
	"reflect"
	"slices"

	"github.com/olbot/olbot/jsonenc"
)

// The actions' JSON without reflection: every event's answer carries them.
// AppendActions writes, for each action type it knows, exactly what
// encoding/json writes for it (FuzzAppendActions compares the two); a type
// it does not know, or one whose fields changed since the encoder below was
// written (fastActions, checked once at start), goes through encoding/json.

// fastActions is, per action type, whether its fields are still the ones
// the hand-written encoder writes (TestActionEncoderFields says when not).
var fastActions = map[reflect.Type]bool{
	reflect.TypeFor[Greet](): jsonenc.SameFields(reflect.TypeFor[Greet](), "text,omitempty string", "welcome,omitempty bool"),
	reflect.TypeFor[Say](): jsonenc.SameFields(reflect.TypeFor[Say](), "text string", "buttons,omitempty []string", "links,omitempty []engine.Link", "numbered,omitempty bool",
		"image,omitempty string", "file,omitempty string"),
	reflect.TypeFor[Link]():     jsonenc.SameFields(reflect.TypeFor[Link](), "text string", "url,omitempty string", "phone,omitempty string"),
	reflect.TypeFor[CRM]():      jsonenc.SameFields(reflect.TypeFor[CRM](), "entity string", "lead_id,omitempty int", "fields map[string]string", "title,omitempty string"),
	reflect.TypeFor[Operator](): jsonenc.SameFields(reflect.TypeFor[Operator]()),
	reflect.TypeFor[Transfer](): jsonenc.SameFields(reflect.TypeFor[Transfer](), "user,omitempty int", "line,omitempty int", "leave,omitempty bool"),
	reflect.TypeFor[Finish]():   jsonenc.SameFields(reflect.TypeFor[Finish]()),
	reflect.TypeFor[Note]():     jsonenc.SameFields(reflect.TypeFor[Note](), "text string"),
	reflect.TypeFor[Lookup]():   jsonenc.SameFields(reflect.TypeFor[Lookup](), "endpoint string", "method string", "path,omitempty string"),
}

var (
	fastGreet    = fastActions[reflect.TypeFor[Greet]()]
	fastSay      = fastActions[reflect.TypeFor[Say]()] && fastActions[reflect.TypeFor[Link]()]
	fastCRM      = fastActions[reflect.TypeFor[CRM]()]
	fastOperator = fastActions[reflect.TypeFor[Operator]()]
	fastTransfer = fastActions[reflect.TypeFor[Transfer]()]
	fastFinish   = fastActions[reflect.TypeFor[Finish]()]
	fastNote     = fastActions[reflect.TypeFor[Note]()]
	fastLookup   = fastActions[reflect.TypeFor[Lookup]()]
)

// AppendActions appends actions as MarshalActions encodes them.
func AppendActions(dst []byte, actions []Action) ([]byte, error) {
	dst = append(dst, '[')
	for i, a := range actions {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendAction(dst, a); !ok {
			var err error
			if dst, err = appendActionReflect(dst, a); err != nil {
				return nil, err
			}
		}
	}
	return append(dst, ']'), nil
}

// appendActionReflect is an action through encoding/json: {"type":kind,
// then its own fields.
func appendActionReflect(dst []byte, a Action) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `{"type":`...)
	dst = jsonenc.String(dst, a.Kind())
	if string(b) != "{}" {
		dst = append(dst, ',')
		dst = append(dst, b[1:len(b)-1]...)
	}
	return append(dst, '}'), nil
}

// appendAction writes a of a known type; false (dst unchanged) otherwise.
func appendAction(dst []byte, a Action) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, `{"type":`...)
	switch a := a.(type) {
	case Greet:
		if !fastGreet {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "greet")
		if a.Text != "" {
			dst = jsonenc.String(append(dst, `,"text":`...), a.Text)
		}
		if a.Welcome {
			dst = append(dst, `,"welcome":true`...)
		}
	case Say:
		if !fastSay {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "say")
		dst = jsonenc.String(append(dst, `,"text":`...), a.Text)
		if len(a.Buttons) > 0 {
			dst = append(dst, `,"buttons":[`...)
			for i, b := range a.Buttons {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = jsonenc.String(dst, b)
			}
			dst = append(dst, ']')
		}
		if len(a.Links) > 0 {
			dst = append(dst, `,"links":[`...)
			for i, l := range a.Links {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = jsonenc.String(append(dst, `{"text":`...), l.Text)
				if l.URL != "" {
					dst = jsonenc.String(append(dst, `,"url":`...), l.URL)
				}
				if l.Phone != "" {
					dst = jsonenc.String(append(dst, `,"phone":`...), l.Phone)
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		if a.Numbered {
			dst = append(dst, `,"numbered":true`...)
		}
		if a.Image != "" {
			dst = jsonenc.String(append(dst, `,"image":`...), a.Image)
		}
		if a.File != "" {
			dst = jsonenc.String(append(dst, `,"file":`...), a.File)
		}
	case CRM:
		if !fastCRM {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "crm")
		dst = jsonenc.String(append(dst, `,"entity":`...), a.Entity)
		if a.LeadID != 0 {
			dst = jsonenc.Int(append(dst, `,"lead_id":`...), int64(a.LeadID))
		}
		dst = AppendStringMap(append(dst, `,"fields":`...), a.Fields)
		if a.Title != "" {
			dst = jsonenc.String(append(dst, `,"title":`...), a.Title)
		}
	case Operator:
		if !fastOperator {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "operator")
	case Transfer:
		if !fastTransfer {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "transfer")
		if a.User != 0 {
			dst = jsonenc.Int(append(dst, `,"user":`...), int64(a.User))
		}
		if a.Line != 0 {
			dst = jsonenc.Int(append(dst, `,"line":`...), int64(a.Line))
		}
		if a.Leave {
			dst = append(dst, `,"leave":true`...)
		}
	case Finish:
		if !fastFinish {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "finish")
	case Note:
		if !fastNote {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "note")
		dst = jsonenc.String(append(dst, `,"text":`...), a.Text)
	case Lookup:
		if !fastLookup {
			return dst[:start], false
		}
		dst = jsonenc.String(dst, "call")
		dst = jsonenc.String(append(dst, `,"endpoint":`...), a.Endpoint)
		dst = jsonenc.String(append(dst, `,"method":`...), a.Method)
		if a.Path != "" {
			dst = jsonenc.String(append(dst, `,"path":`...), a.Path)
		}
	default: // another type of the same kind (a pointer, a wrapper)
		return dst[:start], false
	}
	return append(dst, '}'), true
}

// AppendStringMap appends m as encoding/json writes a map[string]string:
// null when nil, keys in byte order.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.String(dst, k)
		dst = append(dst, ':')
		dst = jsonenc.String(dst, m[k])
	}
	return append(dst, '}')
}
