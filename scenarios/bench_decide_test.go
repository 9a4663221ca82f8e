package scenarios

import (
	"testing"
	"time"
)

// BenchmarkConditions evaluates the three conditions of engine's
// BenchmarkStepBranches, none of which holds, as one decision does: the
// variables are built once, then each condition runs.
func BenchmarkConditions(b *testing.B) {
	sc, ps := Parse("branches.yaml", []byte(`
start: ask
settings:
  timezone: Europe/Moscow
hours:
  support:
    mon-fri: "09:00-18:00"
states:
  ask:
    ask: "Order total?"
    save: total
    type: number
    next:
      - if: total >= 5000 and client == "Boris"
        goto: done
      - if: set(name) or channel == "telegrambot"
        goto: done
      - if: now.weekday in ["sat", "sun"] and open("support")
        goto: done
      - goto: done
  name:
    ask: "Name?"
    save: name
    next: done
  done:
    say: bye
    finish: true
`))
	if sc == nil {
		b.Fatal(ps)
	}
	var conds []*Cond
	for _, br := range sc.States["ask"].Branches {
		if br.If != nil {
			conds = append(conds, br.If)
		}
	}
	env := Env{Fields: map[string]string{"total": "1200"}, Client: "Anna", Channel: "livechat",
		Time: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	for b.Loop() {
		v := sc.Vars(env)
		for _, c := range conds {
			if ok, err := v.Test(c); ok || err != nil {
				b.Fatal(c.Text, ok, err)
			}
		}
		v.Release()
	}
}
