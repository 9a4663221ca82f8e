package bitrix24

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MethodConfigGet reads an Open Line's settings (imopenlines-config-get.md).
const MethodConfigGet = "imopenlines.config.get"

// ErrNoLine is the answer `"result": false` of imopenlines.config.get: the
// portal has no line with that CONFIG_ID.
var ErrNoLine = errors.New("bitrix24: the portal has no Open Line with that id")

// LineConfig is what olbot reads of an Open Line's settings. The method
// answers some hundred keys; only those olbot acts on are kept.
type LineConfig struct {
	ID int // ID
	// LanguageID is the line's language (LANGUAGE_ID), a Bitrix24
	// language id such as "de", "ru" or "ua" — not always ISO 639-1.
	LanguageID string
}

// ConfigGetRequest builds imopenlines.config.get for a line, without its
// operator queue (WITH_QUEUE=N: olbot does not read it).
func ConfigGetRequest(line int) Request {
	return Request{Method: MethodConfigGet, Params: map[string]any{"CONFIG_ID": line, "WITH_QUEUE": "N"}}
}

// ParseLineConfig reads the result of imopenlines.config.get: an object of
// the line's settings, or false (ErrNoLine). Every value in the documented
// answer is a string, the ID included.
func ParseLineConfig(raw json.RawMessage) (LineConfig, error) {
	if strings.TrimSpace(string(raw)) == "false" {
		return LineConfig{}, ErrNoLine
	}
	var r struct {
		ID         json.RawMessage `json:"ID"`
		LanguageID *string         `json:"LANGUAGE_ID"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return LineConfig{}, fmt.Errorf("%w: %s: %v", ErrBadResponse, MethodConfigGet, err)
	}
	id, err := ParseID(r.ID)
	if err != nil {
		return LineConfig{}, fmt.Errorf("%w: %s: ID: %v", ErrBadResponse, MethodConfigGet, err)
	}
	c := LineConfig{ID: id}
	if r.LanguageID != nil {
		c.LanguageID = strings.TrimSpace(*r.LanguageID)
	}
	return c, nil
}
