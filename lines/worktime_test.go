package lines

import (
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// TestSchedule: an Open Line's working time as a schedule, in the line's
// own time zone, in both documented shapes of WORKTIME_FROM/TO.
func TestSchedule(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	at := func(s string) time.Time { // in Moscow
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, msk)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	weekdays := bitrix24.Worktime{Enabled: true, From: "09:00", To: "18:00", Timezone: "Europe/Moscow", DayOff: []string{"SA", "SU"}, Holidays: []string{"07.01"}}
	tests := []struct {
		name string
		w    bitrix24.Worktime
		at   string
		open bool
	}{
		{"weekday inside", weekdays, "2027-01-04 09:00", true},
		{"weekday before", weekdays, "2027-01-04 08:59", false},
		{"weekday end", weekdays, "2027-01-04 18:00", false},
		{"day off", weekdays, "2027-01-09 12:00", false},
		{"holiday, every year", weekdays, "2028-01-07 12:00", false},
		{"documented get answer: 0 to 23.59 in Berlin", bitrix24.Worktime{Enabled: true, From: "0", To: "23.59", Timezone: "Europe/Berlin"}, "2027-01-04 01:30", true},
		{"23.59 is the end of the day", bitrix24.Worktime{Enabled: true, From: "0", To: "23.59", Timezone: "Europe/Berlin"}, "2027-01-05 01:59", true},
		{"hours with a dot", bitrix24.Worktime{Enabled: true, From: "9.30", To: "18.3", Timezone: "Europe/Moscow"}, "2027-01-04 18:29", true},
		{"hours with a dot, after", bitrix24.Worktime{Enabled: true, From: "9.30", To: "18.3", Timezone: "Europe/Moscow"}, "2027-01-04 09:29", false},
		{"working time off: always open", bitrix24.Worktime{From: "09:00", To: "10:00"}, "2027-01-09 03:00", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Schedule(tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Open(at(tc.at)); got != tc.open {
				t.Errorf("open at %s = %v, want %v", tc.at, got, tc.open)
			}
		})
	}
	for _, bad := range []bitrix24.Worktime{
		{Enabled: true, From: "9am", To: "18:00"},
		{Enabled: true, From: "09:00", To: "25:00"},
		{Enabled: true, From: "09:00", To: "09:00"},
		{Enabled: true, From: "09:00", To: "18:00", DayOff: []string{"XX"}},
		{Enabled: true, From: "09:00", To: "18:00", Holidays: []string{"2027-01-07"}},
		{Enabled: true, From: "09:00", To: "18:00", Timezone: "Mars/Olympus"},
	} {
		if s, err := Schedule(bad); err == nil {
			t.Errorf("Schedule(%+v) = %v, want an error", bad, s)
		}
	}
}
