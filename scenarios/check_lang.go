package scenarios

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the language checks; test with errors.Is.
var (
	// ErrLanguage: a language code that is not one, or not one the scenario lists.
	ErrLanguage = errors.New("bad language")
	// ErrTranslation: a text map lacks a language of settings.languages.
	ErrTranslation = errors.New("missing translation")
)

// languages checks settings.languages, every text map and every set:
// language against each other.
func (c *checker) languages() {
	s := &c.def.Settings
	var langs []string
	for i, l := range s.Languages.V {
		if l.Bad {
			continue
		}
		path := fmt.Sprintf("settings.languages[%d]", i)
		if ok, hint := languageCode(l.V); !ok {
			c.errorf(l.At, path, ErrLanguage, hint, "%q is not a language code", l.V)
			continue
		}
		if contains(langs, l.V) {
			c.errorf(l.At, path, ErrLanguage, "remove the second one", "language %q is listed twice", l.V)
			continue
		}
		langs = append(langs, l.V)
	}
	if s.Languages.ok() && len(s.Languages.V) == 0 {
		c.errorf(s.Languages.At, "settings.languages", ErrLanguage, "list the languages, the default first, e.g. [ru, en], or remove languages:", "languages: is empty")
	}
	if s.DetectLanguage.V && len(langs) < 2 {
		c.warnf(s.DetectLanguage.At, "settings.detect_language", ErrLanguage, "list two languages or more in settings.languages, e.g. [ru, en]", "detect_language has nothing to choose from")
	}
	for _, m := range c.def.langMaps {
		c.langMap(m, langs)
	}
	for _, st := range c.def.States.V {
		for _, a := range st.Set.V {
			if a.Field == LanguageField && a.Value.ok() && a.Value.V != nil {
				c.languageRef(a.Value.V.Raw, a.Value.At, "states."+st.Name+".set."+LanguageField, langs)
			}
		}
	}
}

// languageRef checks a language a scenario names: one of its languages.
func (c *checker) languageRef(code string, at Pos, path string, langs []string) bool {
	if ok, hint := languageCode(code); !ok {
		c.errorf(at, path, ErrLanguage, hint, "%q is not a language code", code)
		return false
	}
	if !contains(langs, code) {
		hint := "add it to settings.languages, e.g. languages: [" + strings.Join(append(append([]string(nil), langs...), code), ", ") + "]"
		if len(langs) == 0 {
			hint = "list the scenario's languages first, e.g. settings: {languages: [ru, " + code + "]}"
		}
		c.errorf(at, path, ErrLanguage, hint, "language %q is not in settings.languages", code)
		return false
	}
	return true
}

// langMap checks one text map: its keys are the scenario's languages, the
// default one is there (an error otherwise) and so are the others (a
// warning otherwise).
func (c *checker) langMap(m langMap, langs []string) {
	if len(langs) == 0 {
		if !c.def.Settings.Languages.Set {
			c.errorf(m.At, m.Path, ErrLanguage, "list the languages first, the default first, e.g. settings: {languages: [ru, en]}; or write one text",
				"a text in several languages needs settings.languages")
		}
		return
	}
	has := map[string]bool{}
	for _, k := range m.Codes {
		if c.languageRef(k.V, k.At, m.Path+"."+k.V, langs) {
			has[k.V] = true
		}
	}
	for i, l := range langs {
		if has[l] {
			continue
		}
		if i == 0 {
			c.errorf(m.At, m.Path, ErrTranslation, fmt.Sprintf("add %s: \"…\"; the default language's text is what every other language falls back to", l),
				"no text in %s, the default language", l)
			continue
		}
		c.warnf(m.At, m.Path, ErrTranslation, fmt.Sprintf("add %s: \"…\"; until then clients in %s see the %s text", l, l, langs[0]),
			"no text in %s", l)
	}
}
