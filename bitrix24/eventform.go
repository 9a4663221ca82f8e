package bitrix24

import (
	"net/url"
	"strconv"
)

// Form encodes the event back into the wire form the portal posts, with
// zero-valued fields left out (as PHP drops nulls). Data is not used.
func (ev *Event) Form() url.Values {
	tree := map[string]any{"event": ev.Name}
	if ev.HandlerID != 0 {
		tree["event_handler_id"] = strconv.Itoa(ev.HandlerID)
	}
	if !ev.TS.IsZero() {
		tree["ts"] = strconv.FormatInt(ev.TS.Unix(), 10)
	}
	auth := ev.Auth
	if m := encode(auth.fields()); len(m) > 0 {
		tree["auth"] = m
	}
	data := map[string]any{}
	params := ev.Params
	m := encode(params.fields())
	if ev.fromZero && params.FromUserID == 0 {
		m["FROM_USER_ID"] = "0" // a system message: sent as 0, not left out
	}
	if len(m) > 0 {
		data["PARAMS"] = m
	}
	if ev.User != nil {
		u := *ev.User
		m := encode(u.fields())
		if u.ConnectorSent && !u.IsConnector {
			m["IS_CONNECTOR"] = "N"
		}
		data["USER"] = m
	}
	if len(ev.Bots) > 0 {
		bots := map[string]any{}
		for id, b := range ev.Bots {
			m := encode(b.Auth.fields())
			if len(m) > 0 {
				inner := map[string]any{}
				for k, v := range m {
					inner[k] = v
				}
				m["AUTH"] = inner
			}
			m["BOT_ID"] = strconv.Itoa(id)
			if b.BotCode != "" {
				m["BOT_CODE"] = b.BotCode
			}
			bots[strconv.Itoa(id)] = m
		}
		data["BOT"] = bots
	}
	if len(ev.Commands) > 0 {
		cmds := map[string]any{}
		for id, c := range ev.Commands {
			m := encode(c.Auth.fields())
			if len(m) > 0 {
				inner := map[string]any{}
				for k, v := range m {
					inner[k] = v
				}
				m["AUTH"] = inner
			}
			for k, v := range encode(c.fields()) {
				m[k] = v
			}
			m["COMMAND_ID"] = strconv.Itoa(id)
			cmds[strconv.Itoa(id)] = m
		}
		data["COMMAND"] = cmds
	}
	if ev.BotID != 0 {
		data["BOT_ID"] = strconv.Itoa(ev.BotID)
	}
	if ev.BotCode != "" {
		data["BOT_CODE"] = ev.BotCode
	}
	if ev.Install != nil {
		in := *ev.Install
		for k, v := range encode(in.fields()) {
			data[k] = v
		}
		if !in.Active {
			data["ACTIVE"] = "N"
		}
		if !in.Installed {
			data["INSTALLED"] = "N"
		}
	}
	if len(data) > 0 {
		tree["data"] = data
	}
	return EncodeForm(tree)
}
