package scenarios

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Graph is a scenario's diagram, laid out: the same edges as `olbot graph`
// (Scenario.Edges), with the start as a dot of its own and the end drawn as
// a small dot beside each state that hands off or finishes (one end dot per
// state keeps arrows short). The playground page only draws it.
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
	// Short is Text on one line, shortened to fit under the name.
	Short string `json:"short,omitempty"`
	// Type is what the state does, drawn by shape and colour: question
	// (asks and saves an answer), menu (buttons or words), handoff (to an
	// operator or another line), finish, or message (says and moves on).
	Type string `json:"type,omitempty"`
	Line int    `json:"line,omitempty"` // the state's line in the file
}

// GraphEdge is one arrow, between node ids.
type GraphEdge struct {
	From  int    `json:"from"`
	To    int    `json:"to"`
	Key   string `json:"key"` // EdgeKey of the state names ("[*]" for start and end)
	Label string `json:"label,omitempty"`
	Kind  string `json:"kind"`
	// Technical arrows are not part of the conversation as written: where
	// dialogs go when a reload removed their state. The page hides them
	// unless asked, and they do not shape the layout.
	Technical bool `json:"technical,omitempty"`
}

// EdgeKey names an arrow by its states, "FROM -> TO" with NoState for the
// start and the end: the key of the funnel's arrow counts.
func EdgeKey(from, to string) string { return from + " -> " + to }

// Layout sizes, in SVG units.
const (
	gNodeH   = 50
	gRowGap  = 116 // centre to centre
	gColGap  = 40  // between boxes in a row
	gMargin  = 24
	gSideGap = 80 // room on the right for arrows that go back up
	gDot     = 18
	gEndDot  = 16
	gLoop    = 30  // room on the left of a state with a self-loop
	gEndGap  = 40  // room on the right of a state with an end dot
	gMaxRow  = 600 // widest row before it wraps
)

// Layout lays the scenario out in rows by distance from the start (BFS);
// each row is ordered and placed under the states that lead to it, to keep
// arrows short and straight.
func (s *Scenario) Layout() Graph {
	var g Graph
	id := map[string]int{}
	addNode := func(n GraphNode) int {
		n.ID = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
		return n.ID
	}
	start := addNode(GraphNode{Name: NoState, Kind: "start", W: gDot, H: gDot})
	for _, name := range s.Order {
		id[name] = addNode(stateNode(name, s.States[name]))
	}
	endOf := map[int]int{}
	for _, e := range s.Edges() {
		from := start
		if e.From != NoState {
			from = id[e.From]
		}
		to := 0
		switch {
		case e.To != NoState:
			to = id[e.To]
		case endOf[from] != 0:
			to = endOf[from]
		default:
			to = addNode(GraphNode{Name: NoState, Kind: "end", W: gEndDot, H: gEndDot, Of: from})
			endOf[from] = to
		}
		g.Edges = append(g.Edges, GraphEdge{From: from, To: to, Key: EdgeKey(e.From, e.To), Label: e.Label, Kind: e.Kind, Technical: e.Kind == EdgeMissing})
	}
	if g.Edges == nil {
		g.Edges = []GraphEdge{}
	}
	newPlacer(&g, endOf).place(start)
	return g
}

// stateNode is a state's box, not yet placed.
func stateNode(name string, st *State) GraphNode {
	n := GraphNode{Name: name, Kind: "state", H: gNodeH, Waits: st.Waits(), Save: st.Save, Line: st.Line}
	switch {
	case st.Operator != "":
		n.End = "operator"
	case st.Transfer != nil:
		n.End = "transfer"
	case st.Finish:
		n.End = "finish"
	}
	switch {
	case n.End == "operator" || n.End == "transfer":
		n.Type = "handoff"
	case n.End == "finish":
		n.Type = "finish"
	case st.Ask != nil:
		n.Type = "question"
	case len(st.Menu) > 0 || len(st.On) > 0 || len(st.Choices) > 0:
		n.Type = "menu"
	default:
		n.Type = "message"
	}
	switch {
	case st.Ask != nil:
		n.Text = st.Ask.Raw
	case st.Say != nil:
		n.Text = st.Say.Raw
	case st.Greet != nil && st.Greet.Text != nil:
		n.Text = st.Greet.Text.Raw
	}
	n.Short = shorten(n.Text, gShortText)
	n.W = boxWidth(name, n.Short)
	return n
}

// gShortText is how many characters of a state's text its box shows.
const gShortText = 30

// shorten puts text on one line and cuts it at a word to at most n
// characters, with an ellipsis.
func shorten(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	r := []rune(text)
	if len(r) <= n {
		return text
	}
	cut := string(r[:n-1])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:-—") + "…"
}

// boxWidth estimates a state box's width from its name (bold, 13px) and
// its text (12px); the page shortens a text further if it still does
// not fit.
func boxWidth(name, text string) int {
	w := max(8*utf8.RuneCountInString(name), 7*utf8.RuneCountInString(text)) + 28
	return min(max(w, 96), 240)
}

// placer places the nodes of one graph: the start and the states in rows
// (end dots go beside their state), then sets the diagram's size.
type placer struct {
	g     *Graph
	endOf map[int]int
	rank  []int
	// room each box takes in its row, its dots and loops included: from the
	// box's left edge to the slot's left edge, and from its right edge to
	// the slot's right edge
	left, right []int
	succ, pred  [][]int
}

func newPlacer(g *Graph, endOf map[int]int) *placer {
	n := len(g.Nodes)
	p := &placer{g: g, endOf: endOf, rank: make([]int, n), left: make([]int, n), right: make([]int, n), succ: make([][]int, n), pred: make([][]int, n)}
	for _, e := range g.Edges {
		switch {
		case e.From == e.To:
			p.left[e.From] = gLoop
		case e.Technical:
		case !p.isEnd(e.To):
			p.succ[e.From] = append(p.succ[e.From], e.To)
		}
	}
	for v := range endOf {
		p.right[v] = gEndGap
	}
	return p
}

func (p *placer) isEnd(v int) bool { return p.g.Nodes[v].Kind == "end" }
func (p *placer) slot(v int) int   { return p.left[v] + p.g.Nodes[v].W + p.right[v] }

func (p *placer) place(start int) {
	maxRank := p.ranks(start)
	for _, e := range p.g.Edges {
		if e.From != e.To && !e.Technical && !p.isEnd(e.To) && p.rank[e.From] < p.rank[e.To] {
			p.pred[e.To] = append(p.pred[e.To], e.From)
		}
	}
	lines := p.lines(maxRank)
	center := p.centers(lines)
	p.measure(lines, center)
}

// ranks sets each node's row by its distance from the start and returns
// the last row; states no arrow reaches (check warns) get a row of their own.
func (p *placer) ranks(start int) int {
	for i := range p.rank {
		p.rank[i] = -1
	}
	p.rank[start] = 0
	queue := []int{start}
	maxRank := 0
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range p.succ[v] {
			if p.rank[w] < 0 {
				p.rank[w] = p.rank[v] + 1
				maxRank = max(maxRank, p.rank[w])
				queue = append(queue, w)
			}
		}
	}
	unreached := false
	for v := range p.g.Nodes {
		if p.rank[v] < 0 && !p.isEnd(v) {
			p.rank[v] = maxRank + 1
			unreached = true
		}
	}
	if unreached {
		maxRank++
	}
	return maxRank
}

// lines orders each row by the mean order of its predecessors, then wraps
// rows wider than gMaxRow onto more lines; a line is a row from here on.
func (p *placer) lines(maxRank int) [][]int {
	rows := make([][]int, maxRank+1)
	for v := range p.g.Nodes { // file order first
		if !p.isEnd(v) {
			rows[p.rank[v]] = append(rows[p.rank[v]], v)
		}
	}
	order := make([]float64, len(p.g.Nodes))
	var lines [][]int
	for r, row := range rows {
		key := map[int]float64{}
		for j, v := range row {
			key[v] = float64(j) / float64(len(row))
			if r > 0 && len(p.pred[v]) > 0 {
				key[v] = mean(p.pred[v], order)
			}
		}
		sort.SliceStable(row, func(a, b int) bool { return key[row[a]] < key[row[b]] })
		for j, v := range row {
			order[v] = (float64(j) + 0.5) / float64(len(row))
		}
		lines = append(lines, p.wrap(row)...)
	}
	return lines
}

// wrap cuts a row into lines no wider than gMaxRow.
func (p *placer) wrap(row []int) [][]int {
	var lines [][]int
	w := 0
	var line []int
	for _, v := range row {
		if len(line) > 0 && w+gColGap+p.slot(v) > gMaxRow {
			lines = append(lines, line)
			line, w = nil, 0
		}
		if len(line) > 0 {
			w += gColGap
		}
		line = append(line, v)
		w += p.slot(v)
	}
	return append(lines, line)
}

func mean(of []int, value []float64) float64 {
	sum := 0.0
	for _, u := range of {
		sum += value[u]
	}
	return sum / float64(len(of))
}

// block is boxes of one line packed side by side.
type block struct {
	nodes []int
	width float64 // slots and gaps
	want  float64 // sum of the wished left edges of the block
}

// centers places each box under the mean centre of its predecessors; boxes
// that would overlap are packed into a block centred on their wishes. It
// returns each node's centre and sets its rank to its line.
func (p *placer) centers(lines [][]int) []float64 {
	center := make([]float64, len(p.g.Nodes))
	for r, line := range lines {
		var blocks []*block
		off := 0.0
		for _, v := range line {
			wish := off
			if len(p.pred[v]) > 0 && r > 0 {
				wish = mean(p.pred[v], center)
				wish -= float64(p.left[v]) + float64(p.g.Nodes[v].W)/2 // slot's left edge
			}
			off += float64(p.slot(v) + gColGap)
			blocks = pack(append(blocks, &block{nodes: []int{v}, width: float64(p.slot(v)), want: wish}))
		}
		for _, b := range blocks {
			x := b.want / float64(len(b.nodes))
			for _, v := range b.nodes {
				center[v] = x + float64(p.left[v]) + float64(p.g.Nodes[v].W)/2
				x += float64(p.slot(v) + gColGap)
			}
		}
		for _, v := range line {
			p.g.Nodes[v].Rank = r
		}
	}
	return center
}

// pack merges the last block into the ones before it while they overlap.
func pack(blocks []*block) []*block {
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
	return blocks
}

// measure shifts everything right of the margin, puts the end dots beside
// their states and sets the diagram's size.
func (p *placer) measure(lines [][]int, center []float64) {
	g := p.g
	minX, maxX := 0.0, 0.0
	for i, line := range lines {
		for j, v := range line {
			l := center[v] - float64(g.Nodes[v].W)/2 - float64(p.left[v])
			rt := center[v] + float64(g.Nodes[v].W)/2 + float64(p.right[v])
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
	for v, e := range p.endOf {
		src, dot := &g.Nodes[v], &g.Nodes[e]
		dot.Rank = src.Rank
		dot.X = src.X + src.W/2 + gEndGap - gEndDot/2 - 2
		dot.Y = src.Y
	}
	g.Width = int(maxX-minX+0.5) + 2*gMargin + gSideGap
	g.Height = (len(lines)-1)*gRowGap + gNodeH + 2*gMargin
}
