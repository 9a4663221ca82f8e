package engine

import "testing"

// TestPhoneRegion: a phone without "+" is read for settings.country, else
// for the country of the scenario's default language, else taken as typed
// (with a check warning that settings.country is missing).
func TestPhoneRegion(t *testing.T) {
	const states = `
start: ask
states:
  ask:
    ask: "Phone?"
    save: phone
    type: phone
    on_fail: bye
    next: done
  done:
    say: "{{phone}}"
    finish: true
  bye:
    finish: true
`
	tests := []struct {
		name, settings, answer, want string
		warns                        bool
	}{
		{"settings.country", "settings: {country: RU}\n", "8 (999) 123-45-67", "+79991234567", false},
		{"the default language's country", "settings: {languages: [ru, en]}\n", "8 (999) 123-45-67", "+79991234567", false},
		{"the default language's country, ten digits", "settings: {languages: [ru, en]}\n", "9991234567", "+79991234567", false},
		{"settings.country before the language", "settings: {languages: [ru, en], country: KZ}\n", "8 (701) 123-45-67", "+77011234567", false},
		{"a language without a country: as typed", "settings: {languages: [en, ru]}\n", "8 (999) 123-45-67", "+89991234567", true},
		{"nothing: as typed", "", "8 (999) 123-45-67", "+89991234567", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustParse(t, tc.settings+states)
			warned := false
			for _, w := range sc.Warnings {
				if w.Path == "states.ask.type" && w.Warning {
					warned = true
				}
			}
			if warned != tc.warns {
				t.Errorf("settings.country warning: %v, want %v (%v)", warned, tc.warns, sc.Warnings)
			}
			d := Dialog{Key: "api:phone"}
			for _, ev := range timed(start(), msg(tc.answer)) {
				r, err := Step(sc, d, ev)
				if err != nil {
					t.Fatal(err)
				}
				d = r.Dialog
			}
			if got := d.Fields["phone"]; got != tc.want {
				t.Errorf("saved %q, want %q", got, tc.want)
			}
		})
	}
}
