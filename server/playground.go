package server

// The playground: a web page at / (embedded, no build step, no CDN) where a
// scenario author chats with any loaded scenario, sees its diagram with the
// dialog's state lit, sees reload errors as soon as a file is saved, and sees
// the funnel of real traffic on the same diagram. Its JSON API lives under
// /playground/api/ and needs the admin token when one is configured; the
// page itself is public.

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

//go:embed web
var webFS embed.FS

// playground is the live state behind the page: the subscribers of reload
// news and the funnel.
type playground struct {
	s      *Server
	funnel *funnelBook

	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
	done   chan struct{} // closed when the server shuts down: SSE streams end
	seq    int64
}

// sseBuffer is how many reload messages a slow page may lag behind; older
// ones are dropped (each message is a full status, so the latest is enough).
const sseBuffer = 4

// ssePing keeps idle event streams open through proxies.
const ssePing = 25 * time.Second

func newPlayground(s *Server) *playground {
	return &playground{s: s, funnel: newFunnelBook(s.store, s.now), subs: map[chan []byte]struct{}{}, done: make(chan struct{})}
}

// playgroundRoutes registers the page and its API. It also creates the
// playground's state, so it is called once, from routes().
func (s *Server) playgroundRoutes(e *echo.Echo) {
	s.pg = newPlayground(s)
	e.GET("/", staticFile("web/index.html", "text/html; charset=utf-8"))
	e.GET("/playground/app.js", staticFile("web/app.js", "text/javascript; charset=utf-8"))
	e.GET("/playground/app.css", staticFile("web/app.css", "text/css; charset=utf-8"))

	api := e.Group("/playground/api", s.requireAdmin)
	api.GET("/scenarios", s.handlePGScenarios)
	api.GET("/status", s.handlePGStatus)
	api.GET("/events", s.handlePGStream)
	api.POST("/dialogs/:session/events", s.handlePGEvent)
	api.GET("/dialogs/:session", s.handlePGDialog)
	api.GET("/funnel", s.handlePGFunnels)
	api.GET("/funnel/:scenario", s.handlePGFunnel)
}

// playgroundOpen loads the funnel, ends the event streams when the HTTP
// server shuts down (so Close does not wait for them), and writes the funnel
// to the store every few seconds and once more when ctx ends (Close).
func (s *Server) playgroundOpen(ctx context.Context) {
	p := s.pg
	if p == nil {
		return
	}
	if s.http != nil {
		s.http.RegisterOnShutdown(p.shutdown)
	}
	names := names(s.registry.Current().Set)
	if p.funnel.kv != nil {
		if err := p.funnel.rebuildActive(ctx, s.store, names); err != nil {
			s.log.Warn("funnel: could not recount active dialogs; the counts may be off until they move", "err", err)
		}
	}
	for _, n := range names {
		if err := p.funnel.load(ctx, n); err != nil {
			s.log.Warn("funnel: could not read the saved counts; counting from zero", "scenario", n, "err", err)
		}
	}
	s.goBackground(func() {
		t := time.NewTicker(funnelFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				// Close cancels ctx after the in-flight events drained: this
				// last flush has every count. The store is still open.
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := p.funnel.flush(fctx); err != nil {
					s.log.Warn("funnel: final write failed; the last counts are lost", "err", err)
				}
				cancel()
				p.shutdown()
				return
			case <-t.C:
				if err := p.funnel.flush(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("funnel: write failed; will retry", "err", err)
				}
			}
		}
	})
}

// recorded is the hook processOnce calls after each committed step.
func (p *playground) recorded(old, d engine.Dialog, res engine.Result, note string) {
	if p == nil {
		return
	}
	p.funnel.record(p.s.registry.Current().Set, old, d, res, note)
}

// reloaded is the hook the reload goroutine calls after every reload: it
// tells every open page. It never blocks: a page that is behind loses older
// messages, never the latest.
func (p *playground) reloaded(out scenarios.ReloadOutcome) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.seq++
	st := p.s.reloadStatus()
	st.Seq, st.Trigger, st.Changed = p.seq, out.Trigger, out.Result.Changed
	msg, err := json.Marshal(st)
	if err != nil {
		return
	}
	for ch := range p.subs {
		select {
		case ch <- msg:
		default:
			select { // full: drop the oldest, keep the newest
			case <-ch:
			default:
			}
			select {
			case ch <- msg:
			default:
			}
		}
	}
}

// subscribe registers a page for reload news; ok is false after shutdown.
func (p *playground) subscribe() (ch chan []byte, cancel func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, func() {}, false
	}
	ch = make(chan []byte, sseBuffer)
	p.subs[ch] = struct{}{}
	return ch, func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}, true
}

func (p *playground) subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// shutdown ends every event stream; safe to call more than once.
func (p *playground) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// staticFile serves one embedded file, revalidated by its hash.
func staticFile(name, contentType string) echo.HandlerFunc {
	body, err := webFS.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("playground: embedded file %s: %v", name, err))
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if path.Ext(name) == ".html" {
			h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		}
		if c.Request().Header.Get("If-None-Match") == etag {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, contentType, body)
	}
}

// ---- reload status ----

// ReloadStatus is what the page shows about the scenario folder: the live
// version and the files whose last save did not load.
type ReloadStatus struct {
	Seq       int64             `json:"seq,omitempty"`     // reload number since start (event stream only)
	Trigger   string            `json:"trigger,omitempty"` // start, watch, request, … (event stream only)
	Changed   bool              `json:"changed,omitempty"` // a new version went live (event stream only)
	Version   string            `json:"version"`           // hash over every live scenario
	LoadedAt  time.Time         `json:"loaded_at"`
	OK        bool              `json:"ok"`              // every file loaded
	Errors    []FileErrors      `json:"errors"`          // files kept at their last good version (or out)
	Scenarios map[string]string `json:"scenarios"`       // live scenario name → version
	Error     string            `json:"error,omitempty"` // the folder itself could not be read
}

// FileErrors are the problems that kept one file from loading.
type FileErrors struct {
	File     string        `json:"file"`
	Scenario string        `json:"scenario,omitempty"` // its live (last good) scenario, if any
	Live     string        `json:"live_version,omitempty"`
	Problems []ProblemView `json:"problems"`
}

// ProblemView is one problem, positioned.
type ProblemView struct {
	Where   string `json:"where"` // FILE:LINE:COL
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Text    string `json:"text"` // the whole FILE:LINE:COL: error: … line, as `olbot check` prints it
}

func (s *Server) reloadStatus() ReloadStatus {
	snap := s.registry.Current()
	st := ReloadStatus{Version: snap.Version, LoadedAt: snap.LoadedAt, Errors: []FileErrors{}, Scenarios: map[string]string{}}
	for _, sc := range snap.Set.List {
		st.Scenarios[sc.Name] = sc.Version
	}
	for _, f := range snap.Files {
		if f.Error == "" {
			continue
		}
		fe := FileErrors{File: f.File, Scenario: f.Name, Live: f.Version}
		for _, p := range f.Problems.Errors() {
			text := p.Error()
			first, _, _ := strings.Cut(text, "\n")
			fe.Problems = append(fe.Problems, ProblemView{Where: fmt.Sprintf("%s:%d:%d", p.File, p.Pos.Line, p.Pos.Col), Line: p.Pos.Line, Col: p.Pos.Col, Path: p.Path, Message: p.Msg, Hint: p.Hint, Text: first})
		}
		if len(fe.Problems) == 0 { // no structured problems: show the text
			for _, line := range strings.Split(f.Error, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					fe.Problems = append(fe.Problems, ProblemView{Where: f.File, Message: line, Text: line})
				}
			}
		}
		st.Errors = append(st.Errors, fe)
	}
	s.readyMu.RLock()
	if s.lastLoad.Err != nil {
		st.Error = s.lastLoad.Err.Error()
	}
	s.readyMu.RUnlock()
	st.OK = len(st.Errors) == 0 && st.Error == ""
	return st
}

func (s *Server) handlePGStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, s.reloadStatus())
}

// handlePGStream is GET /playground/api/events: a text/event-stream with a
// "reload" message now and after every reload. It ends when the client goes
// away or the server shuts down.
func (s *Server) handlePGStream(c echo.Context) error {
	ch, cancel, ok := s.pg.subscribe()
	if !ok {
		return errorf(EUnavailable, "the server is shutting down")
	}
	defer cancel()
	w := c.Response()
	// the stream outlives the server's write timeout
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	first, err := json.Marshal(s.reloadStatus())
	if err != nil {
		return nil
	}
	if _, err := fmt.Fprintf(w, "retry: 2000\nevent: reload\ndata: %s\n\n", first); err != nil {
		return nil
	}
	w.Flush()
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-s.pg.done:
			return nil
		case msg := <-ch:
			_, err = fmt.Fprintf(w, "event: reload\ndata: %s\n\n", msg)
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err != nil {
			return nil
		}
		w.Flush()
	}
}

// ---- scenarios and their diagrams ----

// PGScenarios is the answer of GET /playground/api/scenarios.
type PGScenarios struct {
	Version   string       `json:"version"`
	LoadedAt  time.Time    `json:"loaded_at"`
	Scenarios []PGScenario `json:"scenarios"`
	Status    ReloadStatus `json:"status"`
}

// PGScenario is one live scenario with its diagram.
type PGScenario struct {
	Name    string   `json:"name"`
	Title   string   `json:"title,omitempty"`
	File    string   `json:"file"`
	Version string   `json:"version"`
	Lines   []int    `json:"lines,omitempty"`
	Default bool     `json:"default,omitempty"`
	Start   string   `json:"start"`
	Fields  []string `json:"fields,omitempty"` // fields the scenario collects, in state order
	Graph   Graph    `json:"graph"`
}

// Graph is a scenario's diagram, laid out: the same edges as `olbot graph`
// (Scenario.Edges), with the start as a dot of its own and the end drawn as
// a small dot beside each state that hands off or finishes (one end dot per
// state keeps arrows short). The page only draws it.
type Graph struct {
	Width  int         `json:"width"`
	Height int         `json:"height"`
	Nodes  []GraphNode `json:"nodes"`
	Edges  []GraphEdge `json:"edges"`
}

// GraphNode is a state, the start dot or an end dot, at its place: X, Y is
// the centre, W, H the size.
type GraphNode struct {
	ID    int    `json:"id"`
	Name  string `json:"name"` // the state's name; "[*]" for the start and end dots
	Kind  string `json:"kind"` // start, end, state
	Rank  int    `json:"rank"` // row, top to bottom: by distance from the start (a long row wraps)
	X     int    `json:"x"`
	Y     int    `json:"y"`
	W     int    `json:"w"`
	H     int    `json:"h"`
	Of    int    `json:"of,omitempty"`    // end dot: the state it belongs to
	Waits bool   `json:"waits,omitempty"` // waits for the client (ask, menu, on)
	// End is the state's own end action: operator, transfer, finish.
	End  string `json:"end,omitempty"`
	Save string `json:"save,omitempty"` // field an answer is saved into
	Text string `json:"text,omitempty"` // what the bot asks or says there (template source)
}

// GraphEdge is one arrow, between node ids.
type GraphEdge struct {
	From  int    `json:"from"`
	To    int    `json:"to"`
	Key   string `json:"key"` // "FROM -> TO" in state names ("[*]" for start and end), as in Funnel.Edges
	Label string `json:"label,omitempty"`
	Kind  string `json:"kind"`
}

// Layout sizes, in SVG units.
const (
	gNodeH   = 40
	gRowGap  = 100 // centre to centre
	gColGap  = 40  // between boxes in a row
	gMargin  = 24
	gSideGap = 80 // room on the right for arrows that go back up
	gDot     = 18
	gEndDot  = 16
	gLoop    = 30  // room on the left of a state with a self-loop
	gEndGap  = 40  // room on the right of a state with an end dot
	gMaxRow  = 600 // widest row before it wraps
)

// graphOf lays a scenario out in rows by distance from the start (BFS); each
// row is ordered and placed under the states that lead to it, to keep arrows
// short and straight.
func graphOf(sc *scenarios.Scenario) Graph {
	edges := sc.Edges()
	var g Graph
	id := map[string]int{}
	addNode := func(n GraphNode) int {
		n.ID = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
		return n.ID
	}
	start := addNode(GraphNode{Name: scenarios.NoState, Kind: "start", W: gDot, H: gDot})
	for _, name := range sc.Order {
		st := sc.States[name]
		n := GraphNode{Name: name, Kind: "state", H: gNodeH, W: boxWidth(name), Waits: st.Waits(), Save: st.Save}
		switch {
		case st.Operator != "":
			n.End = "operator"
		case st.Transfer != nil:
			n.End = "transfer"
		case st.Finish:
			n.End = "finish"
		}
		switch {
		case st.Ask != nil:
			n.Text = st.Ask.Raw
		case st.Say != nil:
			n.Text = st.Say.Raw
		case st.Greet != nil && st.Greet.Text != nil:
			n.Text = st.Greet.Text.Raw
		}
		id[name] = addNode(n)
	}
	endOf := map[int]int{}
	for _, e := range edges {
		from := start
		if e.From != scenarios.NoState {
			from = id[e.From]
		}
		to := 0
		switch {
		case e.To != scenarios.NoState:
			to = id[e.To]
		case endOf[from] != 0:
			to = endOf[from]
		default:
			to = addNode(GraphNode{Name: scenarios.NoState, Kind: "end", W: gEndDot, H: gEndDot, Of: from})
			endOf[from] = to
		}
		g.Edges = append(g.Edges, GraphEdge{From: from, To: to, Key: edgeKey(e.From, e.To), Label: e.Label, Kind: e.Kind})
	}
	if g.Edges == nil {
		g.Edges = []GraphEdge{}
	}
	layout(&g, start, endOf)
	return g
}

// boxWidth estimates a state box's width from its name.
func boxWidth(name string) int {
	w := 8*utf8.RuneCountInString(name) + 28
	return min(max(w, 80), 240)
}

// layout places the start and the states in rows (end dots go beside their
// state) and sets the diagram's size.
func layout(g *Graph, start int, endOf map[int]int) {
	n := len(g.Nodes)
	isEnd := func(v int) bool { return g.Nodes[v].Kind == "end" }
	succ := make([][]int, n)
	loop := make([]bool, n)
	for _, e := range g.Edges {
		switch {
		case e.From == e.To:
			loop[e.From] = true
		case !isEnd(e.To):
			succ[e.From] = append(succ[e.From], e.To)
		}
	}
	rank := make([]int, n)
	for i := range rank {
		rank[i] = -1
	}
	rank[start] = 0
	queue := []int{start}
	maxRank := 0
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range succ[v] {
			if rank[w] < 0 {
				rank[w] = rank[v] + 1
				maxRank = max(maxRank, rank[w])
				queue = append(queue, w)
			}
		}
	}
	unreached := false // states no arrow reaches (check warns) get a row of their own
	for v := range g.Nodes {
		if rank[v] < 0 && !isEnd(v) {
			rank[v] = maxRank + 1
			unreached = true
		}
	}
	if unreached {
		maxRank++
	}
	// room each box takes in its row, its dots and loops included
	left := make([]int, n)  // from the box's left edge to the slot's left edge
	right := make([]int, n) // from the box's right edge to the slot's right edge
	for v := range g.Nodes {
		if loop[v] {
			left[v] = gLoop
		}
		if endOf[v] != 0 {
			right[v] = gEndGap
		}
	}
	slot := func(v int) int { return left[v] + g.Nodes[v].W + right[v] }

	rows := make([][]int, maxRank+1)
	for v := range g.Nodes { // file order first
		if !isEnd(v) {
			rows[rank[v]] = append(rows[rank[v]], v)
		}
	}
	pred := make([][]int, n)
	for _, e := range g.Edges {
		if e.From != e.To && !isEnd(e.To) && rank[e.From] < rank[e.To] {
			pred[e.To] = append(pred[e.To], e.From)
		}
	}
	// Order each row by the mean order of its predecessors, then wrap rows
	// wider than gMaxRow onto more lines; a line is a row from here on.
	order := make([]float64, n)
	var lines [][]int
	for r, row := range rows {
		key := map[int]float64{}
		for j, v := range row {
			key[v] = float64(j) / float64(len(row))
			if r > 0 && len(pred[v]) > 0 {
				sum := 0.0
				for _, u := range pred[v] {
					sum += order[u]
				}
				key[v] = sum / float64(len(pred[v]))
			}
		}
		sort.SliceStable(row, func(a, b int) bool { return key[row[a]] < key[row[b]] })
		for j, v := range row {
			order[v] = (float64(j) + 0.5) / float64(len(row))
		}
		w := 0
		var line []int
		for _, v := range row {
			if len(line) > 0 && w+gColGap+slot(v) > gMaxRow {
				lines = append(lines, line)
				line, w = nil, 0
			}
			if len(line) > 0 {
				w += gColGap
			}
			line = append(line, v)
			w += slot(v)
		}
		lines = append(lines, line)
	}
	// Place each box under the mean centre of its predecessors; boxes that
	// would overlap are packed into a block centred on their wishes.
	center := make([]float64, n)
	for r, line := range lines {
		type block struct {
			nodes []int
			width float64 // slots and gaps
			want  float64 // sum of the wished left edges of the block
		}
		var blocks []*block
		off := 0.0
		for _, v := range line {
			wish := off
			if len(pred[v]) > 0 && r > 0 {
				sum := 0.0
				for _, u := range pred[v] {
					sum += center[u]
				}
				wish = sum / float64(len(pred[v]))
				wish -= float64(left[v]) + float64(g.Nodes[v].W)/2 // slot's left edge
			}
			off += float64(slot(v) + gColGap)
			b := &block{nodes: []int{v}, width: float64(slot(v)), want: wish}
			blocks = append(blocks, b)
			for len(blocks) > 1 {
				a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
				if a.want/float64(len(a.nodes))+a.width+gColGap <= b.want/float64(len(b.nodes)) {
					break
				}
				// merge: b's wishes count relative to a's left edge
				a.want += b.want - float64(len(b.nodes))*(a.width+gColGap)
				a.nodes = append(a.nodes, b.nodes...)
				a.width += gColGap + b.width
				blocks = blocks[:len(blocks)-1]
			}
		}
		for _, b := range blocks {
			x := b.want / float64(len(b.nodes))
			for _, v := range b.nodes {
				center[v] = x + float64(left[v]) + float64(g.Nodes[v].W)/2
				x += float64(slot(v) + gColGap)
			}
		}
		for _, v := range line {
			g.Nodes[v].Rank = r
		}
	}
	// shift everything right of the margin and measure
	minX, maxX := 0.0, 0.0
	for i, line := range lines {
		for j, v := range line {
			l := center[v] - float64(g.Nodes[v].W)/2 - float64(left[v])
			rt := center[v] + float64(g.Nodes[v].W)/2 + float64(right[v])
			if (i == 0 && j == 0) || l < minX {
				minX = l
			}
			if (i == 0 && j == 0) || rt > maxX {
				maxX = rt
			}
		}
	}
	for _, line := range lines {
		for _, v := range line {
			nd := &g.Nodes[v]
			nd.X = int(center[v] - minX + gMargin + 0.5)
			nd.Y = gMargin + gNodeH/2 + nd.Rank*gRowGap
		}
	}
	for v, e := range endOf {
		src, dot := &g.Nodes[v], &g.Nodes[e]
		dot.Rank = src.Rank
		dot.X = src.X + src.W/2 + gEndGap - gEndDot/2 - 2
		dot.Y = src.Y
	}
	g.Width = int(maxX-minX+0.5) + 2*gMargin + gSideGap
	g.Height = (len(lines)-1)*gRowGap + gNodeH + 2*gMargin
}

// fieldsOf lists the fields a scenario saves, in state order.
func fieldsOf(sc *scenarios.Scenario) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range sc.Order {
		if f := sc.States[name].Save; f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) handlePGScenarios(c echo.Context) error {
	snap := s.registry.Current()
	resp := PGScenarios{Version: snap.Version, LoadedAt: snap.LoadedAt, Scenarios: []PGScenario{}, Status: s.reloadStatus()}
	for _, sc := range snap.Set.List {
		resp.Scenarios = append(resp.Scenarios, PGScenario{Name: sc.Name, Title: sc.Title, File: sc.File, Version: sc.Version, Lines: sc.Lines,
			Default: sc.Default(), Start: sc.Start, Fields: fieldsOf(sc), Graph: graphOf(sc)})
	}
	return c.JSON(http.StatusOK, resp)
}

// ---- playground dialogs ----

// PGEventRequest is the body of POST /playground/api/dialogs/{session}/events.
type PGEventRequest struct {
	Scenario string `json:"scenario,omitempty"` // required to start; a running dialog keeps its own
	Type     string `json:"type"`               // start, message, button, idle, close
	Text     string `json:"text,omitempty"`
	Button   int    `json:"button,omitempty"`
	Client   string `json:"client,omitempty"`
}

const maxSessionLen = 64

// checkSession validates a page's session id: letters, digits, - and _.
func checkSession(id string) error {
	if id == "" || len(id) > maxSessionLen {
		return &Error{Code: EInvalid, Field: "session", Message: fmt.Sprintf("the session id must be 1 to %d letters, digits, - or _", maxSessionLen)}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return &Error{Code: EInvalid, Field: "session", Message: "the session id may hold only letters, digits, - and _"}
		}
	}
	return nil
}

// handlePGEvent applies an event to the playground dialog pg:<session>. The
// dialog is marked as a playground one and never produces portal calls.
// "idle" acts as if the client had been silent for the scenario's idle time.
func (s *Server) handlePGEvent(c echo.Context) error {
	session := c.Param("session")
	if err := checkSession(session); err != nil {
		return err
	}
	var req PGEventRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Client) > 100 {
		return &Error{Code: EInvalid, Field: "client", Message: "client is longer than 100 bytes"}
	}
	key := NSPlayground + session
	now := s.now()
	ev := engine.Event{Type: engine.EventType(req.Type), Text: req.Text, Button: req.Button, Client: req.Client, Time: now}
	if err := ev.Validate(); err != nil {
		return &Error{Code: EInvalid, Field: "type", Message: err.Error()}
	}
	ctx := c.Request().Context()
	set := s.registry.Current().Set
	if req.Scenario != "" {
		sc := set.ByName[req.Scenario]
		if sc == nil {
			return &Error{Code: EInvalid, Field: "scenario", Message: fmt.Sprintf("unknown scenario %q (loaded: %s)", req.Scenario, strings.Join(names(set), ", "))}
		}
		if len(sc.Lines) > 0 {
			ev.Line = sc.Lines[0]
		}
	}
	if ev.Type == engine.Idle {
		// fast-forward the silence: the page cannot wait 15 minutes
		if d, err := s.store.Dialog(ctx, key); err == nil && d.Status == engine.Active {
			if sc := set.ByName[d.Scenario]; sc != nil && sc.Settings.Idle > 0 {
				if due := d.LastIn.Add(sc.Settings.Idle); due.After(now) {
					ev.Time = due
				}
			}
		}
	}
	out, err := s.process(ctx, input{Key: key, Event: ev, Scenario: req.Scenario, Meta: map[string]string{"playground": "true"}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, responseOf(out))
}

func (s *Server) handlePGDialog(c echo.Context) error {
	session := c.Param("session")
	if err := checkSession(session); err != nil {
		return err
	}
	key := NSPlayground + session
	d, err := s.store.Dialog(c.Request().Context(), key)
	if errors.Is(err, engine.ErrNotFound) {
		return &Error{Code: ENotFound, Message: fmt.Sprintf("no playground dialog %q", session)}
	}
	if err != nil {
		return unavailable("read dialog %s", key, err)
	}
	return c.JSON(http.StatusOK, viewOf(d))
}

// ---- funnel ----

func (s *Server) handlePGFunnel(c echo.Context) error {
	name := c.Param("scenario")
	sc := s.registry.Current().Set.ByName[name]
	if sc == nil {
		return &Error{Code: ENotFound, Message: fmt.Sprintf("no live scenario %q", name)}
	}
	f, err := s.pg.funnel.view(c.Request().Context(), name)
	if err != nil {
		return unavailable("read the funnel of %s", name, err)
	}
	return c.JSON(http.StatusOK, funnelView(f, sc.Version))
}

func (s *Server) handlePGFunnels(c echo.Context) error {
	resp := map[string]FunnelView{}
	for _, sc := range s.registry.Current().Set.List {
		f, err := s.pg.funnel.view(c.Request().Context(), sc.Name)
		if err != nil {
			return unavailable("read the funnel of %s", sc.Name, err)
		}
		resp[sc.Name] = funnelView(f, sc.Version)
	}
	return c.JSON(http.StatusOK, map[string]any{"scenarios": resp})
}
