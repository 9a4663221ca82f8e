package fakeportal

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

func TestCanonicalParams(t *testing.T) {
	tests := []struct {
		name       string
		json, form string // the same params as a JSON body and as a PHP form
		want       string
	}{
		{"scalars", `{"CHAT_ID":7101,"MESSAGE":"hi","SYSTEM":true,"auth":"tok","CLIENT_ID":"c"}`,
			"CHAT_ID=7101&MESSAGE=hi&SYSTEM=1&auth=tok&CLIENT_ID=c",
			`{"CHAT_ID":"7101","MESSAGE":"hi","SYSTEM":"1"}`},
		{"keyboard", `{"KEYBOARD":[{"TEXT":"Yes","COMMAND_PARAMS":1},{"TEXT":"No","COMMAND_PARAMS":2}]}`,
			"KEYBOARD[0][TEXT]=Yes&KEYBOARD[0][COMMAND_PARAMS]=1&KEYBOARD[1][TEXT]=No&KEYBOARD[1][COMMAND_PARAMS]=2",
			`{"KEYBOARD":[{"COMMAND_PARAMS":"1","TEXT":"Yes"},{"COMMAND_PARAMS":"2","TEXT":"No"}]}`},
		{"fields as a JSON string", `{"FIELDS":{"TITLE":"Lead","NAME":"Anna"}}`,
			`FIELDS={"TITLE":"Lead","NAME":"Anna"}`,
			`{"FIELDS":{"NAME":"Anna","TITLE":"Lead"}}`},
		{"a map keyed by numbers that are not 0..n-1", `{"IDS":{"1":"a","2":"b"}}`,
			"IDS[1]=a&IDS[2]=b",
			`{"IDS":{"1":"a","2":"b"}}`},
		{"empty", `{}`, "", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := json.NewDecoder(strings.NewReader(tt.json))
			dec.UseNumber()
			var fromJSON map[string]any
			if err := dec.Decode(&fromJSON); err != nil {
				t.Fatal(err)
			}
			vals, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			fromForm, err := bitrix24.DecodeForm(vals)
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]map[string]any{"JSON": fromJSON, "form": fromForm} {
				if got := CanonicalParams(p); got != tt.want {
					t.Errorf("%s: CanonicalParams = %s, want %s", name, got, tt.want)
				}
			}
		})
	}
}
