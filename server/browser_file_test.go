package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestPlaygroundClientFileInBrowser: in the playground the author sends a
// file as the client, typed (/file NAME SIZE) or picked: a file over the
// question's max_size is asked again, a picked photo is the answer; a
// rating in stars is saved; the funnel shows the average of real ratings.
func TestPlaygroundClientFileInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	base, _ := serve(t, dir, "")
	// two real ratings through the API, for the funnel's average
	for _, body := range []string{
		`{"dialog":"r1","line":7,"type":"start"}`, `{"dialog":"r1","type":"message","text":"2"}`, `{"dialog":"r1","type":"message","text":"5"}`,
		`{"dialog":"r2","line":7,"type":"start"}`, `{"dialog":"r2","type":"message","text":"2"}`, `{"dialog":"r2","type":"message","text":"★★★★"}`,
	} {
		postJSON(t, base+"/v1/events", body)
	}
	photo := filepath.Join(t.TempDir(), "broken-vase.jpg")
	if err := os.WriteFile(photo, []byte("\xff\xd8\xff\xe0 not much of a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: screenshotDir(t)}
	p.do("open the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/#claims"))
	p.waitLog("Sorry to hear something went wrong.")
	p.do("report a damaged item", chromedp.SendKeys(chromedp.ID("chat-input"), "1"+kb.Enter))
	p.waitLog("Your order number?")
	p.do("the order number", chromedp.SendKeys(chromedp.ID("chat-input"), "123456"+kb.Enter))
	p.waitLog("Please send a photo of the damage")
	p.do("a file too large", chromedp.SendKeys(chromedp.ID("chat-input"), "/file huge.jpg 25MB"+kb.Enter))
	p.waitLog("File huge.jpg, 25 MB")
	p.waitLog("I need a photo (JPG, PNG…) or a PDF of up to 10 MB.")
	p.do("pick a photo", chromedp.SetUploadFiles(chromedp.ID("attach-input"), []string{photo}))
	p.waitLog("Thank you, we have broken-vase.jpg.")
	p.waitJS("the note names the photo", `(function(){var n=document.querySelector('#log .action.opnote');return !!n&&n.textContent.indexOf('Claim for order 123456: broken-vase.jpg')>=0})()`)
	p.shot("client-file.png")
	p.do("start again", chromedp.Click(chromedp.ID("restart")))
	p.waitLog("Sorry to hear something went wrong.")
	p.do("rate", chromedp.SendKeys(chromedp.ID("chat-input"), "Rate our service"+kb.Enter))
	p.waitLog("How would you rate us")
	p.do("four stars", chromedp.SendKeys(chromedp.ID("chat-input"), "★★★★"+kb.Enter))
	p.waitLog("Thank you for the 4!")
	p.do("show the real traffic", chromedp.Click(chromedp.ID("traffic")))
	p.waitJS("the average rating", `document.getElementById('funnel-summary').textContent.indexOf('Average rating 4.5 of 5 (2 ratings).') > 0`)
}
