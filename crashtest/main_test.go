package crashtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binDir   string
	buildBin sync.Once
	binPath  string
	binErr   error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "olbot-crashtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// olbotBinary builds cmd/olbot once per test binary, without the race
// detector (the child must start fast; the test process itself is raced
// when go test -race runs it), and returns its path.
func olbotBinary(tb testing.TB) string {
	tb.Helper()
	buildBin.Do(func() {
		// go test puts its own GOROOT/bin first on the PATH of the tests it runs
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("build cmd/olbot: no go command on PATH: %w", err)
			return
		}
		binPath = filepath.Join(binDir, "olbot")
		cmd := exec.Command(goTool, "build", "-buildvcs=false", "-o", binPath, "github.com/olbot/olbot/cmd/olbot")
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build cmd/olbot: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}
