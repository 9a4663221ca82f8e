package scenarios

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// condScenario collects a number, texts and has hours: the conditions of
// TestConditionValues are compiled against it.
const condScenario = `
start: ask
settings:
  timezone: Europe/Moscow
hours:
  shop:
    mon-fri: "09:00-18:00"
    closed: ["2025-03-03"]
  line: from_line
states:
  ask:
    ask: "Total?"
    save: total
    type: number
    on_fail: done
    next:
      - if: total > 0
        goto: city
      - goto: city
  city:
    ask: "City?"
    save: city
    on_fail: done
    next: done
  done:
    say: bye
    finish: true
`

// TestConditionValues evaluates conditions in one Env each: what every
// name reads, and the clock from the event's time in the scenario's zone.
func TestConditionValues(t *testing.T) {
	sc, ps := Parse("cond.yaml", []byte(condScenario))
	if sc == nil {
		t.Fatal(ps)
	}
	// 2025-03-01 is a Saturday; 10:30 UTC is 13:30 in Moscow
	sat := time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC)
	tue := time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)
	closed := time.Date(2025, 3, 3, 10, 30, 0, 0, time.UTC)
	full := Env{Fields: map[string]string{"total": "5000,5", "city": "Москва"}, Client: "Anna", Line: 3,
		Language: "ru", Channel: "telegrambot", Time: sat}
	empty := Env{Time: tue}
	lineOpen := NewSchedule(nil)
	lineOpen.AddInterval(time.Tuesday, 13*60, 14*60)
	for _, c := range []struct {
		cond string
		env  Env
		want bool
	}{
		{`total > 5000 and total < 5001`, full, true}, // a decimal comma
		{`total == 0`, empty, true},                   // not collected: 0
		{`city == "Москва" and city startsWith "Мо"`, full, true},
		{`city == ""`, empty, true},
		{`set(total) and set(city)`, full, true},
		{`set(total) or set(city)`, empty, false},
		{`client == "Anna" and line == 3 and language == "ru" and channel == "telegrambot"`, full, true},
		{`client == "" and line == 0`, empty, true},
		{`now.weekday == "sat" and now.hour == 13 and now.minute == 30`, full, true},
		{`now.weekday in ["sat", "sun"]`, full, true},
		{`now.weekday in ["sat", "sun"]`, empty, false},
		{`now.weekday not in ["mon", "tue"]`, empty, false},
		{`now.hour in [12, 13]`, full, true},
		{`now["weekday"] == "tue"`, empty, true},
		{`5000 < total and total != 5000`, full, true}, // left to expr: the literal first
		{`total in [1, 5000.5]`, full, true},
		{`line in [2, 3] and line != 4 and line >= 3`, full, true},
		{`client != "Anna"`, full, false},
		{`set(client)`, full, true}, // the client's name from the channel, as {{client}}
		{`set(client)`, empty, false},
		{`now.hour >= 13 and now.hour < 14 and now.minute in [30]`, full, true},
		{`city in ["Москва", "Казань"] and language in ["ru"]`, full, true},
		{`channel contains "bot" and city endsWith "ва"`, full, true},
		{`open("shop")`, full, false},                                               // Saturday
		{`open("shop")`, empty, true},                                               // Tuesday 13:30
		{`open("shop")`, Env{Time: closed}, false},                                  // a closed date
		{`open("line")`, empty, true},                                               // the line's hours not known
		{`open("line")`, Env{Time: tue, LineHours: lineOpen}, true},                 // 13:30 in the line's
		{`open("line")`, Env{Time: tue.Add(time.Hour), LineHours: lineOpen}, false}, // 14:30
	} {
		t.Run(c.cond, func(t *testing.T) {
			cond, err := compileCond(c.cond, map[string]string{"total": "number", "city": "text"}, map[string]bool{"shop": true, "line": true})
			if err != nil {
				t.Fatalf("%s: %s (%s)", c.cond, err.Msg, err.Hint)
			}
			v := sc.Vars(c.env)
			defer v.Release()
			got, rerr := v.Test(cond)
			if rerr != nil || got != c.want {
				t.Errorf("%s = %v, %v; want %v", c.cond, got, rerr, c.want)
			}
			// a second condition in the same Vars sees the same values
			if again, _ := v.Test(cond); again != got {
				t.Errorf("%s: %v, then %v", c.cond, got, again)
			}
		})
	}
}

// TestConditionsConcurrent evaluates conditions from several goroutines at
// once, each with its own values: the pooled evaluators are not shared
// (run with -race).
func TestConditionsConcurrent(t *testing.T) {
	sc, ps := Parse("cond.yaml", []byte(condScenario))
	if sc == nil {
		t.Fatal(ps)
	}
	cond, cerr := compileCond(`total > 10 and city == client and now.hour >= 0 and open("shop") == open("shop")`,
		map[string]string{"total": "number", "city": "text"}, map[string]bool{"shop": true})
	if cerr != nil {
		t.Fatal(cerr.Msg)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				name := fmt.Sprint(g, "-", i)
				total := fmt.Sprint(i % 20)
				v := sc.Vars(Env{Fields: map[string]string{"total": total, "city": name}, Client: name, Time: time.Unix(int64(i)*3600, 0)})
				got, err := v.Test(cond)
				v.Release()
				if want := i%20 > 10; err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d, %d: %v, %v; want %v", g, i, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
