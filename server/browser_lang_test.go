package server_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPlaygroundLanguageInBrowser: for a scenario in two languages the page
// shows the dialog's language, starts in it and switches a running dialog.
func TestPlaygroundLanguageInBrowser(t *testing.T) {
	p := examplesPage(t, "bilingual")
	p.waitLog("Чем помочь?")
	p.waitJS("the language list", `!document.getElementById('language-control').hidden && document.getElementById('language').value === 'ru'`)

	p.do("switch to English",
		chromedp.SetValue(chromedp.ID("language"), "en"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('language').dispatchEvent(new Event('change'))`),
	)
	p.do("press Delivery", chromedp.Click(chromedp.CSS(`#menu button[data-button="2"]`)))
	p.waitLog("Delivery across Russia takes 2–5 days.")

	// the scenario's own language menu switches back, and the list follows
	p.do("press Change language", chromedp.Click(chromedp.CSS(`#menu button[data-button="3"]`)))
	p.waitLog("Выберите язык / Choose a language")
	p.do("press Русский", chromedp.Click(chromedp.CSS(`#menu button[data-button="1"]`)))
	p.waitLog("Хорошо, говорим по-русски.")
	p.waitJS("the list follows the dialog", `document.getElementById('language').value === 'ru'`)

	p.do("pick a scenario in one language", chromedp.SetValue(chromedp.ID("scenario"), "support"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('scenario').dispatchEvent(new Event('change'))`))
	p.waitJS("no language list", `document.getElementById('language-control').hidden`)
}
