package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/olbot/olbot/scenarios"
)

// shop is a scenario with menus, routes, commands, a choice, a yes/no and
// an email question, in Russian and English; fuzzy is filled in.
const shop = `
settings:
  languages: [ru, en]
  fuzzy: %v
commands:
  - match: [оператор*, operator]
    goto: person
start: menu
states:
  menu:
    say: {ru: "Чем помочь?", en: "How can we help?"}
    menu:
      - text: {ru: Оформить возврат, en: Return an item}
        goto: reason
      - text: {ru: Доставка, en: Delivery}
        goto: delivery
      - text: {ru: Оплата, en: Payment}
        goto: payment
      - text: {ru: Статус заказа, en: Order status}
        goto: email
    on:
      - match: [жалоб*, complaint*]
        goto: person
      - match: [возврат денег, refund]
        goto: payment
  reason:
    ask: {ru: "Причина?", en: "Why?"}
    type: choice
    options: [{ru: Брак, en: Defect}, {ru: Размер, en: Size}, {ru: Передумал, en: Changed my mind}]
    save: reason
    next: sure
  sure:
    ask: {ru: "Точно?", en: "Sure?"}
    type: yesno
    save: sure
    next: {yes: email, no: menu}
  email:
    ask: {ru: "Почта?", en: "E-mail?"}
    type: email
    save: email
    next: done
  delivery:
    say: {ru: "2–5 дней.", en: "2–5 days."}
    finish: true
  payment:
    say: {ru: "Картой.", en: "By card."}
    finish: true
  done:
    say: "OK"
    finish: true
  person:
    operator: any
`

func shopScenario(tb testing.TB, fuzzy bool) *scenarios.Scenario {
	return mustParse(tb, fmt.Sprintf(shop, fuzzy))
}

// Real typos of support chats, Russian and English: each finds its entry with
// fuzzy on and nothing with it off, except where the rules say no.
func TestFuzzyTypos(t *testing.T) {
	tests := []struct {
		name    string
		setup   []Event
		text    string
		off, on string // the state each setting leads to
	}{
		{"a swap in a command", nil, "опреатор", "menu", "person"},
		{"a missing letter in a button", nil, "Оформить возрат", "menu", "reason"},
		{"an English button with a wrong letter", nil, "Retrun an item", "menu", "reason"},
		{"a doubled letter", nil, "Достаавка", "menu", "delivery"},
		{"a typo in a stem route", nil, "у меня жолоба", "menu", "person"}, // "жалоб*": the start "жолоб" is one edit away
		{"a typo in a longer stem", nil, "хочу оставить complant", "menu", "person"},
		{"in a sentence", nil, "хочу узнать статус закза", "menu", "email"},
		{"a short word stays exact", nil, "Оплта", "menu", "payment"},
		{"two typos are too many", nil, "Дсотавак", "menu", "menu"},
		{"an option with a typo", []Event{msg("Оформить возврат")}, "Передумла", "reason", "sure"},
		{"a yes word with a typo", []Event{msg("Оформить возврат"), msg("Брак")}, "конечо", "sure", "email"},
		{"never in an email answer", []Event{msg("Статус заказа")}, "опреатор", "email", "email"},
		{"an exact command still wins in an email answer", []Event{msg("Статус заказа")}, "оператор", "person", "person"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, fuzzy := range []bool{false, true} {
				sc := shopScenario(t, fuzzy)
				d := play(t, sc, Dialog{Key: "t"}, append([]Event{start()}, tc.setup...)...)
				r, err := Step(sc, d, msg(tc.text))
				if err != nil {
					t.Fatal(err)
				}
				want := tc.off
				if fuzzy {
					want = tc.on
				}
				if r.Dialog.State != want {
					t.Errorf("fuzzy=%v: %q leads to %q, want %q", fuzzy, tc.text, r.Dialog.State, want)
				}
			}
		})
	}
}

// When two entries that lead to different places match a typo equally, the
// message matches neither.
func TestFuzzyAmbiguous(t *testing.T) {
	sc := mustParse(t, `
settings: {fuzzy: true}
start: menu
states:
  menu:
    say: "?"
    menu:
      - text: Оплата картой
        goto: card
      - text: Оплата курьеру
        goto: courier
      - text: Доставка
        goto: delivery
    on:
      - match: доставк*
        goto: delivery
    next: menu
  card: {finish: true}
  courier: {finish: true}
  delivery: {finish: true}
`)
	for text, want := range map[string]string{
		"Оплата картй":   "card",     // one entry
		"оплата курьеро": "courier",  // the other
		"Дотсавка":       "delivery", // a button and a route, both to delivery: no conflict
	} {
		d := play(t, sc, Dialog{Key: "t"}, start())
		r, err := Step(sc, d, msg(text))
		if err != nil {
			t.Fatal(err)
		}
		if r.Dialog.State != want {
			t.Errorf("%q leads to %q, want %q", text, r.Dialog.State, want)
		}
	}
	amb := mustParse(t, `
settings: {fuzzy: true}
start: menu
states:
  menu:
    say: "?"
    menu:
      - text: Карта
        goto: card
      - text: Кассир
        goto: cash
    on:
      - match: [оплата]
        goto: card
      - match: [оплпта]
        goto: cash
    next: menu
  card: {finish: true}
  cash: {finish: true}
`)
	d := play(t, amb, Dialog{Key: "t"}, start())
	r, err := Step(amb, d, msg("оплата"))
	if err != nil || r.Dialog.State != "card" {
		t.Fatalf("an exact match: state %q, %v", r.Dialog.State, err)
	}
	r, err = Step(amb, d, msg("оплдта")) // one edit from both routes
	if err != nil || r.Dialog.State != "menu" {
		t.Fatalf("two routes one typo away: state %q, want menu (neither), %v", r.Dialog.State, err)
	}
}

// Turning fuzzy on never makes a message that matched an entry match a
// different one: for random messages built from the scenario's words, with
// random typos, the state fuzzy off leads to is the state fuzzy on leads to
// whenever fuzzy off matched something.
func TestFuzzyNeverChangesAMatch(t *testing.T) {
	off, on := shopScenario(t, false), shopScenario(t, true)
	words := strings.Fields("оформить возврат return an item доставка delivery оплата payment статус заказа order status " +
		"жалоба complaint возврат денег refund оператор operator брак defect размер size передумал changed my mind " +
		"да нет конечно yes no sure пожалуйста хочу please anna@example.com")
	setups := [][]Event{nil, {msg("Оформить возврат")}, {msg("Оформить возврат"), msg("Брак")}, {msg("Статус заказа")}}
	rng := rand.New(rand.NewPCG(1, 2))
	matched := 0
	for i := range 4000 {
		n := 1 + rng.IntN(3)
		var parts []string
		for range n {
			w := []rune(words[rng.IntN(len(words))])
			if rng.IntN(3) == 0 && len(w) > 1 { // a typo: a swap, a deletion or a doubling
				j := rng.IntN(len(w) - 1)
				switch rng.IntN(3) {
				case 0:
					w[j], w[j+1] = w[j+1], w[j]
				case 1:
					w = append(w[:j], w[j+1:]...)
				default:
					w = append(w[:j+1], w[j:]...)
				}
			}
			parts = append(parts, string(w))
		}
		text := strings.Join(parts, " ")
		setup := setups[i%len(setups)]
		dOff := play(t, off, Dialog{Key: "t"}, append([]Event{start()}, setup...)...)
		dOn := play(t, on, Dialog{Key: "t"}, append([]Event{start()}, setup...)...)
		rOff, err1 := Step(off, dOff, msg(text))
		rOn, err2 := Step(on, dOn, msg(text))
		if err1 != nil || err2 != nil {
			t.Fatalf("%q: %v, %v", text, err1, err2)
		}
		if len(rOff.Moves) == 0 || rOff.Moves[0].Event == scenarios.EdgeRetry {
			continue // matched nothing: fuzzy may find an entry
		}
		matched++
		if rOff.Dialog.State != rOn.Dialog.State || rOff.Moves[0] != rOn.Moves[0] {
			t.Errorf("%q after %v: fuzzy off takes %v to %q, fuzzy on %v to %q", text, setup, rOff.Moves[0], rOff.Dialog.State, rOn.Moves[0], rOn.Dialog.State)
		}
	}
	if matched < 500 {
		t.Fatalf("only %d of the messages matched an entry: the property is hardly tested", matched)
	}
}

func TestLanguages(t *testing.T) {
	sc := shopScenario(t, false)
	tests := []struct {
		name  string
		line  string // the line's language in the start event
		evs   []Event
		lang  string
		texts []string // the last step's message texts
	}{
		{"the default without a line language", "", nil, "ru", []string{"Чем помочь?"}},
		{"the line's language when listed", "en", nil, "en", []string{"How can we help?"}},
		{"a line language not listed gives the default", "de", nil, "ru", []string{"Чем помочь?"}},
		{"a Bitrix24 code is mapped", "EN", nil, "en", []string{"How can we help?"}},
		{"an English button in a Russian dialog", "", []Event{msg("Return an item")}, "ru", []string{"Причина?"}},
		{"buttons in the dialog's language", "en", []Event{btn(1)}, "en", []string{"Why?"}},
		{"an option in another language saves the default text", "en", []Event{btn(1), msg("брак")}, "en", []string{"Sure?"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Dialog{Key: "t"}
			evs := append([]Event{{Type: Start, Language: tc.line}}, tc.evs...)
			var r Result
			for _, ev := range timed(evs...) {
				var err error
				if r, err = Step(sc, d, ev); err != nil {
					t.Fatal(err)
				}
				d = r.Dialog
			}
			if got := Language(sc, d); got != tc.lang {
				t.Errorf("language %q, want %q", got, tc.lang)
			}
			var texts []string
			for _, a := range r.Actions {
				if s, ok := a.(Say); ok {
					texts = append(texts, s.Text)
				}
			}
			if strings.Join(texts, "|") != strings.Join(tc.texts, "|") {
				t.Errorf("texts %q, want %q", texts, tc.texts)
			}
			if d.State == "sure" && d.Fields["reason"] != "Брак" {
				t.Errorf("reason %q, want the default language's Брак", d.Fields["reason"])
			}
		})
	}
}

func TestLanguageMenuAndDetection(t *testing.T) {
	sc := mustParse(t, `
settings: {languages: [ru, en], detect_language: true}
start: hello
states:
  hello:
    say: {ru: "Привет", en: "Hello"}
    menu:
      - text: English
        goto: en
      - text: Русский
        goto: ru
  en:
    set: {language: en}
    say: {ru: "Русский", en: "English"}
    next: hello
  ru:
    set: {language: ru}
    say: {ru: "Русский", en: "English"}
    next: hello
`)
	d := play(t, sc, Dialog{Key: "t"}, start(), msg("hi there"))
	if d.Language != "en" || !d.LanguageChosen {
		t.Fatalf("a Latin first message: language %q chosen=%v, want en", d.Language, d.LanguageChosen)
	}
	d = play(t, sc, d, msg("привет"))
	if d.Language != "en" {
		t.Fatalf("detection is once: language %q, want en", d.Language)
	}
	r, err := Step(sc, d, msg("Русский"))
	if err != nil || r.Dialog.Language != "ru" {
		t.Fatalf("set: {language: ru}: %q, %v", r.Dialog.Language, err)
	}
	if s := r.Actions[0].(Say); s.Text != "Русский" {
		t.Fatalf("set runs before say: %q", s.Text)
	}
	// the choice is kept by the next run
	d = play(t, sc, r.Dialog, closeEv(), Event{Type: Start, Language: "en"})
	if d.Language != "ru" {
		t.Fatalf("a new run keeps the chosen language: %q", d.Language)
	}
}
