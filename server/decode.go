package server

// Request decoding: JSON bodies (strict: unknown fields, duplicate keys and
// trailing data are errors) and the limits of every id a request carries,
// checked before anything reaches the store, so that bad input is a 400
// naming the field and never looks like a store outage (issue 17).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// The longest ids the routes accept, in bytes (README "Limits"). Each key
// they make stays within engine.MaxKeyLen: "b24:" + member + ":" + DIALOG_ID
// is at most 460 bytes.
const (
	// MaxDialogIDLen bounds a conversation's id: /v1/events "dialog" and
	// the portal's data[PARAMS][DIALOG_ID].
	MaxDialogIDLen = 200
	// MaxEventIDLen bounds an event id: /v1/events "id".
	MaxEventIDLen = 200
	// MaxScenarioLen bounds a scenario name in a request.
	MaxScenarioLen = 200
	// MaxClientLen bounds a client's name: /v1/events and playground "client".
	MaxClientLen = 100
	// MaxMemberIDLen bounds the portal's auth[member_id] (also an outbox
	// call's portal and an install record's key).
	MaxMemberIDLen = engine.MaxPortalLen
	// MaxDomainLen bounds the portal's auth[domain].
	MaxDomainLen = engine.MaxPortalLen
	// MaxSessionLen bounds a playground page's session id.
	MaxSessionLen = 64
)

// checkID validates an id: present, at most limit bytes, printable and
// without spaces.
func checkID(field, id string, limit int) error {
	switch {
	case id == "":
		return &Error{Code: EInvalid, Field: field, Message: field + " is missing: give the conversation an id, e.g. \"dialog\": \"chat-42\""}
	case len(id) > limit:
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%s is %d bytes, longer than %d", field, len(id), limit)}
	case !utf8.ValidString(id):
		return &Error{Code: EInvalid, Field: field, Message: field + " is not valid UTF-8"}
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return &Error{Code: EInvalid, Field: field, Message: field + " may not contain spaces or control characters"}
		}
	}
	return nil
}

// checkPortalIDs checks the ids of a portal event that become store keys
// (the dialog key, the install record, the outbox calls' portal).
func checkPortalIDs(ev *bitrix24.Event) error {
	// The domain is kept as a value, not a key: only its length counts
	// (the token check refuses a forged one and logs it, quoted).
	if err := checkLen("auth[domain]", ev.Auth.Domain, MaxDomainLen); err != nil {
		return err
	}
	for _, f := range []struct {
		field, id string
		limit     int
	}{
		{"auth[member_id]", ev.Auth.MemberID, MaxMemberIDLen},
		{"data[PARAMS][DIALOG_ID]", ev.Params.DialogID, MaxDialogIDLen},
	} {
		if f.id == "" { // ParseEvent requires what its event needs
			continue
		}
		if err := checkID(f.field, f.id, f.limit); err != nil {
			return err
		}
	}
	return nil
}

// checkLen validates optional text: at most limit bytes of UTF-8.
func checkLen(field, s string, limit int) error {
	switch {
	case len(s) > limit:
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%s is %d bytes, longer than %d", field, len(s), limit)}
	case !utf8.ValidString(s):
		return &Error{Code: EInvalid, Field: field, Message: field + " is not valid UTF-8"}
	}
	return nil
}

// decodeJSON decodes a JSON body strictly: unknown fields, duplicate keys
// and trailing data are errors. The route's accepts(mediaJSON) has checked
// the Content-Type.
func decodeJSON(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSONBody(body, v)
}

// decodeJSONBody is decodeJSON of a body already read.
func decodeJSONBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &Error{Code: EInvalid, Message: "unexpected data after the JSON object"}
	}
	// Decode keeps the last of duplicate keys; a form's duplicate key is
	// refused, and so is this one: two values for one field are a client
	// bug, and which one counts should not be a guess. The body is known to
	// be valid JSON within the decoder's depth limit here.
	if path := duplicateKey(body); path != "" {
		return &Error{Code: EInvalid, Field: path, Message: fmt.Sprintf("duplicate key %q: give each field once", path)}
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var synErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &Error{Code: EInvalid, Field: typeErr.Field, Message: fmt.Sprintf("%s: expected %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)}
	case errors.As(err, &synErr):
		return &Error{Code: EInvalid, Message: fmt.Sprintf("malformed JSON at byte %d: %v", synErr.Offset, err)}
	case errors.Is(err, io.EOF):
		return &Error{Code: EInvalid, Message: "the request body is empty; send a JSON object"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Code: EInvalid, Field: f, Message: fmt.Sprintf("unknown field %q", f)}
	default:
		return &Error{Code: EInvalid, Message: "malformed JSON: " + err.Error()}
	}
}

// duplicateKey returns the path of the first key that appears twice (up
// to case, as encoding/json matches keys to fields) in one object of a valid JSON document (e.g. "dialog", "a.b", "list[2].c"),
// or "". Decode has checked the document, its depth included.
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	path, _ := duplicateIn(dec, "")
	return path
}

// duplicateIn reads one value at path and returns the path of a duplicate
// key inside it.
func duplicateIn(dec *json.Decoder, path string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", err
			}
			k, _ := kt.(string)
			at := k
			if path != "" {
				at = path + "." + k
			}
			// encoding/json fills a field from any key that matches its
			// name case-insensitively: such keys are duplicates too
			fold := strings.ToLower(strings.ToUpper(k))
			if seen[fold] {
				return at, nil
			}
			seen[fold] = true
			if dup, err := duplicateIn(dec, at); dup != "" || err != nil {
				return dup, err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := duplicateIn(dec, fmt.Sprintf("%s[%d]", path, i)); dup != "" || err != nil {
				return dup, err
			}
		}
	default:
		return "", nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", err
}
