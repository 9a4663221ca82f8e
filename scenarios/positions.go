package scenarios

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// textPos is the position in the file of byte offset off of a scalar's value.
func (d *decoder) textPos(v *yaml.Node, off int) Pos {
	return d.textPositions(v, []int{off})[0]
}

// textPositions returns the positions in the file of byte offsets offs
// (ascending) of a scalar's value: exact for one-line plain and quoted
// scalars (backslash escapes and doubled single quotes included) and for
// literal blocks (|), else the scalar's start. The line is read once.
func (d *decoder) textPositions(v *yaml.Node, offs []int) []Pos {
	out := make([]Pos, len(offs))
	for i := range out {
		out[i] = posOf(v)
	}
	if v.Line < 1 || v.Line > len(d.src) {
		return out
	}
	if v.Style&yaml.LiteralStyle != 0 {
		d.literalPositions(v, offs, out)
		return out
	}
	if v.Style&yaml.FoldedStyle != 0 {
		return out
	}
	line := d.src[v.Line-1]
	si := byteAtCol(line, v.Column)
	var quote byte
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0:
		quote = '"'
	case v.Style&yaml.SingleQuotedStyle != 0:
		quote = '\''
	}
	if si < 0 || quote != 0 && (si >= len(line) || line[si] != quote) {
		return out
	}
	if quote != 0 {
		si++
	}
	vi := 0   // bytes of the value matched so far
	col := -1 // runes of line[:si], counted from lineStart
	lineStart := 0
	for i, off := range offs {
		off = max(0, min(off, len(v.Value)))
		if off < vi || strings.Contains(v.Value[vi:off], "\n") {
			break // offsets out of order, or past the first line: the start
		}
		for vi < off && si < len(line) {
			switch c := line[si]; {
			case quote == '"' && c == '\\' && si+1 < len(line):
				n, produced := escapeLen(line[si+1:])
				si += 1 + n
				vi += produced
			case quote == '\'' && c == '\'' && si+1 < len(line) && line[si+1] == '\'':
				si += 2
				vi++
			default:
				_, size := utf8.DecodeRuneInString(line[si:])
				si += size
				vi += size
			}
		}
		if vi != off { // the value continues on the next line
			break
		}
		if col < 0 {
			col = 0
		}
		col += utf8.RuneCountInString(line[lineStart:si])
		lineStart = si
		out[i] = Pos{v.Line, col + 1}
	}
	return out
}

// literalPositions places offsets (ascending) of a literal block scalar
// (|) into out: each line of the value is a line of the file, after the
// block's indentation. Offsets it cannot place keep the scalar's start.
func (d *decoder) literalPositions(v *yaml.Node, offs []int, out []Pos) {
	indent := -1
	for i := v.Line; i < len(d.src); i++ { // d.src[v.Line] is the line after the |
		if strings.TrimSpace(d.src[i]) != "" {
			indent = indentOf(d.src[i])
			break
		}
	}
	if indent < 0 {
		return
	}
	k, lineStart, at := 0, 0, 0 // value line k starts at byte lineStart; read up to at
	checked, runes := -1, 0     // the line last checked against the file; runes of lineStart..at
	for i, off := range offs {
		off = max(0, min(off, len(v.Value)))
		if off < at {
			return
		}
		for j := strings.IndexByte(v.Value[at:off], '\n'); j >= 0; j = strings.IndexByte(v.Value[at:off], '\n') {
			k++
			at += j + 1
			lineStart, runes = at, 0
		}
		runes += utf8.RuneCountInString(v.Value[at:off])
		at = off
		n := v.Line + 1 + k // 1-based line of the offset
		if n > len(d.src) {
			return
		}
		if checked != k {
			end := strings.IndexByte(v.Value[lineStart:], '\n')
			if end < 0 {
				end = len(v.Value) - lineStart
			}
			if src := d.src[n-1]; len(src) < indent || !strings.HasPrefix(src[indent:], v.Value[lineStart:lineStart+end]) {
				return
			}
			checked = k
		}
		out[i] = Pos{n, indent + runes + 1}
	}
}

// byteAtCol returns the byte index of 1-based rune column col of line, or -1.
func byteAtCol(line string, col int) int {
	for i := range line {
		if col--; col == 0 {
			return i
		}
	}
	if col == 1 {
		return len(line)
	}
	return -1
}

// escapeLen reads the escape after a backslash in a double-quoted scalar: it
// returns the bytes it takes in the file and the bytes it yields in the value.
func escapeLen(s string) (n, produced int) {
	if s == "" {
		return 0, 0
	}
	hex := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	switch s[0] {
	case 'x', 'u', 'U':
		k := hex[s[0]]
		if len(s) > k {
			if r, err := strconv.ParseUint(s[1:1+k], 16, 32); err == nil {
				if l := utf8.RuneLen(rune(r)); l > 0 {
					return 1 + k, l
				}
				return 1 + k, 3 // invalid runes become U+FFFD
			}
		}
		return 1, 1
	case 'N', '_':
		return 1, 2 // U+0085, U+00A0
	case 'L', 'P':
		return 1, 3 // U+2028, U+2029
	}
	return 1, 1
}
