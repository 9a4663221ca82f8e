package match

// Index finds the entries whose patterns may match a message with typos,
// so the forgiving pass compares a message word only with the few entry
// words it can be one edit from, not with every entry at every position.
// It is built once per scenario version (a state's menu, options, routes
// and commands) and read concurrently.
//
// A pattern can match at word i only if its first term is near word i:
// the lengths differ by at most one (a stem: the word is at most one
// shorter), the words share one of their first two runes (shape.starts)
// and they lack at most one of each other's letters (a stem: of the word's).
// The index keeps each pattern's first term under both of its first two
// runes, so looking up a message word's first two runes finds every term
// that passes the rune test; the length and letter tests are made on those. It is a
// filter: every entry it leaves out cannot match, the others are matched as
// before (Pattern.MatchFuzzy, EqualFuzzy).
type Index struct {
	// byRune holds the first terms by the low six bits of each of their
	// first two runes (as shape.letters does): runes of one alphabet do not
	// share a bucket, and an array is read faster than a map.
	byRune [64][]firstTerm
	n      int // entry ids are 0 … n-1
}

// firstTerm is the first term of one entry's pattern.
type firstTerm struct {
	id      int32  // the entry
	runes   int32  // its length in runes
	prefix  bool   // a stem ("оформ*")
	letters uint64 // shape.letters
}

// NewIndex returns an index of n entries (ids 0 … n-1).
func NewIndex(n int) *Index { return &Index{n: n} }

// Add indexes one pattern of entry id; an entry may have several (a set of
// `match:` entries, a text in several languages).
func (x *Index) Add(id int, p Pattern) {
	if len(p.terms) == 0 || id < 0 || id >= x.n {
		return
	}
	t := &p.terms[0]
	ft := firstTerm{id: int32(id), runes: int32(t.shape.runes), prefix: t.prefix, letters: t.shape.letters}
	b0, b1 := t.shape.f0&63, t.shape.f1&63
	x.byRune[b0] = append(x.byRune[b0], ft)
	if b1 != b0 {
		x.byRune[b1] = append(x.byRune[b1], ft)
	}
}

// Marks is a set of entry ids.
type Marks struct {
	lo uint64   // ids 0 … 63
	hi []uint64 // ids 64 and up, allocated only for indexes that large
}

// Has reports whether id is in the set.
func (m *Marks) Has(id int) bool {
	if id < 64 {
		return id >= 0 && m.lo&(1<<uint(id)) != 0
	}
	i := id/64 - 1
	return i < len(m.hi) && m.hi[i]&(1<<uint(id%64)) != 0
}

func (m *Marks) add(id int, n int) {
	if id < 64 {
		m.lo |= 1 << uint(id)
		return
	}
	if m.hi == nil {
		m.hi = make([]uint64, (n-1)/64)
	}
	m.hi[id/64-1] |= 1 << uint(id%64)
}

// Candidates returns the entries that may match in with typos: those with
// a pattern whose first term may be near some word of in.
func (x *Index) Candidates(in Input) Marks {
	var m Marks
	if x == nil {
		return m
	}
	in = in.Forgiving()
	for i := range in.shape {
		ws := &in.shape[i]
		b0, b1 := ws.f0&63, ws.f1&63
		x.mark(&m, ws, b0)
		if b1 != b0 {
			x.mark(&m, ws, b1)
		}
	}
	return m
}

func (x *Index) mark(m *Marks, ws *shape, bucket rune) {
	w := int32(ws.runes)
	for _, t := range x.byRune[bucket] {
		if w < t.runes-1 || !oneOff(t.letters, ws.letters) || (!t.prefix && (w > t.runes+1 || !oneOff(ws.letters, t.letters))) {
			continue
		}
		m.add(int(t.id), x.n)
	}
}
