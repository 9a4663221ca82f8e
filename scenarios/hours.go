package scenarios

import (
	"fmt"
	"strings"
	"time"
)

// Schedule is a set of working hours: intervals per weekday and closed
// dates, in the scenario's time zone.
type Schedule struct {
	// FromLine: the hours are the Open Line's own working time, read
	// through the portal; until they are known the line counts as open.
	FromLine bool
	days     [7][]span // by time.Weekday
	closed   map[date]bool
	yearly   map[[2]int]bool // closed every year: {month, day}
	loc      *time.Location  // nil: the scenario's time zone
}

// NewSchedule returns a schedule open at no time, in time zone loc (nil:
// the scenario's): an Open Line's working time is built with it.
func NewSchedule(loc *time.Location) *Schedule { return &Schedule{loc: loc} }

// AddInterval opens the schedule on weekday wd from minute from to minute
// to of the day (0–1440; to below from crosses midnight). An empty or
// malformed interval is left out.
func (s *Schedule) AddInterval(wd time.Weekday, from, to int) {
	if from < 0 || from >= day || to < 0 || to > day || from == to || wd < 0 || wd > 6 {
		return
	}
	if to < from {
		to += day
	}
	s.days[wd] = append(s.days[wd], span{from, to})
}

// CloseEvery closes a calendar day every year (a holiday).
func (s *Schedule) CloseEvery(m time.Month, d int) {
	if s.yearly == nil {
		s.yearly = map[[2]int]bool{}
	}
	s.yearly[[2]int{int(m), d}] = true
}

// span is an interval in minutes from the day's midnight; To is above
// 24*60 when it crosses midnight.
type span struct{ From, To int }

const day = 24 * 60

// Open reports whether t falls inside the schedule. A closed date closes
// the whole calendar day, the tail of the evening before included.
func (s *Schedule) Open(t time.Time) bool {
	if s == nil || s.FromLine {
		return true
	}
	if s.loc != nil {
		t = t.In(s.loc)
	}
	if len(s.closed) > 0 || len(s.yearly) > 0 {
		y, mo, d := t.Date()
		if s.closed[date{y, mo, d}] || s.yearly[[2]int{int(mo), d}] {
			return false
		}
	}
	h, mi, _ := t.Clock()
	m, wd := h*60+mi, t.Weekday()
	for _, sp := range s.days[wd] {
		if m >= sp.From && m < sp.To {
			return true
		}
	}
	for _, sp := range s.days[(wd+6)%7] {
		if sp.To > day && m+day < sp.To {
			return true
		}
	}
	return false
}

// scheduleError is a malformed part of a schedule: the byte offset in the
// text, the message and a hint.
type scheduleError struct {
	Off       int
	Msg, Hint string
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var dayList = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

const daysHint = "write a day or a range of days: mon, sat, mon-fri, daily"

// parseDays parses a day key: "mon", "mon-fri", "fri-mon" (wrapping), "daily".
func parseDays(key string) ([]time.Weekday, *scheduleError) {
	k := strings.ToLower(strings.TrimSpace(key))
	if k == "daily" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	from, to, isRange := strings.Cut(k, "-")
	a, ok := dayNames[strings.TrimSpace(from)]
	if !ok {
		return nil, &scheduleError{Msg: fmt.Sprintf("%q is not a day", strings.TrimSpace(from)), Hint: dayHint(from)}
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := dayNames[strings.TrimSpace(to)]
	if !ok {
		return nil, &scheduleError{Off: len(from) + 1, Msg: fmt.Sprintf("%q is not a day", strings.TrimSpace(to)), Hint: dayHint(to)}
	}
	var out []time.Weekday
	for d := a; ; d = (d + 1) % 7 {
		out = append(out, d)
		if d == b {
			return out, nil
		}
	}
}

func dayHint(s string) string {
	if m := suggest(strings.TrimSpace(s), dayList); m != "" {
		return fmt.Sprintf("did you mean %q? %s", m, daysHint)
	}
	return daysHint
}

const spansHint = `write intervals like "09:00-18:00" or "10:00-14:00, 15:00-17:00"; "closed" for none`

// parseSpans parses "09:00-18:00, 22:00-02:00" (or "closed").
func parseSpans(s string) ([]span, *scheduleError) {
	if strings.TrimSpace(strings.ToLower(s)) == "closed" {
		return nil, nil
	}
	var out []span
	off := 0
	for _, part := range strings.Split(s, ",") {
		at := off + len(part) - len(strings.TrimLeft(part, " "))
		off += len(part) + 1
		p := strings.TrimSpace(part)
		from, to, ok := strings.Cut(p, "-")
		if !ok {
			return nil, &scheduleError{Off: at, Msg: fmt.Sprintf("%q is not an interval", p), Hint: spansHint}
		}
		a, err := parseClock(from)
		if err != "" {
			return nil, &scheduleError{Off: at, Msg: err, Hint: spansHint}
		}
		b, err := parseClock(to)
		if err != "" {
			return nil, &scheduleError{Off: at + len(from) + 1, Msg: err, Hint: spansHint}
		}
		if a == day {
			return nil, &scheduleError{Off: at, Msg: fmt.Sprintf("%q starts at 24:00", p), Hint: "start it at 00:00 of the next day"}
		}
		if b == a {
			return nil, &scheduleError{Off: at, Msg: fmt.Sprintf("%q is empty: it starts when it ends", p), Hint: "for the whole day write 00:00-24:00"}
		}
		if b < a {
			b += day // crosses midnight
		}
		if b == a {
			return nil, &scheduleError{Off: at, Msg: fmt.Sprintf("%q is empty: it starts when it ends", p), Hint: "for the whole day write 00:00-24:00"}
		}
		out = append(out, span{a, b})
	}
	return out, nil
}

// parseClock parses HH:MM (24:00 allowed) into minutes.
func parseClock(s string) (int, string) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Sprintf("%q is not a time of day", s)
	}
	hh, mm := 0, 0
	for _, c := range h {
		if c < '0' || c > '9' {
			return 0, fmt.Sprintf("%q is not a time of day", s)
		}
		hh = hh*10 + int(c-'0')
	}
	for _, c := range m {
		if c < '0' || c > '9' {
			return 0, fmt.Sprintf("%q is not a time of day", s)
		}
		mm = mm*10 + int(c-'0')
	}
	if mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Sprintf("%q is not a time of day: hours go 00–24, minutes 00–59", s)
	}
	return hh*60 + mm, ""
}

// date is a calendar day: the key of closed dates (formatting the time of
// every check into text cost more than the rest of the check).
type date struct {
	y int
	m time.Month
	d int
}

// parseDate parses a closed date, YYYY-MM-DD.
func parseDate(s string) (date, *scheduleError) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return date{}, &scheduleError{Msg: fmt.Sprintf("%q is not a date", s), Hint: `write dates as YYYY-MM-DD, e.g. "2027-01-07"`}
	}
	y, m, d := t.Date()
	return date{y, m, d}, nil
}

// Open reports whether the scenario's hours name are open at t; unknown
// hours are open, and so are from_line hours (OpenWith knows the line's).
func (s *Scenario) Open(name string, t time.Time) bool { return s.OpenWith(name, t, nil) }

// OpenWith is Open with the dialog's line's working time for from_line
// hours: line, as read from the portal (nil: not known, so open).
func (s *Scenario) OpenWith(name string, t time.Time, line *Schedule) bool {
	sch := s.Hours[name]
	if sch == nil {
		return true
	}
	if sch.FromLine {
		sch = line
	}
	return sch.Open(t.In(s.loc()))
}

// openAt is OpenWith for local, the time already in the scenario's zone.
func (s *Scenario) openAt(name string, local time.Time, line *Schedule) bool {
	sch := s.Hours[name]
	if sch == nil {
		return true
	}
	if sch.FromLine {
		sch = line
	}
	return sch.Open(local)
}

// UsesLineHours reports whether some hours of the scenario are from_line:
// its dialogs need their line's working time.
func (s *Scenario) UsesLineHours() bool {
	for _, h := range s.Hours {
		if h != nil && h.FromLine {
			return true
		}
	}
	return false
}

// loc is the scenario's time zone: settings.timezone, UTC by default.
func (s *Scenario) loc() *time.Location {
	if s.Settings.Location != nil {
		return s.Settings.Location
	}
	return time.UTC
}
