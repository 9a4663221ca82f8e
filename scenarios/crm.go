package scenarios

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// CRM: `crm: lead` writes every collected field into the chat's lead;
// `crm: {lead: {fields: [name, phone, topic], title: "Request: {{topic}}"}}`
// writes only the listed fields, with the given title.

// crmLeadDef is the map form's lead: {fields, title}.
type crmLeadDef struct {
	scope        // the lead's map
	outer  scope // crm:'s own map
	Fields val[[]val[string]]
	Title  val[*Template]
}

var (
	crmKeys     = []string{"lead"}
	crmLeadKeys = []string{"fields", "title"}
)

const crmHint = `write crm: lead, or crm: {lead: {fields: [name, phone], title: "Request: {{topic}}"}}`

// crm decodes crm: lead or crm: {lead: {fields: […], title: …}}.
func (d *decoder) crm(v *yaml.Node, p string) (val[string], val[crmLeadDef]) {
	if r := d.resolve(v); r == nil || r.Kind != yaml.MappingNode {
		return d.action("crm", v, p), val[crmLeadDef]{}
	}
	n := len(d.problems)
	var lead crmLeadDef
	var leadSet bool
	ok := d.mappingIn(v, p, crmKeys, &lead.outer, func(key string, k, lv *yaml.Node, lp string) {
		leadSet = true
		if isNull(lv) {
			return // crm: {lead: } is crm: lead
		}
		if lv.Kind != yaml.MappingNode {
			d.errorf(lv, lp, ErrValue, crmHint, "expected the lead's fields and title")
			return
		}
		d.mappingIn(lv, lp, crmLeadKeys, &lead.scope, func(key string, k, fv *yaml.Node, fp string) {
			switch key {
			case "fields":
				lead.Fields = d.crmFields(fv, fp)
			case "title":
				lead.Title = d.template(fv, fp)
			}
		})
	})
	target := mark(d, v, n, "")
	if ok && leadSet {
		target.V = "lead"
	} else if ok && len(lead.outer.unknown) == 0 {
		d.errorf(v, p, ErrValue, crmHint, "crm: names no CRM target")
		target.Bad = true
	}
	return target, mark(d, v, n, lead)
}

func (d *decoder) crmFields(v *yaml.Node, p string) val[[]val[string]] {
	n := len(d.problems)
	var out []val[string]
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, p, ErrValue, "write the fields as a list, e.g. fields: [name, phone, topic]", "expected a list of fields")
		return mark(d, v, n, out)
	}
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		out = append(out, d.nameVal(item, ip, "field"))
	})
	if len(v.Content) == 0 {
		d.errorf(v, p, ErrValue, "list the fields to write, or write crm: lead for all of them", "fields: is empty")
	}
	return mark(d, v, n, out)
}

// crmLead: the listed fields are fields the scenario collects.
func (s *stateCheck) crmLead() {
	fields := fieldTypes(s.def)
	known := keysOf(fields)
	seen := map[string]bool{}
	for i, f := range s.st.CRMLead.V.Fields.V {
		path := fmt.Sprintf("%s.crm.lead.fields[%d]", s.path, i)
		switch _, ok := fields[f.V]; {
		case f.Bad || f.V == "":
		case f.V == ClientField:
			s.errorf(f.At, path, ErrValue, "collect the name with ask: and save: name, and list name", "%q is the channel's name for the client, not a collected field", f.V)
		case !ok:
			s.errorf(f.At, path, ErrValue, s.didYouMeanOr(f.V, known, "collect it with save: or set: first; fields here: "+listOf(known)), "no state collects %q", f.V)
		case seen[f.V]:
			s.errorf(f.At, path, ErrValue, "remove the second one", "%q is listed twice", f.V)
		}
		seen[f.V] = true
	}
}

func compileCRM(st *stateDef, out *State) {
	lead := st.CRMLead.V
	if !st.CRMLead.Set {
		return
	}
	if lead.Fields.Set {
		out.CRMFields = []string{}
		for _, f := range lead.Fields.V {
			out.CRMFields = append(out.CRMFields, f.V)
		}
	}
	out.CRMTitle = lead.Title.V
}
