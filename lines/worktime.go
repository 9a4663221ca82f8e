package lines

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/scenarios"
)

// Hours is a line's working time for a scenario's from_line hours: nil
// when it cannot be read (the line then counts as open; the log says why),
// open at all times when the line does not consider working hours. Hours
// read before are kept fresh in the background: when they are old, the
// last known ones are returned at once and the portal is asked meanwhile;
// only a line never read makes the caller wait for the portal.
func (c *Cache) Hours(ctx context.Context, portal string, line int) *scenarios.Schedule {
	if line > 0 {
		c.mu.Lock()
		e := c.entries[portal+":"+strconv.Itoa(line)]
		if e != nil && e.ok && e.reading == nil && !c.opts.Now().Before(e.until) {
			hours := e.hours
			e.reading = make(chan struct{})
			c.mu.Unlock()
			// bounded by Options.Timeout; the caller's request may end first
			go c.read(context.WithoutCancel(ctx), e, portal, line)
			return hours
		}
		c.mu.Unlock()
	}
	if _, ok := c.Config(ctx, portal, line); !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[portal+":"+strconv.Itoa(line)]; e != nil {
		return e.hours
	}
	return nil
}

// BotTime is the line's WELCOME_BOT_TIME as last read, 0 when not read;
// due is true when the line should be read again (never read, or read
// longer ago than the cache keeps settings, or its last failure is older
// than the retry period). It never asks the portal: Refresh does.
func (c *Cache) BotTime(portal string, line int) (bot time.Duration, due bool) {
	if line <= 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[portal+":"+strconv.Itoa(line)]
	if e == nil {
		return 0, true
	}
	return e.cfg.WelcomeBotTime, e.reading == nil && !c.opts.Now().Before(e.until)
}

// Refresh reads the line's settings from the portal unless they are fresh
// (Config), and returns its WELCOME_BOT_TIME, 0 when not known.
func (c *Cache) Refresh(ctx context.Context, portal string, line int) time.Duration {
	cfg, _ := c.Config(ctx, portal, line)
	return cfg.WelcomeBotTime
}

// weekdays are WORKTIME_DAYOFF's codes (imopenlines-config-add.md).
var weekdays = map[string]time.Weekday{"MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday, "TH": time.Thursday,
	"FR": time.Friday, "SA": time.Saturday, "SU": time.Sunday}

// Schedule turns an Open Line's working time into a schedule: From–To on
// every day that is not a day off, closed on the holidays (DD.MM, every
// year), in the line's own time zone. A line that does not consider working
// hours is open at all times. An end of 23:59 is the end of the day.
func Schedule(w bitrix24.Worktime) (*scenarios.Schedule, error) {
	if !w.Enabled {
		s := scenarios.NewSchedule(time.UTC)
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			s.AddInterval(wd, 0, 24*60)
		}
		return s, nil
	}
	loc := time.UTC
	if w.Timezone != "" {
		l, err := time.LoadLocation(w.Timezone)
		if err != nil {
			return nil, fmt.Errorf("WORKTIME_TIMEZONE %q: %w", w.Timezone, err)
		}
		loc = l
	}
	from, err := clock(w.From)
	if err != nil {
		return nil, fmt.Errorf("WORKTIME_FROM: %w", err)
	}
	to, err := clock(w.To)
	if err != nil {
		return nil, fmt.Errorf("WORKTIME_TO: %w", err)
	}
	if to == 23*60+59 {
		to = 24 * 60
	}
	if from == to {
		return nil, fmt.Errorf("WORKTIME_FROM and WORKTIME_TO are both %q", w.From)
	}
	off := map[time.Weekday]bool{}
	for _, d := range w.DayOff {
		wd, ok := weekdays[strings.ToUpper(strings.TrimSpace(d))]
		if !ok {
			return nil, fmt.Errorf("WORKTIME_DAYOFF: %q is not a day (MO … SU)", d)
		}
		off[wd] = true
	}
	s := scenarios.NewSchedule(loc)
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if !off[wd] {
			s.AddInterval(wd, from, to)
		}
	}
	for _, h := range w.Holidays {
		dd, mm, ok := strings.Cut(strings.TrimSpace(h), ".")
		d, err1 := strconv.Atoi(dd)
		m, err2 := strconv.Atoi(mm)
		if !ok || err1 != nil || err2 != nil || m < 1 || m > 12 || d < 1 || d > 31 {
			return nil, fmt.Errorf("WORKTIME_HOLIDAYS: %q is not a DD.MM date", h)
		}
		s.CloseEvery(time.Month(m), d)
	}
	return s, nil
}

// clock reads a time of day in minutes: "09:00" (HH:MM), or "9", "9.30",
// "23.59" (hours, then minutes after a dot; "18.3" is 18:30, as a number
// 18.30 would be written).
func clock(s string) (int, error) {
	s = strings.TrimSpace(s)
	h, m, colon := strings.Cut(s, ":")
	if !colon {
		h, m, _ = strings.Cut(s, ".")
		if len(m) == 1 {
			m += "0"
		}
	}
	if m == "" {
		m = "0"
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 || len(m) > 2 {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return hh*60 + mm, nil
}
