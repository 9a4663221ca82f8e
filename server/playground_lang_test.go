package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/olbot/olbot/memstore"
)

// The playground shows a scenario's languages, starts a dialog in the
// chosen one and switches a running dialog's language.
func TestPlaygroundLanguages(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/bilingual.yaml", "../examples/support.yaml"}, nil), memstore.New(), Config{})
	var list PGScenarios
	e.must(http.MethodGet, "/playground/api/scenarios", "", &list)
	langs := map[string]string{}
	for _, sc := range list.Scenarios {
		langs[sc.Name] = strings.Join(sc.Languages, ",")
	}
	if langs["bilingual"] != "ru,en" || langs["support"] != "" {
		t.Fatalf("languages=%v, want bilingual ru,en and support none", langs)
	}

	r := e.pg("l1", `{"scenario":"bilingual","type":"start","client":"Ann","language":"en"}`)
	if r.Dialog.Language != "en" || !strings.Contains(string(r.Actions), "How can we help?") {
		t.Fatalf("start in en: language %q, actions %s", r.Dialog.Language, r.Actions)
	}
	r = e.pg("l1", `{"type":"language","language":"ru"}`)
	if r.Dialog.Language != "ru" || r.Outcome != "applied" || r.Dialog.State != "topics" {
		t.Fatalf("switch to ru: %+v, outcome %q", r.Dialog, r.Outcome)
	}
	r = e.pg("l1", `{"type":"button","button":2}`)
	if !strings.Contains(string(r.Actions), "Доставка по России") {
		t.Fatalf("after the switch the dialog speaks Russian: %s", r.Actions)
	}
	var d DialogView
	e.must(http.MethodGet, "/playground/api/dialogs/l1", "", &d)
	if d.Language != "ru" {
		t.Fatalf("dialog view language %q, want ru", d.Language)
	}

	for _, body := range []string{
		`{"type":"language","language":"de"}`, // not one of the scenario's
		`{"type":"language"}`,                 // no language
	} {
		if code, b := e.call(http.MethodPost, "/playground/api/dialogs/l1/events", body); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", body, code, b)
		}
	}
}
