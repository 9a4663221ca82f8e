package scenarios

import (
	"fmt"
	"regexp"
	"testing"
)

var sayLine = regexp.MustCompile(`(?m)^    say: (".*")$`)

// generateAttachScenario is generateScenario(n) with an image on every
// say: and a file on every other one: each of them is serialized and
// measured at load time.
func generateAttachScenario(n int) []byte {
	i := 0
	return sayLine.ReplaceAllFunc(generateScenario(n), func(m []byte) []byte {
		i++
		text := sayLine.FindSubmatch(m)[1]
		if i%2 == 0 {
			return fmt.Appendf(nil, "    say: {text: %s, image: https://example.com/img/%03d.png, file: https://example.com/files/%03d.pdf}", text, i, i)
		}
		return fmt.Appendf(nil, "    say: {text: %s, image: https://example.com/img/%03d.png}", text, i)
	})
}

func TestGeneratedAttachScenario(t *testing.T) {
	sc := mustParse(t, "generated.yaml", string(generateAttachScenario(200)))
	n := 0
	for _, st := range sc.States {
		if !st.SayAttach.Empty() {
			n++
		}
	}
	if n < 100 || len(sc.Warnings) != 0 {
		t.Fatalf("%d states with an attachment, warnings %v", n, sc.Warnings)
	}
}

// BenchmarkLoad200Attach is BenchmarkLoad200 with the attachments: the
// cost of the load-time size check (compare in the same run).
func BenchmarkLoad200Attach(b *testing.B) {
	src := generateAttachScenario(200)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		sc, ps := Parse("generated.yaml", src)
		if sc == nil {
			b.Fatal(ps)
		}
	}
}
