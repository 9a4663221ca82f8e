package bitrix24

import (
	"slices"
	"strings"
	"time"
)

// DecodeEventBody is ParseEventTree(DecodeFormBody(body)) for the posts a
// line sends all day — a client's message, its edit or removal, the bot
// joining a chat — decoded straight into the Event, without the tree of
// maps in between (a message post is ~95 keys, most of them the bot's
// token sets and chat fields the typed view does not carry). ok is false
// for every body the two steps refuse and for every shape this pass
// leaves to them: other events, data[COMMAND], data[PARAMS][FILES], a
// value where a group belongs, a bot given under two keys. The caller then
// takes the two steps, which decode it or say what is wrong. The Event
// has no Data (DecodeEventBody takes only bodies whose data olbot reads
// through the typed view). FuzzDecodeEventBody compares the two on random
// bodies.
func DecodeEventBody(body string) (ev *Event, ok bool) {
	text, spans, ok := unescapePairs(body)
	if !ok {
		return nil, false
	}
	d := eventBody{keys: make([]string, len(spans))}
	var parts [MaxFormDepth + 1]string
	for i, sp := range spans {
		key, value := text[sp.k0:sp.k1], text[sp.k1:sp.v1]
		d.keys[i] = key
		ps, err := splitKeyInto(parts[:0], key)
		if err != nil || !d.pair(ps, value) {
			return nil, false
		}
	}
	if !d.distinct() {
		return nil, false
	}
	return d.event()
}

// eventBody gathers the wire values of a body's typed fields; event turns
// them into the Event with ParseEventTree's conversions.
type eventBody struct {
	keys []string // every key, for distinct

	name, handlerID, ts string
	auth                fieldValues // auth[…]
	params              fieldValues // data[PARAMS][…]
	user                fieldValues // data[USER][…]
	hasUser             bool        // any data[USER][…] key
	botID, botCode      string      // data[BOT_ID], data[BOT_CODE]
	bots                []botBody   // data[BOT][id][…], in the order first seen
}

// botBody is one data[BOT][key] entry's wire values.
type botBody struct {
	key            string
	botID, botCode string      // BOT_ID, BOT_CODE
	auth, copyAuth fieldValues // the token set at the top and in AUTH
}

// fieldValues are the wire values of a table's fields, by the table's
// index (fields() order: at most the 23 of Params).
type fieldValues [24]string

// fieldIndex is the index of key in a table, or -1.
func fieldIndex(fs []field, key string) int {
	for i := range fs {
		if fs[i].key == key {
			return i
		}
	}
	return -1
}

// The field tables by name only (their pointers unused): what fieldIndex
// looks keys up in.
var (
	authKeys   = (&Auth{}).fields()
	paramsKeys = (&Params{}).fields()
	userKeys   = (&User{}).fields()
)

// pair takes one pair of the body, its key split into parts; false for a
// shape left to the two steps. Keys the typed view does not read are
// skipped, as ParseEventTree skips them.
func (d *eventBody) pair(ps []string, v string) bool {
	switch ps[0] {
	case "event", "event_handler_id", "ts":
		if len(ps) > 1 {
			return false // a group where a value belongs
		}
		switch ps[0] {
		case "event":
			d.name = v
		case "event_handler_id":
			d.handlerID = v
		default:
			d.ts = v
		}
		return true
	case "auth":
		return len(ps) > 1 && d.auth.take(authKeys, ps[1:], v)
	case "data":
		if len(ps) == 1 {
			return false
		}
	default:
		return true
	}
	// data[…]
	switch ps[1] {
	case "PARAMS":
		if len(ps) > 2 && ps[2] == "FILES" {
			return false
		}
		return len(ps) > 2 && d.params.take(paramsKeys, ps[2:], v)
	case "USER":
		d.hasUser = true
		return len(ps) > 2 && d.user.take(userKeys, ps[2:], v)
	case "BOT":
		return len(ps) > 3 && d.bot(ps[2], ps[3:], v)
	case "BOT_ID", "BOT_CODE":
		if len(ps) > 2 {
			return false
		}
		if ps[1] == "BOT_ID" {
			d.botID = v
		} else {
			d.botCode = v
		}
		return true
	case "COMMAND":
		return false
	}
	return true
}

// take stores the value of a table's field; ps are the key's parts from
// the field's name on. A field given as a group is left to the two steps.
func (fv *fieldValues) take(fs []field, ps []string, v string) bool {
	i := fieldIndex(fs, ps[0])
	if i < 0 {
		return true // not read
	}
	if len(ps) > 1 {
		return false
	}
	fv[i] = v
	return true
}

// bot stores a value of data[BOT][key]; ps are the parts after the key.
func (d *eventBody) bot(key string, ps []string, v string) bool {
	var b *botBody
	for i := range d.bots {
		if d.bots[i].key == key {
			b = &d.bots[i]
			break
		}
	}
	if b == nil {
		d.bots = append(d.bots, botBody{key: key})
		b = &d.bots[len(d.bots)-1]
	}
	switch ps[0] {
	case "BOT_ID", "BOT_CODE":
		if len(ps) > 1 {
			return false
		}
		if ps[0] == "BOT_ID" {
			b.botID = v
		} else {
			b.botCode = v
		}
		return true
	case "AUTH":
		return len(ps) > 1 && b.copyAuth.take(authKeys, ps[1:], v)
	}
	return b.auth.take(authKeys, ps, v)
}

// distinct reports whether no key is given twice and none is both a value
// and a group (a=1&a[b]=2), which the two steps refuse. A key that splits
// is its own canonical form, so the keys are compared as they are.
func (d *eventBody) distinct() bool {
	keys := d.keys
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			return false
		}
		next := i + 1
		if !strings.HasSuffix(k, "]") {
			// a plain name: "a0" or "aB" may sort between "a" and "a[b]"
			// (a key after a "]" can only go on with "[")
			next, _ = slices.BinarySearchFunc(keys, k, func(e, k string) int {
				if len(e) > len(k) && e[:len(k)] == k {
					return int(e[len(k)]) - '['
				}
				if c := strings.Compare(e, k); c != 0 {
					return c
				}
				return -1 // k itself sorts before k+"["
			})
		}
		if next < len(keys) && len(keys[next]) > len(k) && keys[next][:len(k)] == k && keys[next][len(k)] == '[' {
			return false
		}
	}
	return true
}

// event converts the gathered values as ParseEventTree does; ok is false
// wherever it would refuse or the event is not one DecodeEventBody takes.
func (d *eventBody) event() (*Event, bool) {
	ev := &Event{Name: strings.ToUpper(d.name)}
	switch ev.Name {
	case EventMessageAdd, EventMessageUpdate, EventMessageDelete, EventJoinChat:
	default:
		return nil, false
	}
	if !setFields([]field{{"event_handler_id", &ev.HandlerID}}, &fieldValues{d.handlerID}) {
		return nil, false
	}
	if d.ts != "" {
		whole, frac, _ := strings.Cut(d.ts, ".")
		sec, err := parseNumber("ts", whole)
		if err != nil || strings.Trim(frac, "0123456789") != "" {
			return nil, false
		}
		ev.TS = time.Unix(sec, 0).UTC()
	}
	if !setFields(ev.Auth.fields(), &d.auth) || !setFields(ev.Params.fields(), &d.params) {
		return nil, false
	}
	ev.fromZero = strings.TrimSpace(d.params[fieldIndex(paramsKeys, "FROM_USER_ID")]) == "0"
	if d.hasUser {
		ev.User = &User{}
		if !setFields(ev.User.fields(), &d.user) {
			return nil, false
		}
		ev.User.ConnectorSent = d.user[fieldIndex(userKeys, "IS_CONNECTOR")] != ""
	}
	if len(d.bots) > 0 {
		ev.Bots = make(map[int]BotAuth, len(d.bots))
		for i := range d.bots {
			b := &d.bots[i]
			id, err := idKey(node{}, b.key, "bot id")
			if err != nil {
				return nil, false
			}
			if _, twice := ev.Bots[id]; twice {
				return nil, false // "7" and "07": the two steps keep one by key order
			}
			bot := BotAuth{BotID: id, BotCode: b.botCode}
			var inner int
			var copyAuth Auth
			if !setFields([]field{{"BOT_ID", &inner}}, &fieldValues{b.botID}) || (inner != 0 && inner != id) ||
				!setFields(bot.Auth.fields(), &b.auth) || !setFields(copyAuth.fields(), &b.copyAuth) {
				return nil, false
			}
			mergeAuth(&bot.Auth, &copyAuth)
			ev.Bots[id] = bot
		}
	}
	if !setFields([]field{{"BOT_ID", &ev.BotID}, {"BOT_CODE", &ev.BotCode}}, &fieldValues{d.botID, d.botCode}) {
		return nil, false
	}
	if ev.require() != nil {
		return nil, false
	}
	return ev, true
}

// setFields assigns a table's fields from their wire values, an empty one
// counting as absent; false where a value does not convert.
func setFields(fs []field, vs *fieldValues) bool {
	for i, f := range fs {
		if vs[i] != "" && assign(f.ptr, vs[i]) != nil {
			return false
		}
	}
	return true
}
