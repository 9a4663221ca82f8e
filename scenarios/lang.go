package scenarios

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/match"
)

// Several languages: any text of a scenario may be a map of language codes
// to texts. The decoder keeps every translation with its position; the
// default language (the first of settings.languages) gives the text that
// graphs, branch keys and saved choices use.

// translation is one language's version of a template.
type translation struct {
	Lang string
	T    *Template
}

// In returns the template in language lang: its translation, or the
// template itself (the default language's text, or a plain text that
// serves every language).
func (t *Template) In(lang string) *Template {
	for i := range t.tr {
		if t.tr[i].Lang == lang {
			return t.tr[i].T
		}
	}
	return t
}

// Languages returns the languages the template is written in, in file
// order; nil for a plain text.
func (t *Template) Languages() []string {
	out := make([]string, len(t.tr))
	for i, x := range t.tr {
		out[i] = x.Lang
	}
	return out
}

// labelText is one language's text of a button or an option.
type labelText struct {
	Lang, Text string
	match      match.Pattern
}

// langMap is a text written as a map of languages, as the checks see it:
// where it is and which languages it lists.
type langMap struct {
	Path  string
	At    Pos
	Codes []val[string] // the keys in file order
}

// peekLanguages reads settings.languages from the tree before decoding, so
// that every text map can take its default at once. What it reads is
// decoded and checked properly later.
func peekLanguages(root *yaml.Node) []string {
	settings := mapValue(root, "settings")
	if settings == nil {
		return nil
	}
	list := mapValue(settings, "languages")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, item := range list.Content {
		if item.Kind == yaml.ScalarNode {
			out = append(out, item.Value)
		}
	}
	return out
}

// mapValue is the value of key in the mapping n, nil when there is none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// textMap reports whether v is meant as a text in several languages: a map
// in a scenario that lists its languages, or a map whose keys are all
// language codes. Any other map is a text of the wrong kind.
func (d *decoder) textMap(v *yaml.Node) bool {
	if v.Kind != yaml.MappingNode {
		return false
	}
	if d.defaultLang != "" {
		return true
	}
	for i := 0; i < len(v.Content); i += 2 {
		if ok, _ := languageCode(v.Content[i].Value); !ok {
			return false
		}
	}
	return len(v.Content) > 0
}

// langEntry is one key of a text map, before its text is decoded.
type langEntry struct {
	Code string
	K, V *yaml.Node
	Path string
}

// langEntries walks a text map and records it for the checks.
func (d *decoder) langEntries(v *yaml.Node, p string) []langEntry {
	var out []langEntry
	m := langMap{Path: p, At: posOf(v)}
	d.mapping(v, p, nil, func(key string, k, lv *yaml.Node, lp string) {
		out = append(out, langEntry{Code: key, K: k, V: lv, Path: lp})
		m.Codes = append(m.Codes, val[string]{V: key, At: posOf(k), Set: true})
	})
	d.langMaps = append(d.langMaps, m)
	return out
}

// isDefault reports whether entry i of a map gives its default text: the
// default language's, or the first when the map lacks it (an error the
// checks report).
func (d *decoder) isDefault(entries []langEntry, i int) bool {
	for j, e := range entries {
		if e.Code == d.defaultLang {
			return i == j
		}
	}
	return i == 0
}

// translatedTemplate decodes a text map into a template whose own text is
// the default language's and whose translations are all of them.
func (d *decoder) translatedTemplate(v *yaml.Node, p string) val[*Template] {
	n := len(d.problems)
	entries := d.langEntries(v, p)
	t := &Template{}
	for i, e := range entries {
		if e.V.Kind == yaml.MappingNode {
			d.errorf(e.V, e.Path, ErrValue, "write one text per language, e.g. {ru: \"Привет\", en: \"Hello\"}", "expected text, got a map of keys")
			continue
		}
		x := d.plainTemplate(e.V, e.Path)
		if x.V == nil {
			continue
		}
		if d.isDefault(entries, i) {
			*t = *x.V
			t.Fields = append([]string(nil), x.V.Fields...)
			t.fieldPos = append([]Pos(nil), x.V.fieldPos...)
		}
		t.tr = append(t.tr, translation{Lang: e.Code, T: x.V})
	}
	if len(t.tr) == 0 {
		return mark[*Template](d, v, n, nil)
	}
	t.pos = posOf(v)
	for _, x := range t.tr { // the checks see the fields of every language
		for i, f := range x.T.Fields {
			if !contains(t.Fields, f) {
				t.Fields = append(t.Fields, f)
				t.fieldPos = append(t.fieldPos, fieldPos(x.T, i))
			}
		}
	}
	return mark(d, v, n, t)
}

// label decodes a button's or an option's text: a text, or a map of
// languages. It returns the default language's text and, for a map, every
// language's text compiled for matching.
func (d *decoder) label(v *yaml.Node, p, hint string) (val[string], match.Pattern, []labelText) {
	n := len(d.problems)
	if !d.textMap(v) {
		s := d.textVal(v, p)
		if s.Bad {
			return s, match.Pattern{}, nil
		}
		pat, err := match.Compile(s.V)
		if err != nil {
			d.errorf(v, p, ErrValue, hint, "%v", err)
			s.Bad = true
		}
		return s, pat, nil
	}
	entries := d.langEntries(v, p)
	var out []labelText
	var def string
	var defPat match.Pattern
	for i, e := range entries {
		s, ok := d.text(e.V, e.Path)
		if !ok {
			continue
		}
		pat, err := match.Compile(s)
		if err != nil {
			d.errorf(e.V, e.Path, ErrValue, hint, "%v", err)
			continue
		}
		if d.isDefault(entries, i) {
			def, defPat = s, pat
		}
		out = append(out, labelText{Lang: e.Code, Text: s, match: pat})
	}
	return mark(d, v, n, def), defPat, out
}

// LanguageField is the name under which set: changes the dialog's language.
const LanguageField = "language"

// languageCode reports whether s is a language code as settings.languages
// takes them: a two-letter ISO 639-1 code in lower case, and when it is not,
// what to write instead.
func languageCode(s string) (ok bool, hint string) {
	if b, err := language.ParseBase(s); err == nil {
		if b.String() == s && len(s) == 2 {
			return true, ""
		}
		if len(b.String()) == 2 {
			return false, fmt.Sprintf("write %s: languages are two-letter ISO 639-1 codes", b.String())
		}
	}
	if iso, ok := portalCodes[strings.ToLower(s)]; ok {
		return false, fmt.Sprintf("write %s: %q is Bitrix24's own code; olbot maps it to %s itself", iso, s, iso)
	}
	return false, "write a two-letter ISO 639-1 code, e.g. ru, en, de, uk, kk"
}

// portalCodes are the Bitrix24 language ids that are not ISO 639-1 codes.
var portalCodes = map[string]string{"ua": "uk", "kz": "kk", "la": "es", "br": "pt", "sc": "zh", "tc": "zh", "vn": "vi"}

// IsLanguageID reports whether s names a language as an event may give
// it: a two-letter ISO 639-1 code (en, ru) or one of Bitrix24's own
// language ids (ua, kz, …), in either case.
func IsLanguageID(s string) bool {
	l := PortalLanguage(s)
	if len(l) != 2 {
		return false
	}
	b, err := language.ParseBase(l)
	return err == nil && b.String() == l
}

// PortalLanguage turns a Bitrix24 language id (an Open Line's LANGUAGE_ID)
// into the ISO 639-1 code scenarios use: "ua" is Ukrainian, "uk".
func PortalLanguage(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if iso, ok := portalCodes[id]; ok {
		return iso
	}
	return id
}

// HasLanguage reports whether lang is one of the scenario's languages.
func (s *Scenario) HasLanguage(lang string) bool { return contains(s.Languages, lang) }

// DefaultLanguage is the scenario's first language, "" when it lists none.
func (s *Scenario) DefaultLanguage() string {
	if len(s.Languages) == 0 {
		return ""
	}
	return s.Languages[0]
}

// cyrillic are the languages written in Cyrillic script; any other
// two-letter code counts as Latin-script unless listed in otherScript.
var (
	cyrillic    = map[string]bool{"ru": true, "uk": true, "be": true, "bg": true, "sr": true, "mk": true, "kk": true, "ky": true, "mn": true, "tg": true, "tt": true, "ba": true, "cv": true}
	otherScript = map[string]bool{"zh": true, "ja": true, "ko": true, "ar": true, "he": true, "el": true, "hy": true, "ka": true, "hi": true, "th": true, "fa": true, "ur": true, "bn": true, "ta": true}
)

// Detect picks the scenario's language by the script of a client's
// message (settings.detect_language): Cyrillic letters choose the first
// Cyrillic-script language, Latin letters the first Latin-script one. It
// returns "" when the message has as many letters of one as of the other
// (none, say), or
// the scenario has no language of that script.
func (s *Scenario) Detect(text string) string {
	var cyr, lat int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
		case unicode.Is(unicode.Latin, r):
			lat++
		}
	}
	if cyr == lat {
		return ""
	}
	for _, l := range s.Languages {
		if cyrillic[l] == (cyr > lat) && !otherScript[l] {
			return l
		}
	}
	return ""
}
