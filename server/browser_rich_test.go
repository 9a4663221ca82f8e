package server_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestPlaygroundRichMessagesInBrowser: the page shows a menu's link and
// call buttons as links (not as choices) and the note for the operator
// posted before a handoff, marked as hidden from the client.
func TestPlaygroundRichMessagesInBrowser(t *testing.T) {
	p := examplesPage(t, "bilingual")
	p.waitLog("Чем помочь?")
	p.waitJS("the link button", `(function(){var a=document.querySelector('#log a.link-button[data-link="url"]');return !!a&&a.href==='https://example.com/track'&&a.textContent.indexOf('Отследить посылку')===0})()`)
	p.waitJS("the call button", `(function(){var a=document.querySelector('#log a.link-button[data-link="phone"]');return !!a&&a.href==='tel:+74951234567'})()`)
	p.waitJS("four choices, no link among them", `document.querySelectorAll('#menu button').length===4`)
	p.do("ask for a person", chromedp.SendKeys(chromedp.ID("chat-input"), "оператор"+kb.Enter))
	p.waitLog("Передаю чат оператору.")
	p.waitJS("the note for the operator", `(function(){var n=document.querySelector('#log .action.opnote');return !!n&&n.textContent.indexOf('the client does not see it')>0&&n.textContent.indexOf('просит оператора.')>0})()`)
	p.shot("rich-messages")
}

// TestPlaygroundAttachmentsInBrowser: a message's file and image
// (say: {text, file} / {text, image}) show below its text as links to
// their addresses, named by the address's last part.
func TestPlaygroundAttachmentsInBrowser(t *testing.T) {
	p := examplesPage(t, "faq")
	p.waitLog("What would you like to know?")
	p.do("ask about delivery", chromedp.SendKeys(chromedp.ID("chat-input"), "Delivery"+kb.Enter))
	p.waitLog("The terms are attached.")
	p.waitJS("the file", `(function(){var a=document.querySelector('#log .attachments a[data-attach="file"]');return !!a&&a.href==='https://example.com/files/delivery-terms.pdf'&&a.textContent.indexOf('File: delivery-terms.pdf')>=0})()`)
	p.waitJS("no image with it", `!document.querySelector('#log .attachments a[data-attach="image"]')`)
	p.do("ask for the hours", chromedp.SendKeys(chromedp.ID("chat-input"), "Opening hours"+kb.Enter))
	p.waitLog("Which store?")
	p.do("pick Moscow", chromedp.SendKeys(chromedp.ID("chat-input"), "Moscow"+kb.Enter))
	p.waitLog("Moscow, Tverskaya 1")
	p.waitJS("the image", `(function(){var a=document.querySelector('#log .attachments a[data-attach="image"]');return !!a&&a.href==='https://example.com/maps/moscow-tverskaya.png'&&a.textContent.indexOf('Image: moscow-tverskaya.png')>=0})()`)
	p.shot("attachments")
}

// examplesPage serves a copy of examples/ and opens the playground on
// scenario in headless Chromium, in English, at 1280×900.
func examplesPage(t *testing.T, scenario string) *browserPage {
	t.Helper()
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	base, _ := serve(t, dir, "")
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: screenshotDir(t)}
	p.do("open the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/#"+scenario))
	return p
}
