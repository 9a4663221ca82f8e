package scenarios

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
)

// Decoding of the decision keys: `if:` conditions, `next` as a list of
// branches, `set:`, `hours:`, `settings.timezone` and `settings.country`.

// condSrc is a condition as written; the conditions pass compiles it.
type condSrc struct {
	Text string
	At   Pos
	pos  func(off int) Pos // the file position of a byte offset in Text
	cond *Cond             // set by compileConds
}

// ifBranchDef is one item of next: as a list.
type ifBranchDef struct {
	scope
	If   val[*condSrc]
	Goto val[string]
}

// setDef is one field of set:.
type setDef struct {
	Field string
	At    Pos // the key
	Value val[*Template]
}

// hoursDef is one named schedule of hours:.
type hoursDef struct {
	Name  string
	At    Pos
	Sched *Schedule
}

var ifBranchKeys = []string{"if", "goto"}

func (d *decoder) cond(v *yaml.Node, p string) val[*condSrc] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if !ok {
		return mark[*condSrc](d, v, n, nil)
	}
	return mark(d, v, n, &condSrc{Text: s, At: posOf(v), pos: func(off int) Pos { return d.textPos(v, off) }})
}

// nextList decodes next: as a list of `{if: COND, goto: STATE}` items.
func (d *decoder) nextList(v *yaml.Node, p string) val[[]ifBranchDef] {
	n := len(d.problems)
	var out []ifBranchDef
	named := false // an item is a bare state name: reported once
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		var b ifBranchDef
		if item.Kind == yaml.ScalarNode {
			if !named {
				d.errorf(item, ip, ErrValue, "write next: "+item.Value+" for one state, or branches like - if: COND / goto: STATE, ending with - goto: STATE",
					"branch %d of next: is %q; a list next: takes {if: COND, goto: STATE} items", i+1, item.Value)
			}
			named = true
			return
		}
		if d.mappingIn(item, ip, ifBranchKeys, &b.scope, func(key string, k, v *yaml.Node, p string) {
			switch key {
			case "if":
				b.If = d.cond(v, p)
			case "goto":
				b.Goto = d.nameVal(v, p, "state")
			}
		}) {
			b.At = posOf(item)
			out = append(out, b)
		}
	})
	if len(v.Content) == 0 {
		d.errorf(v, p, ErrValue, "add branches like - if: COND / goto: STATE, ending with - goto: STATE", "next: is an empty list")
	}
	return mark(d, v, n, out)
}

// sets decodes set: {field: template, …}.
func (d *decoder) sets(v *yaml.Node, p string) val[[]setDef] {
	n := len(d.problems)
	var out []setDef
	d.mapping(v, p, nil, func(key string, k, sv *yaml.Node, sp string) {
		if !validName(key) || key == ClientField {
			d.errorf(k, sp, ErrValue, "use a field name of letters, digits and _, e.g. topic", "%q cannot be set", key)
			return
		}
		out = append(out, setDef{Field: key, At: posOf(k), Value: d.template(sv, sp)})
	})
	return mark(d, v, n, out)
}

func (d *decoder) timezone(v *yaml.Node, p string) val[*time.Location] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	var loc *time.Location
	if ok {
		l, err := time.LoadLocation(s)
		switch {
		case err != nil || s == "" || s == "Local":
			d.errorf(v, p, ErrValue, "write an IANA time zone name, e.g. Europe/Moscow or Asia/Yekaterinburg", "unknown time zone %q", s)
		default:
			loc = l
		}
	}
	return mark(d, v, n, loc)
}

func (d *decoder) country(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if ok && !answers.KnownRegion(strings.ToUpper(s)) {
		d.errorf(v, p, ErrValue, "write a two-letter ISO country code, e.g. RU, KZ or US", "unknown country %q", s)
		s = ""
	}
	return mark(d, v, n, strings.ToUpper(s))
}

// hours decodes hours: {NAME: SCHEDULE | from_line, …}.
func (d *decoder) hours(v *yaml.Node, p string) val[[]hoursDef] {
	n := len(d.problems)
	var out []hoursDef
	d.mapping(v, p, nil, func(name string, k, hv *yaml.Node, hp string) {
		if !validName(name) {
			d.errorf(k, hp, ErrHours, "use letters, digits, _ and -, e.g. support", "%q is not a valid name for hours", name)
			return
		}
		// kept when malformed (nil), so open() of it is not a second error
		out = append(out, hoursDef{Name: name, At: posOf(k), Sched: d.schedule(hv, hp)})
	})
	return mark(d, v, n, out)
}

// schedule decodes one schedule; nil when it is malformed.
func (d *decoder) schedule(v *yaml.Node, p string) *Schedule {
	if v.Kind == yaml.ScalarNode && v.Value == "from_line" {
		return &Schedule{FromLine: true}
	}
	if v.Kind != yaml.MappingNode {
		d.errorf(v, p, ErrHours, `write days and intervals, e.g. {mon-fri: "09:00-18:00"}, or from_line`, "expected a schedule")
		return nil
	}
	sch := &Schedule{}
	before := len(d.problems)
	d.mapping(v, p, nil, func(key string, k, dv *yaml.Node, dp string) {
		if key == "closed" {
			d.closedDates(sch, dv, dp)
			return
		}
		days, err := parseDays(key)
		if err != nil {
			d.problems = append(d.problems, &Problem{File: d.file, Pos: d.textPos(k, err.Off), Path: dp, Err: ErrHours, Msg: err.Msg, Hint: err.Hint})
			return
		}
		s, ok := d.text(dv, dp)
		if !ok {
			return
		}
		spans, err := parseSpans(s)
		if err != nil {
			d.problems = append(d.problems, &Problem{File: d.file, Pos: d.textPos(dv, err.Off), Path: dp, Err: ErrHours, Msg: err.Msg, Hint: err.Hint})
			return
		}
		for _, wd := range days {
			sch.days[wd] = append(sch.days[wd], spans...)
		}
	})
	if d.problems[before:].HasErrors() {
		return nil
	}
	return sch
}

func (d *decoder) closedDates(sch *Schedule, v *yaml.Node, p string) {
	dates, nodes, ok := d.texts(v, p)
	if !ok {
		return
	}
	sch.closed = map[date]bool{}
	for i, s := range dates {
		date, err := parseDate(s)
		if err != nil {
			d.errorf(nodes[i], fmt.Sprintf("%s[%d]", p, i), ErrHours, err.Hint, "%s", err.Msg)
			continue
		}
		sch.closed[date] = true
	}
}

// lastGoto is the target of the otherwise-branch of a list next:, "" when
// the last item has a condition (an error the checks report).
func lastGoto(list []ifBranchDef) string {
	if len(list) == 0 || list[len(list)-1].If.Set {
		return ""
	}
	return list[len(list)-1].Goto.V
}
