package server_test

// The playground's editor and diagram in headless Chromium (issue 18): an
// author edits support.yaml in the page — a typo marked on its line with
// its hint, fixed, a new state added, saved after the impact preview — the
// chat continues through the new state; a change on disk makes the next
// save refuse with a diff; a rollback brings the old diagram back. The
// diagram's drawn geometry is measured for every example and a generated
// 40-state scenario, wide and phone-sized.
//
//	go test ./server -run 'TestEditorInBrowser|TestDiagramGeometryInBrowser' -v
//	go test ./server -run TestEditorInBrowser -update-screenshots   # also docs/editor.png

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/olbot/olbot/scenarios"
)

// editorJS runs a statement with the page's editor as ed (see app.js).
func editorJS(body string) string {
	return `(function () { var ed = document.getElementById('editor').olbotEditor; var v = ed.view; ` + body + ` })()`
}

// selectText selects the first occurrence of needle after anchor in the
// editor (as a double click on a word does); typing then replaces it.
func (p *browserPage) selectText(anchor, needle string) {
	p.t.Helper()
	p.focusEditor()
	p.eval(editorJS(`var text = v.state.doc.toString(); var a = text.indexOf(` + jsString(anchor) + `);
		var at = text.indexOf(` + jsString(needle) + `, a);
		v.focus(); v.dispatch({ selection: { anchor: at, head: at + ` + jsString(needle) + `.length } }); return String(at);`))
}

// cursorAt puts the editor's cursor right after needle (after anchor).
func (p *browserPage) cursorAt(anchor, needle string) {
	p.t.Helper()
	p.focusEditor()
	p.eval(editorJS(`var text = v.state.doc.toString(); var a = text.indexOf(` + jsString(anchor) + `);
		var at = text.indexOf(` + jsString(needle) + `, a) + ` + jsString(needle) + `.length;
		v.focus(); v.dispatch({ selection: { anchor: at } }); return String(at);`))
}

// focusEditor clicks into the editor, so that the page and the editor have
// the focus (a headless page without it keeps its own text selection).
func (p *browserPage) focusEditor() {
	p.t.Helper()
	p.do("move the mouse away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))
	p.do("click into the editor", chromedp.Click(chromedp.CSS("#editor .cm-activeLine, #editor .cm-line")))
	p.waitJS("the editor focused", editorJS(`if (!v.hasFocus) v.focus(); return v.hasFocus;`))
}

// press sends one key as a keyboard does (as Puppeteer does): a keyDown
// carrying its text, which the page may cancel, and a keyUp. chromedp's
// KeyEvent sends the text as a separate char event that a page cannot
// cancel, so an editor that handles Enter itself would get a newline too.
func (p *browserPage) press(key, code, text string, vk int64) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	down := input.DispatchKeyEventTypeKeyDown
	if text == "" {
		down = input.DispatchKeyEventTypeRawKeyDown // a key without text, as Puppeteer sends it
	}
	for _, typ := range []input.DispatchKeyEventType{down, input.DispatchKeyEventTypeKeyUp} {
		ev := input.DispatchKeyEventParams{Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk}
		if typ == input.DispatchKeyEventTypeKeyDown {
			ev.Text, ev.UnmodifiedText = text, text
		}
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, ev); err != nil {
			p.t.Fatalf("press %s: %v", key, err)
		}
	}
}

func (p *browserPage) pressEnter() { p.press("Enter", "Enter", "\r", 13) }
func (p *browserPage) pressTab()   { p.press("Tab", "Tab", "", 9) }

// typeKeys types text into the focused element key by key.
func (p *browserPage) typeKeys(what, keys string) {
	p.t.Helper()
	p.do(what, chromedp.KeyEvent(keys))
}

// insertText puts text in at the cursor as a paste or an input method does.
func (p *browserPage) insertText(text string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		p.t.Fatalf("insert %q: %v", text, err)
	}
}

func (p *browserPage) editorText() string {
	return p.eval(editorJS(`return ed.get();`))
}

func TestEditorInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	supportPath := filepath.Join(dir, "support.yaml")
	original, err := os.ReadFile(supportPath)
	if err != nil {
		t.Fatal(err)
	}
	h0 := scenarios.Version(original)
	base, _ := serve(t, dir, "")

	shots := screenshotDir(t)
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: shots}
	p.do("open the page", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/#support"))
	p.waitJS("the live reload stream", `document.getElementById('conn').getAttribute('data-state') === 'live'`)

	// the chat waits for an email, on the version before the edit
	p.waitState("welcome")
	p.do("click “Leave a request”", chromedp.Click(chromedp.CSS(`#menu button[data-button="1"]`)))
	p.waitState("ask_name")
	p.do("type a name", chromedp.SendKeys(chromedp.ID("chat-input"), "anna"+kb.Enter))
	p.waitState("ask_email")
	version := p.eval(`document.getElementById('version').textContent`)

	// 1. support.yaml is open in the editor
	p.waitJS("support.yaml in the editor", `document.getElementById('file').value === 'support.yaml' && document.querySelector('#editor .cm-content') !== null &&
		document.getElementById('editor').olbotEditor.get().indexOf('name: support') >= 0`)
	p.waitJS("the first check", `/problems|warnings/.test(document.getElementById('check-state').textContent)`)

	// 2. a typo in ask_email's next:, typed key by key
	p.selectText("ask_email:", "next: thanks")
	p.typeKeys("type the typo over next: thanks", "next: thnaks")
	typoText := p.editorText()
	if !strings.Contains(typoText, "    next: thnaks\n") {
		t.Fatalf("the typed typo is not in the text:\n%s", typoText)
	}
	line, col := position(typoText, "next: thnaks", "thnaks")
	where := fmt.Sprintf("line %d, col %d", line, col)
	p.waitJS("the problem on its line with its hint", `(function () {
		var items = document.querySelectorAll('#problem-list li.error');
		for (var i = 0; i < items.length; i++) {
			var s = items[i].textContent;
			if (s.indexOf(`+jsString(where)+`) >= 0 && s.indexOf('unknown state "thnaks"') >= 0 && s.indexOf('did you mean "thanks"') >= 0) return true;
		}
		return false;
	})()`)
	// the mark is in the text at that line, and a marker in its gutter
	p.waitJS("the underline on the typo", `(function () {
		var r = document.querySelector('#editor .cm-lintRange-error');
		if (!r || r.textContent.indexOf('thnaks') < 0) return false;
		var v = document.getElementById('editor').olbotEditor.view;
		return v.state.doc.lineAt(v.posAtDOM(r)).number === `+fmt.Sprint(line)+`;
	})()`)
	p.waitJS("the error state", `document.getElementById('check-state').classList.contains('bad')`)
	// the hint on hover
	var rect struct{ X, Y float64 }
	raw := p.eval(`(function () { var r = document.querySelector('#editor .cm-lintRange-error').getBoundingClientRect(); return JSON.stringify({X: r.left + r.width / 2, Y: r.top + r.height / 2}); })()`)
	if err := json.Unmarshal([]byte(raw), &rect); err != nil {
		t.Fatal(err)
	}
	p.do("hover the typo", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, rect.X, rect.Y))
	p.waitJS("the hint in a tooltip", `(function () { var tt = document.querySelector('.cm-tooltip-lint'); return tt && tt.textContent.indexOf('did you mean "thanks"') >= 0; })()`)
	p.shot("editor-typo.png")

	// 3. fix it, pointing at a new state, and add that state
	p.selectText("ask_email:", "thnaks")
	p.typeKeys("point ask_email at a new state", "confirm")
	p.cursorAt("ask_email:", "next: confirm")
	p.pressEnter()
	p.eval(editorJS(`var head = v.state.selection.main.head; var line = v.state.doc.lineAt(head);
		v.dispatch({ changes: { from: line.from, to: line.to, insert: '' } }); return '';`))
	p.insertText("\n  confirm:\n    say: \"Got it, {{name}}. One moment.\"\n    next: thanks")
	p.waitJS("no errors left", `document.getElementById('check-state').classList.contains('good')`)

	// 4. save: the impact preview first, then live
	p.do("press Save", chromedp.Click(chromedp.ID("save")))
	p.waitJS("the impact preview", `!document.getElementById('preview').hidden &&
		document.getElementById('preview-body').textContent.indexOf('goes from version `+h0+`') >= 0 &&
		document.getElementById('preview-body').textContent.indexOf('No running dialog sits in a removed state') >= 0`)
	p.shot("editor-preview.png")
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-save")))
	p.waitJS("the saved notice", `!document.getElementById('save-note').hidden && document.getElementById('save-note').textContent.indexOf('is live') >= 0`)
	p.waitJS("the new state on the diagram", `document.querySelector('#graph .node[data-state="confirm"]') !== null`)
	p.waitJS("a new version", `document.getElementById('version').textContent !== `+jsString(version))
	saved, err := os.ReadFile(supportPath)
	if err != nil || !strings.Contains(string(saved), "  confirm:\n    say: \"Got it, {{name}}. One moment.\"\n    next: thanks") {
		t.Fatalf("support.yaml on disk after the save (%v):\n%s", err, saved)
	}
	h1 := scenarios.Version(saved)
	p.waitJS("the history with both versions", `document.querySelector('#history tr[data-hash="`+h1+`"].live') !== null && document.querySelector('#history tr[data-hash="`+h0+`"]') !== null`)
	readme := p.shot("editor.png")

	// the chat continues on the new version, through the new state
	p.do("type an email", chromedp.SendKeys(chromedp.ID("chat-input"), "anna@example.com"+kb.Enter))
	p.waitLog("Got it, Anna. One moment.")
	p.waitLog("Session finished")

	// the box of the new state jumps the editor to its line
	p.do("click the confirm box", chromedp.Click(chromedp.CSS(`#graph .node[data-state="confirm"]`)))
	wantLine, _ := position(string(saved), "  confirm:", "confirm")
	p.waitJS("the cursor on confirm's line", editorJS(`return v.state.doc.lineAt(v.state.selection.main.head).number === `+fmt.Sprint(wantLine)+`;`))

	// 5. someone changes the file on disk; the next save is refused with a diff
	writeAtomically(t, supportPath, string(saved)+"\n# changed on disk\n")
	p.eval(editorJS(`var end = v.state.doc.length; v.dispatch({ selection: { anchor: end } }); v.focus(); return '';`))
	p.insertText("\n# typed in the editor\n")
	p.do("press Save", chromedp.Click(chromedp.ID("save")))
	p.waitJS("the preview", `!document.getElementById('preview').hidden && !document.getElementById('confirm-save').hidden`)
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-save")))
	p.waitJS("the refusal with a diff", `!document.getElementById('conflict').hidden &&
		document.getElementById('conflict-msg').textContent.indexOf('changed since you opened it') >= 0 &&
		document.getElementById('conflict-diff').textContent.indexOf('-# changed on disk') >= 0 &&
		document.getElementById('conflict-diff').textContent.indexOf('+# typed in the editor') >= 0`)
	if got := p.editorText(); !strings.Contains(got, "# typed in the editor") {
		t.Fatalf("the refused save lost the typed text:\n%s", got)
	}
	if b, _ := os.ReadFile(supportPath); strings.Contains(string(b), "typed in the editor") {
		t.Fatal("the refused save wrote the file")
	}
	p.shot("editor-conflict.png")

	// 6. roll back to the version the server started with: the old diagram
	p.waitJS("the history row of the start version", `document.querySelector('#history tr[data-hash="`+h0+`"] button[data-rollback]') !== null`)
	p.do("roll back", chromedp.Click(chromedp.CSS(`#history tr[data-hash="`+h0+`"] button[data-rollback]`)))
	p.waitJS("the rollback preview", `!document.getElementById('preview').hidden && document.getElementById('preview-body').textContent.indexOf('Roll back to version `+h0+`') >= 0 &&
		document.getElementById('preview-body').textContent.indexOf('Removed states: confirm') >= 0`)
	// the base is still the old one: the save is refused again, then the
	// author keeps this text (the rollback) over the file on disk
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-save")))
	p.waitJS("the refusal", `!document.getElementById('conflict').hidden`)
	p.do("keep my text", chromedp.Click(chromedp.ID("keep-mine")))
	p.waitJS("the preview again", `!document.getElementById('preview').hidden && !document.getElementById('confirm-save').hidden`)
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-save")))
	p.waitJS("the old diagram", `document.querySelector('#graph .node[data-state="ask_email"]') !== null && document.querySelector('#graph .node[data-state="confirm"]') === null`)
	p.waitJS("the start version live in the history", `document.querySelector('#history tr[data-hash="`+h0+`"].live') !== null`)
	if b, _ := os.ReadFile(supportPath); string(b) != string(original) {
		t.Fatalf("support.yaml after the rollback:\n%s", b)
	}
	p.shot("editor-rollback.png")

	if *updateScreenshots {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../docs/editor.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/editor.png")
	}
}

// gen40 is a generated 40-state scenario: a menu of three branches, each a
// chain of questions and messages, with hand-offs and finishes.
func gen40() string {
	var b strings.Builder
	b.WriteString("name: gen40\nlines: [40]\nstart: s0\nstates:\n  s0:\n    say: \"Welcome to the generated scenario, pick a branch\"\n    menu:\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "      - text: Branch number %d\n        goto: s%d\n", i, i)
	}
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "  s%d:\n", i)
		next := i + 3
		switch {
		case next >= 40 && i%2 == 0:
			b.WriteString("    say: \"Connecting you to a colleague now\"\n    operator: any\n")
		case next >= 40:
			b.WriteString("    say: \"Thank you, that is all for today\"\n    finish: true\n")
		case i%3 == 0:
			fmt.Fprintf(&b, "    ask: \"Question %d: what is your answer to this one?\"\n    save: f%d\n    on_fail: s39\n    next: s%d\n", i, i, next)
		case i%3 == 1:
			fmt.Fprintf(&b, "    say: \"Message %d of the generated chain\"\n    next: s%d\n", i, next)
		default:
			fmt.Fprintf(&b, "    say: \"Pick one for step %d\"\n    menu:\n      - text: Go on\n        goto: s%d\n      - text: Back to the start\n        goto: s0\n", i, next)
		}
	}
	return b.String()
}

// geometryJS returns the drawn diagram's overlaps as a JSON list (empty
// when none): boxes with boxes, labels with boxes and with each other, a
// box's text outside its box; with phone, also every box inside the
// visible diagram.
const geometryJS = `(function (phone) {
	var R = function (e) { var r = e.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; };
	var over = function (a, b) { var eps = 0.5; return a.x + eps < b.x + b.w && b.x + eps < a.x + a.w && a.y + eps < b.y + b.h && b.y + eps < a.y + a.h; };
	var name = function (e) { var g = e.closest('.node'); return g ? (g.getAttribute('data-state') || g.getAttribute('class')) : (e.parentNode.textContent || 'label'); };
	var boxes = Array.prototype.slice.call(document.querySelectorAll('#graph .node.state .box, #graph .node.start .dot, #graph .node.end .dot-ring'));
	var labels = Array.prototype.slice.call(document.querySelectorAll('#graph .labels .label-bg'));
	var bad = [];
	for (var i = 0; i < boxes.length; i++) {
		for (var j = i + 1; j < boxes.length; j++) if (over(R(boxes[i]), R(boxes[j]))) bad.push('box ' + name(boxes[i]) + ' overlaps box ' + name(boxes[j]));
		labels.forEach(function (l) { if (over(R(l), R(boxes[i]))) bad.push('label ' + name(l) + ' over box ' + name(boxes[i])); });
	}
	for (i = 0; i < labels.length; i++) for (j = i + 1; j < labels.length; j++) if (over(R(labels[i]), R(labels[j]))) bad.push('label ' + name(labels[i]) + ' over label ' + name(labels[j]));
	document.querySelectorAll('#graph .node.state').forEach(function (g) {
		var b = R(g.querySelector('.box'));
		g.querySelectorAll('text').forEach(function (t) {
			var r = R(t);
			if (r.x < b.x - 0.5 || r.y < b.y - 0.5 || r.x + r.w > b.x + b.w + 0.5 || r.y + r.h > b.y + b.h + 0.5) bad.push('text "' + t.textContent + '" outside box ' + g.getAttribute('data-state'));
		});
	});
	if (phone) {
		var v = R(document.getElementById('graph'));
		boxes.forEach(function (b) { var r = R(b); if (r.x < v.x - 0.5 || r.y < v.y - 0.5 || r.x + r.w > v.x + v.w + 0.5 || r.y + r.h > v.y + v.h + 0.5) bad.push('box ' + name(b) + ' cut off'); });
		if (document.documentElement.scrollWidth > window.innerWidth) bad.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
	}
	if (boxes.length === 0) bad.push('no diagram drawn');
	return JSON.stringify(bad);
})`

func TestDiagramGeometryInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	if err := os.WriteFile(filepath.Join(dir, "gen40.yaml"), []byte(gen40()), 0o644); err != nil {
		t.Fatal(err)
	}
	set, problems := scenarios.LoadPaths(dir)
	if problems.HasErrors() || set.ByName["gen40"] == nil || len(set.ByName["gen40"].States) != 40 {
		t.Fatalf("the generated scenario does not load: %v", problems.Errors())
	}
	base, _ := serve(t, dir, "")
	shots := screenshotDir(t)
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: shots}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"wide", 1280, 900}, {"phone", 390, 844}} {
		opts := []chromedp.EmulateViewportOption{}
		if size.name == "phone" {
			opts = append(opts, chromedp.EmulateMobile)
		}
		for _, sc := range set.List {
			t.Run(size.name+"/"+sc.Name, func(t *testing.T) {
				// a tab of its own for each: a closed tab ends its page's
				// event stream (Chrome keeps 6 connections per host)
				tab, cancelTab := chromedp.NewContext(bctx)
				defer cancelTab()
				if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
					t.Fatal(err)
				}
				setLanguage(t, tab, "en-US,en")
				p.t, p.ctx = t, tab
				p.do("size the window", chromedp.EmulateViewport(size.w, size.h, opts...))
				p.do("open the page", chromedp.Navigate(base+"/?size="+size.name+"&s="+sc.Name+"#"+sc.Name))
				p.waitJS("the diagram of "+sc.Name, `document.querySelectorAll('#graph .node.state').length === `+fmt.Sprint(len(sc.States))+
					` && document.querySelector('#graph-title') && document.querySelector('#graph-title').textContent.indexOf(`+jsString(sc.Name)+`) >= 0`)
				var bad []string
				if err := json.Unmarshal([]byte(p.eval(geometryJS+`(`+fmt.Sprint(size.name == "phone")+`)`)), &bad); err != nil {
					t.Fatal(err)
				}
				if len(bad) > 0 {
					p.shot("geometry-" + size.name + "-" + sc.Name + ".png")
					t.Fatalf("%s, %s: %d overlaps:\n%s", sc.Name, size.name, len(bad), strings.Join(bad, "\n"))
				}
				// every box shows its name; a state with text shows it under the name
				for _, name := range sc.Order {
					st := sc.States[name]
					got := p.eval(`(function () { var g = document.querySelector('#graph .node[data-state=` + jsString(name) + `]'); return g ? g.textContent : ''; })()`)
					if !strings.Contains(got, name) || (st.Say != nil || st.Ask != nil) && len(got) <= len(name)+len(" ()") {
						t.Errorf("box %s shows %q", name, got)
					}
				}
				if sc.Name == "gen40" || sc.Name == "faq" {
					p.shot("diagram-" + size.name + "-" + sc.Name + ".png")
				}
			})
		}
	}
	p.t, p.ctx = t, bctx
	// technical arrows appear only when asked for
	p.do("leave the last page", chromedp.Navigate("about:blank"))
	p.do("open faq", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/#faq"))
	p.waitJS("the diagram", `document.querySelectorAll('#graph .node.state').length > 0`)
	if n := p.eval(`String(document.querySelectorAll('#graph .edge.technical').length)`); n != "0" {
		t.Fatalf("%s technical arrows drawn without asking", n)
	}
	p.do("ask for technical arrows", chromedp.Click(chromedp.ID("technical")))
	p.waitJS("the technical arrows", `document.querySelectorAll('#graph .edge.technical').length > 0`)
}

// The editor completes keys from the JSON Schema and state names from the
// file, Tab inserts spaces, and Escape then Tab leaves the editor (so the
// page stays usable with the keyboard alone).
func TestEditorCompletionInBrowser(t *testing.T) {
	chrome := chromiumOrSkip(t)
	dir := t.TempDir()
	copyDir(t, "../examples", dir)
	base, _ := serve(t, dir, "")
	bctx := startChromium(t, chrome)
	setLanguage(t, bctx, "en-US,en")
	p := &browserPage{t: t, ctx: bctx, shots: t.TempDir()}
	p.do("open the page", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/#support"))
	p.waitJS("support.yaml in the editor", `document.getElementById('file').value === 'support.yaml' &&
		document.getElementById('editor').olbotEditor.get().indexOf('name: support') >= 0`)
	p.focusEditor()
	p.eval(editorJS(`var end = v.state.doc.length; v.dispatch({ selection: { anchor: end } }); return '';`))
	p.insertText("\n  extra:\n    say: hi\n")
	line := func() string { return p.eval(editorJS(`return v.state.doc.lineAt(v.state.selection.main.head).text;`)) }

	// a key of a state, from the schema
	p.typeKeys("start a key", "    on_f")
	p.waitJS("the key offered", `(function () { var c = document.querySelector('.cm-tooltip-autocomplete'); return c && c.textContent.indexOf('on_fail') >= 0; })()`)
	// the completion ignores keys for its first 75 ms (against accidental Enter)
	time.Sleep(300 * time.Millisecond)
	p.pressEnter()
	if got := line(); got != "    on_fail: " {
		t.Fatalf("after completing the key the line is %q; the end: %q", got, p.eval(editorJS(`var d = v.state.doc.toString(); return d.slice(-60);`)))
	}
	// a state name, from the file
	p.typeKeys("start a state name", "hand")
	p.waitJS("the state offered", `(function () { var c = document.querySelector('.cm-tooltip-autocomplete'); return c && c.textContent.indexOf('handoff') >= 0; })()`)
	time.Sleep(300 * time.Millisecond)
	p.pressEnter()
	if got := line(); got != "    on_fail: handoff" {
		t.Fatalf("after completing the state the line is %q", got)
	}
	p.waitJS("the completion closed", `document.querySelector('.cm-tooltip-autocomplete') === null`)

	// Tab inserts spaces, to the next multiple of two
	p.typeKeys("to the end of the line", kb.End)
	p.pressEnter()
	p.eval(editorJS(`var l = v.state.doc.lineAt(v.state.selection.main.head); v.dispatch({ changes: { from: l.from, to: l.to, insert: '' } }); return '';`))
	p.pressTab()
	p.pressTab()
	if got := line(); got != "    " {
		t.Fatalf("two Tabs made the line %q, want four spaces", got)
	}
	p.typeKeys("a character", "x")
	p.pressTab()
	if got := line(); got != "    x " {
		t.Fatalf("Tab after x made the line %q, want a space up to column 6", got)
	}
	// Escape, then Tab: the focus moves on to the Save button
	p.typeKeys("press Escape", kb.Escape)
	p.pressTab()
	p.waitJS("the focus out of the editor", `document.activeElement === document.getElementById('save')`)
}
