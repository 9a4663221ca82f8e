package bitrix24

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
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
	// Worktime is the line's working time (WORKTIME_*); Enabled false
	// when the line does not consider working hours (always open).
	Worktime Worktime
	// WelcomeBotTime is WELCOME_BOT_TIME, how long the bot has a chat
	// before the line hands it to its queue; 0 when not given.
	WelcomeBotTime time.Duration
}

// Worktime is an Open Line's working time as imopenlines.config.get gives
// it. From and To are as written: "09:00" (HH:MM, imopenlines-config-add.md)
// or "9", "23.59" (hours, dot, minutes: the documented get answer).
type Worktime struct {
	Enabled  bool     // WORKTIME_ENABLE = Y
	From, To string   // WORKTIME_FROM, WORKTIME_TO
	Timezone string   // WORKTIME_TIMEZONE, an IANA name
	DayOff   []string // WORKTIME_DAYOFF: MO, TU, WE, TH, FR, SA, SU
	Holidays []string // WORKTIME_HOLIDAYS: DD.MM dates, every year
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
		ID             json.RawMessage `json:"ID"`
		LanguageID     *string         `json:"LANGUAGE_ID"`
		WelcomeBotTime json.RawMessage `json:"WELCOME_BOT_TIME"`
		WorktimeEnable string          `json:"WORKTIME_ENABLE"`
		WorktimeFrom   json.RawMessage `json:"WORKTIME_FROM"`
		WorktimeTo     json.RawMessage `json:"WORKTIME_TO"`
		WorktimeTZ     string          `json:"WORKTIME_TIMEZONE"`
		DayOff         json.RawMessage `json:"WORKTIME_DAYOFF"`
		Holidays       json.RawMessage `json:"WORKTIME_HOLIDAYS"`
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
	if n, err := ParseID(r.WelcomeBotTime); err == nil && n > 0 {
		c.WelcomeBotTime = time.Duration(n) * time.Second
	}
	c.Worktime = Worktime{
		Enabled: r.WorktimeEnable == "Y", From: scalarText(r.WorktimeFrom), To: scalarText(r.WorktimeTo),
		Timezone: strings.TrimSpace(r.WorktimeTZ), DayOff: textList(r.DayOff), Holidays: textList(r.Holidays),
	}
	return c, nil
}

// scalarText is a JSON string or number as text; "" for anything else.
func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// textList reads a list of texts, written as a JSON array (the get answer,
// where an empty list is [""]) or as one comma-separated string (the
// config.add parameter); empty items are dropped.
func textList(raw json.RawMessage) []string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		items = []json.RawMessage{raw}
	}
	var out []string
	for _, it := range items {
		for _, s := range strings.Split(scalarText(it), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
