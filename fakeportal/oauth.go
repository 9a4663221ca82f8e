package fakeportal

import (
	"net/http"
	"net/url"
)

func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // query and form body
	q := r.Form
	p.mu.Lock()
	peers := append([]*Portal(nil), p.peers...)
	p.mu.Unlock()
	status, ans := p.exchange(q)
	// the OAuth server is one for every portal: a refresh token this
	// portal did not issue may be a peer's
	for _, peer := range peers {
		if ans["error"] != "invalid_grant" {
			break
		}
		if st, a := peer.exchange(q); a["error"] != "invalid_grant" {
			status, ans = st, a
		}
	}
	writeJSON(w, status, ans)
}

// AlsoIssues makes p's OAuth endpoint exchange other's refresh tokens too,
// answering with other's portal (as oauth.bitrix.info serves every portal).
func (p *Portal) AlsoIssues(other *Portal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peers = append(p.peers, other)
}

// exchange runs one request of the OAuth endpoint against this portal's
// tokens and records it.
func (p *Portal) exchange(q url.Values) (int, map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Call{Method: "oauth/token", Params: map[string]any{
		"grant_type": q.Get("grant_type"), "client_id": q.Get("client_id"), "refresh_token": q.Get("refresh_token"),
	}}
	answer := func(status int, v map[string]any) (int, map[string]any) {
		rec.Status = status
		if e, ok := v["error"].(string); ok {
			rec.Error = e
		}
		p.recordLocked(rec)
		return status, v
	}
	if q.Get("grant_type") != "refresh_token" {
		return answer(http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": "grant_type must be refresh_token"})
	}
	if q.Get("client_id") != p.cfg.ClientID || q.Get("client_secret") != p.cfg.ClientSecret {
		return answer(http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "Invalid client credentials"})
	}
	rt := q.Get("refresh_token")
	if !p.refresh[rt] {
		return answer(http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh token"})
	}
	delete(p.refresh, rt) // refresh tokens rotate
	p.issueLocked()
	// the documented refresh answer (settings/oauth/auto-renewal.md) with the fake's tokens and addresses
	ans := mustTree("oauth.answer.refresh_token")
	setPresent(ans, map[string]any{
		"access_token": p.access, "refresh_token": p.refTok, "expires": p.cfg.Now().Add(p.cfg.TokenTTL).Unix(),
		"expires_in": int(p.cfg.TokenTTL.Seconds()), "scope": "imbot,imopenlines,crm", "server_endpoint": p.cfg.BaseURL + "/rest/",
		"status": "L", "client_endpoint": p.cfg.BaseURL + "/rest/", "member_id": p.cfg.MemberID, "user_id": 1,
	})
	return answer(http.StatusOK, ans)
}
