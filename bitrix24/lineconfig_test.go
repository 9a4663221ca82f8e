package bitrix24

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestParseLineConfigWorktime reads the working time in both documented
// shapes: the get answer (imopenlines-config-get.md: "0" to "23.59",
// WORKTIME_DAYOFF and WORKTIME_HOLIDAYS as [""]) and the config.add
// parameters (imopenlines-config-add.md: HH:MM, days off MO…SU, holidays
// as "DD.MM,DD.MM").
func TestParseLineConfigWorktime(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want LineConfig
		err  error
	}{
		{"get answer", `{"ID":"22","LANGUAGE_ID":"de","WELCOME_BOT_TIME":"180","WORKTIME_ENABLE":"Y","WORKTIME_FROM":"0","WORKTIME_TO":"23.59",
			"WORKTIME_TIMEZONE":"Europe/Berlin","WORKTIME_HOLIDAYS":[""],"WORKTIME_DAYOFF":[""]}`,
			LineConfig{ID: 22, LanguageID: "de", WelcomeBotTime: 180 * time.Second,
				Worktime: Worktime{Enabled: true, From: "0", To: "23.59", Timezone: "Europe/Berlin"}}, nil},
		{"add shapes", `{"ID":7,"WORKTIME_ENABLE":"Y","WORKTIME_FROM":"09:00","WORKTIME_TO":"21:00","WORKTIME_TIMEZONE":"Europe/Moscow",
			"WORKTIME_DAYOFF":["SA","SU"],"WORKTIME_HOLIDAYS":"01.01,07.01"}`,
			LineConfig{ID: 7, Worktime: Worktime{Enabled: true, From: "09:00", To: "21:00", Timezone: "Europe/Moscow",
				DayOff: []string{"SA", "SU"}, Holidays: []string{"01.01", "07.01"}}}, nil},
		{"numbers and no working time", `{"ID":"3","WELCOME_BOT_TIME":600,"WORKTIME_ENABLE":"N","WORKTIME_FROM":9,"WORKTIME_TO":18.3}`,
			LineConfig{ID: 3, WelcomeBotTime: 10 * time.Minute, Worktime: Worktime{From: "9", To: "18.3"}}, nil},
		{"no such line", `false`, LineConfig{}, ErrNoLine},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLineConfig(json.RawMessage(tc.raw))
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v\nwant %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
