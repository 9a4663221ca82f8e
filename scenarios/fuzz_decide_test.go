package scenarios

import (
	"testing"
	"time"

	"github.com/olbot/olbot/answers"
)

// FuzzCondition compiles any text as a condition and evaluates what
// compiles: neither may panic, and evaluation ends.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{`total >= 5000 and city == "Москва"`, `set(phone)`, `open("shop")`, `now.weekday in ["sat", "sun"]`,
		`city matches "^М.*"`, `not (total < 1) or client startsWith "A"`, `1..100000000`, `map([1], #)`, `city contains city + city`} {
		f.Add(s, "Москва", "12")
	}
	fields := map[string]string{"total": answers.Number, "city": answers.Text, "phone": answers.Text}
	f.Fuzz(func(t *testing.T, text, city, total string) {
		c, err := compileCond(text, fields, map[string]bool{"shop": true})
		if err != nil {
			if c != nil {
				t.Fatal("an error and a condition")
			}
			return
		}
		sc := &Scenario{Hours: map[string]*Schedule{"shop": {}}}
		v := sc.Vars(Env{Fields: map[string]string{"city": city, "total": total}, Time: time.Unix(1800000000, 0)})
		_, _ = v.Test(c)
		v.Release()
	})
}

// FuzzSchedule parses any day key and intervals and asks the schedule at
// a time: no panic, and a parsed interval is inside the day's minutes.
func FuzzSchedule(f *testing.F) {
	for _, s := range [][2]string{{"mon-fri", "09:00-18:00"}, {"sat", "10:00-14:00, 15:00-17:00"}, {"fri-mon", "22:00-02:00"}, {"daily", "closed"}, {"sun", "24:00-00:00"}} {
		f.Add(s[0], s[1], int64(1800000000))
	}
	f.Fuzz(func(t *testing.T, key, spans string, at int64) {
		days, derr := parseDays(key)
		list, serr := parseSpans(spans)
		if derr != nil || serr != nil {
			return
		}
		sch := &Schedule{}
		for _, sp := range list {
			if sp.From < 0 || sp.From >= day+1 || sp.To <= sp.From || sp.To > 2*day {
				t.Fatalf("%q: interval %v out of range", spans, sp)
			}
		}
		for _, d := range days {
			sch.days[d] = append(sch.days[d], list...)
		}
		sch.Open(time.Unix(at%(1<<40), 0).UTC())
	})
}
