package convtest

import (
	"fmt"

	"github.com/olbot/olbot/scenarios"
)

// attachment is the image and the file of one bot message ("" when none).
type attachment struct{ image, file string }

// check compares a message's attachment with a bot step's image: and
// file: (unchecked when not given; "" expects none); it returns the
// difference, or "".
func (a attachment) check(st scenarios.TestStep) string {
	for _, c := range []struct {
		kind string
		want *string
		got  string
	}{{"image", st.Image, a.image}, {"file", st.File, a.file}} {
		switch {
		case c.want == nil:
		case *c.want == "" && c.got != "":
			return fmt.Sprintf("the message has the %s %q, want none", c.kind, c.got)
		case *c.want != "" && c.got == "":
			return fmt.Sprintf("the message has no %s, want %q", c.kind, *c.want)
		case !Glob(*c.want, c.got):
			return fmt.Sprintf("%s %q, want %q", c.kind, c.got, *c.want)
		}
	}
	return ""
}
