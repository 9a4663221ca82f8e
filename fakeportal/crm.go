package fakeportal

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/olbot/olbot/bitrix24"
)

// dialogGet answers imopenlines.dialog.get by CHAT_ID or DIALOG_ID with the
// documented answer (imopenlines-dialog-get.md) carrying the chat's ids
// and CRM bindings.
func (p *Portal) dialogGet(prm params) (any, *apiErr) {
	id := prm.intval("CHAT_ID")
	if id == 0 {
		id = bitrix24.DialogChatID(prm.str("DIALOG_ID"))
	}
	c := p.lines[id]
	if c == nil {
		return nil, fail("ACCESS_ERROR", "You do not have access to the specified dialog")
	}
	res := group(mustTree("v1.answer.imopenlines.dialog.get"), "result")
	setPresent(res, map[string]any{"id": c.ChatID, "name": c.Client.Name + " - " + c.Connector, "entity_id": c.entityID(),
		"entity_data_1": fmt.Sprintf("Y|LEAD|%d|N|N|%d|0|0|0|0", c.LeadID, 300+c.ChatID), "entity_data_2": c.bindings(),
		"dialog_id": "chat" + strconv.Itoa(c.ChatID)})
	if link, ok := res["entity_link"].(map[string]any); ok {
		link["id"] = c.entityID()
	}
	return res, nil
}

// eventBind records event.bind (event-bind.md): an event name and a handler URL.
func (p *Portal) eventBind(prm params) (any, *apiErr) {
	ev, handler := strings.ToUpper(prm.str("event")), prm.str("handler")
	if !strings.HasPrefix(ev, "ON") {
		return nil, fail("ERROR_EVENT_NOT_FOUND", "Event not found")
	}
	if !isURL(handler) {
		return nil, fail("ERROR_EVENT_NOT_FOUND", "Handler is not a URL") // the docs list no other error
	}
	for _, h := range p.binds[ev] {
		if h == handler {
			return true, nil // a second bind of the same pair changes nothing (not documented)
		}
	}
	p.binds[ev] = append(p.binds[ev], handler)
	return true, nil
}

// Bound returns the handlers bound to an event with event.bind.
func (p *Portal) Bound(event string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.binds[strings.ToUpper(event)]...)
}

var reResult = regexp.MustCompile(`\$result\[([^\]]+)\]((?:\[[^\]]+\])*)`)

// substitute does what the portal does to a batch sub-call's params
// (batch.md): $result[key][field]… is replaced by that part of an earlier
// sub-call's result.
func substitute(v any, results map[string]any) any {
	switch x := v.(type) {
	case string:
		return reResult.ReplaceAllStringFunc(x, func(m string) string {
			parts := reResult.FindStringSubmatch(m)
			cur, ok := results[parts[1]]
			if !ok {
				return m
			}
			for _, f := range regexp.MustCompile(`\[([^\]]+)\]`).FindAllStringSubmatch(parts[2], -1) {
				next, ok := cur.(map[string]any)
				if !ok {
					return ""
				}
				cur = next[f[1]]
			}
			if str := scalar(cur); str != "" {
				return str
			}
			return fmt.Sprint(cur)
		})
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substitute(e, results)
		}
		return out
	}
	return v
}

// entityUpdate runs crm.contact.update / crm.deal.update on an entity made
// with AddCRM: multifields are added, other fields replaced.
func (p *Portal) entityUpdate(kind string, prm params) (any, *apiErr) {
	id := prm.intval("id")
	if id <= 0 {
		return nil, crmErr("ID is not defined or invalid.")
	}
	ent := p.crm[kind][id]
	if ent == nil {
		return nil, crmErr("Not found")
	}
	fields, e := leadFields(prm)
	if e != nil {
		return nil, e
	}
	mergeFields(ent, fields)
	return true, nil
}

// AddCRM creates a CRM contact or deal (kind "contact" or "deal") and
// returns its id, for chats bound to one (Chat.ContactID, Chat.DealID).
func (p *Portal) AddCRM(kind string, fields map[string]any) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.crm[kind] == nil {
		p.crm[kind] = map[int]map[string]any{}
	}
	p.nextLead++
	p.crm[kind][p.nextLead] = fields
	return p.nextLead
}

// CRM returns a copy of a contact or deal, or nil.
func (p *Portal) CRM(kind string, id int) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.crm[kind][id]
	if e == nil {
		return nil
	}
	out := make(map[string]any, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

// mergeFields writes an update's fields into a CRM entity: multifields
// (PHONE, EMAIL, …) are added to the entity's, other fields replaced.
func mergeFields(ent, fields map[string]any) {
	for k, v := range fields {
		if add, ok := v.([]map[string]string); ok {
			old, _ := ent[k].([]map[string]string)
			ent[k] = append(append([]map[string]string(nil), old...), add...)
			continue
		}
		ent[k] = v
	}
}

// leadFields checks crm fields: a group, with PHONE/EMAIL/WEB/IM as lists of {VALUE}.
func leadFields(prm params) (map[string]any, *apiErr) {
	raw, _ := prm.get("fields")
	fields, ok := jsonish(raw).(map[string]any)
	if !ok || len(fields) == 0 {
		return nil, crmErr("Parameter 'fields' must be array.")
	}
	out := map[string]any{}
	for k, v := range fields {
		key := strings.ToUpper(k)
		switch key {
		case "PHONE", "EMAIL", "WEB", "IM":
			list, ok := asList(v)
			if !ok {
				return nil, crmErr("Field " + key + " must be a list of {VALUE, VALUE_TYPE}")
			}
			var vals []map[string]string
			for _, e := range list {
				m, ok := e.(map[string]any)
				if !ok || scalar(m["VALUE"]) == "" {
					return nil, crmErr("Field " + key + " must be a list of {VALUE, VALUE_TYPE}")
				}
				vals = append(vals, map[string]string{"VALUE": scalar(m["VALUE"]), "VALUE_TYPE": scalar(m["VALUE_TYPE"])})
			}
			out[key] = vals
		default:
			out[key] = scalar(v)
		}
	}
	return out, nil
}

// crmErr is how crm.* methods answer: an empty code and a description.
func crmErr(desc string) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: "", desc: desc}
}

// newLeadLocked creates a lead with fields and returns its id.
func (p *Portal) newLeadLocked(fields map[string]any) int {
	p.nextLead++
	if fields == nil {
		fields = map[string]any{}
	}
	p.leads[p.nextLead] = fields
	return p.nextLead
}

func (p *Portal) leadAdd(prm params) (any, *apiErr) {
	fields, e := leadFields(prm)
	if e != nil {
		return nil, e
	}
	return p.id(p.newLeadLocked(fields)), nil
}

func (p *Portal) leadUpdate(prm params) (any, *apiErr) {
	id := prm.intval("id")
	if id <= 0 {
		return nil, crmErr("ID is not defined or invalid.")
	}
	lead := p.leads[id]
	if lead == nil {
		return nil, crmErr("Not found")
	}
	fields, e := leadFields(prm)
	if e != nil {
		return nil, e
	}
	mergeFields(lead, fields)
	return true, nil
}

func (p *Portal) leadGet(prm params) (any, *apiErr) {
	id := prm.intval("id")
	if id <= 0 {
		return nil, crmErr("ID is not defined or invalid.")
	}
	lead := p.leads[id]
	if lead == nil {
		return nil, crmErr("Not found")
	}
	out := map[string]any{"ID": strconv.Itoa(id)}
	for k, v := range lead {
		out[k] = v
	}
	return out, nil
}

// configGet answers imopenlines.config.get with the documented answer
// (imopenlines-config-get.md) carrying the line's id and LANGUAGE_ID: false
// for a line not in Config.Lines (when set), CONFIG_ID_EMPTY without one.
func (p *Portal) configGet(prm params) (any, *apiErr) {
	line := prm.intval("CONFIG_ID")
	if line <= 0 {
		return nil, fail("CONFIG_ID_EMPTY", "Config ID can't be empty")
	}
	if len(p.cfg.Lines) > 0 && !slices.Contains(p.cfg.Lines, line) {
		return false, nil
	}
	lang := p.lineLang[line]
	if lang == "" {
		lang = "en"
	}
	res := group(mustTree("v1.answer.imopenlines.config.get"), "result")
	setPresent(res, map[string]any{"ID": strconv.Itoa(line), "LANGUAGE_ID": lang})
	if kv := p.lineSettings[line]; kv != nil {
		setPresent(res, kv)
	}
	return res, nil
}

// SetLineSettings changes documented keys of the imopenlines.config.get
// answer for a line, e.g. {"WORKTIME_FROM": "09:00", "WELCOME_BOT_TIME": "600"}.
// Keys the documented answer lacks are not added.
func (p *Portal) SetLineSettings(line int, kv map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineSettings[line] = kv
}

// SetLineLanguage sets the LANGUAGE_ID imopenlines.config.get answers for a line.
func (p *Portal) SetLineLanguage(line int, lang string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLang[line] = lang
}
