package server_test

// A foreign web page in a real browser (headless Chromium) tries what issue
// 17 describes: with no admin token, drive a loopback olbot with the
// requests a page may send without a CORS preflight. olbot runs on
// 127.0.0.1, the page on localhost (another site), as an operator's browser
// would have them side by side.
//
//	go test ./server -run TestForeignPageInBrowser -v

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/olbot/olbot/engine"
)

// foreignPage posts to olbot every way a page can without a preflight:
// fetch in no-cors mode with text/plain, form and no-type bodies, and
// form submissions (urlencoded, text/plain shaped as JSON, multipart)
// into an iframe. window.done is set when every request has ended.
const foreignPage = `<!doctype html><html><body>
<iframe name="sink"></iframe>
<script>
const base = %q;
const ev = id => JSON.stringify({dialog: id, line: 1, type: "start"});
function submit(enctype, name, value) {
  return new Promise(resolve => {
    const f = document.createElement('form');
    f.method = 'POST'; f.action = base + '/v1/events'; f.enctype = enctype; f.target = 'sink';
    const i = document.createElement('input'); i.type = 'hidden'; i.name = name; i.value = value;
    f.appendChild(i); document.body.appendChild(f);
    const sink = document.querySelector('iframe');
    sink.onload = () => resolve();
    f.submit();
  });
}
(async () => {
  const nc = body => fetch(base + '/v1/events', {method: 'POST', mode: 'no-cors', body}).catch(() => {});
  await nc(new Blob([ev('evil-plain')], {type: 'text/plain'}));
  await nc(new URLSearchParams({dialog: 'evil-form', line: '1', type: 'start'}));
  await nc(new Blob([ev('evil-untyped')]));
  await fetch(base + '/v1/scenarios/reload', {method: 'POST', mode: 'no-cors'}).catch(() => {});
  await submit('application/x-www-form-urlencoded', 'dialog', 'evil-submit');
  await submit('text/plain', ev('evil-textform').slice(0, -1) + ', "text": "', '"}');
  await submit('multipart/form-data', 'dialog', 'evil-multipart');
  window.done = true;
})();
</script></body></html>`

func TestForeignPageInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	base, store := serve(t, dir, "")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("olbot at %s, want 127.0.0.1", base)
	}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, foreignPage, base)
	}))
	t.Cleanup(foreign.Close)
	pageURL := strings.Replace(foreign.URL, "127.0.0.1", "localhost", 1) // another site than olbot's

	bctx := startChromium(t, chrome)
	p := &browserPage{t: t, ctx: bctx, shots: t.TempDir()}
	p.do("open the foreign page", chromedp.Navigate(pageURL+"/"))
	p.waitJS("every request of the page to end", `window.done === true`)

	for _, id := range []string{"evil-plain", "evil-form", "evil-untyped", "evil-submit", "evil-textform", "evil-multipart"} {
		if d, err := store.Dialog(context.Background(), engine.KeyAPI+id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the foreign page created dialog %s (%+v, err %v)", id, d, err)
		}
	}
	// the same browser on olbot's own page still drives it
	p.do("open the playground", chromedp.Navigate(base+"/#support"))
	p.waitLog("Hello! I am the support assistant.")
}
