package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/outbox"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		golden   string // compares stdout when set
		contains string // stdout or stderr must contain it
	}{
		{name: "check examples", args: []string{"check", "../../examples"}, golden: "testdata/check-examples.golden"},
		{name: "check broken", args: []string{"check", "testdata/broken.yaml"}, code: 1, golden: "testdata/check-broken.golden"},
		{name: "check missing path", args: []string{"check", "testdata/nope"}, code: 1, contains: "no such file or directory"},
		{name: "check needs a path", args: []string{"check"}, code: 2, contains: "Usage: olbot check"},
		{name: "test examples", args: []string{"test", "../../examples"}, contains: " passed, 0 failed"},
		{name: "test without tests", args: []string{"test", "../../examples/support.yaml"}, code: 1, contains: "no *.test.yaml files found"},
		{name: "test with a broken scenario", args: []string{"test", "testdata/broken.yaml"}, code: 1, contains: "unknown key \"nxet\""},
		{name: "test coverage", args: []string{"test", "--coverage", "../../examples"}, contains: "coverage:"},
		{name: "chat transcript", args: []string{"chat", "--client", "Anna", "../../examples/support.yaml"}, stdin: readFile(t, "testdata/chat.input"), golden: "testdata/chat.golden"},
		{name: "chat attachments", args: []string{"chat", "../../examples/faq.yaml"}, stdin: readFile(t, "testdata/chat-attach.input"), golden: "testdata/chat-attach.golden"},
		{name: "chat with the clock set", args: []string{"chat", "--at", "2027-01-04T12:00", "../../examples/shop.yaml"}, stdin: readFile(t, "testdata/chat-at.input"), golden: "testdata/chat-at.golden"},
		{name: "chat with files and a rating", args: []string{"chat", "--client", "Anna", "../../examples/claims.yaml"}, stdin: readFile(t, "testdata/chat-file.input"), golden: "testdata/chat-file.golden"},
		{name: "chat broken file", args: []string{"chat", "testdata/broken.yaml"}, code: 1, contains: "unknown answer type"},
		{name: "graph mermaid", args: []string{"graph", "../../examples/support.yaml"}, contains: "stateDiagram-v2"},
		{name: "graph dot", args: []string{"graph", "--format", "dot", "../../examples/support.yaml"}, contains: "digraph \"support\""},
		{name: "graph bad format", args: []string{"graph", "--format", "png", "../../examples/support.yaml"}, code: 2, contains: "unknown format"},
		{name: "schema", args: []string{"schema"}, contains: "\"$schema\""},
		{name: "schema tests", args: []string{"schema", "--tests"}, contains: "\"steps\""},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, contains: "unknown command \"frobnicate\""},
		{name: "no command", args: nil, code: 2, contains: "Usage:"},
		{name: "help", args: []string{"help"}, contains: "olbot serve"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if tc.golden != "" {
				golden(t, tc.golden, out)
			}
			if tc.contains != "" && !strings.Contains(out+errOut, tc.contains) {
				t.Errorf("output does not contain %q:\n%s%s", tc.contains, out, errOut)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "olbot.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:7000\nscenarios: from-file\nrate: 5,10\nadmin_token: file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OLBOT_CONFIG": file, "OLBOT_SCENARIOS": "from-env", "OLBOT_ADMIN_TOKEN": "env-token"}
	cfg, err := loadServeConfig([]string{"--admin-token", "flag-token"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"listen from the file", cfg.Listen, "127.0.0.1:7000"},
		{"scenarios: env beats the file", cfg.Scenarios, "from-env"},
		{"admin token: flag beats env", cfg.AdminToken, "flag-token"},
		{"rate from the file", cfg.Rate.String(), "5,10"},
		{"store default", cfg.Store, "./data/olbot.db"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if _, err := loadServeConfig(nil, func(k string) string {
		if k == "OLBOT_CONFIG" {
			return filepath.Join(dir, "missing.yaml")
		}
		return ""
	}, &bytes.Buffer{}); err == nil {
		t.Error("a missing config file must be an error")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("lisen: x\n"), 0o600)
	if _, err := loadServeConfig([]string{"--config", bad}, func(string) string { return "" }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Errorf("unknown config key: err=%v, want it named", err)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in    string
		rate  float64
		burst int
		bad   bool
	}{
		{"2,50", 2, 50, false},
		{"0.5", 0.5, outbox.DefaultBurst, false}, // the default burst: 45
		{" 10 , 5 ", 10, 5, false},
		{"0,1", 0, 0, true},
		{"x", 0, 0, true},
		{"2,0", 0, 0, true},
	}
	for _, tc := range tests {
		r, b, err := parseRate(tc.in)
		if (err != nil) != tc.bad || r != tc.rate || b != tc.burst {
			t.Errorf("parseRate(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, r, b, err, tc.rate, tc.burst, tc.bad)
		}
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("postgres://olbot:s3cret@db:5432/olbot"); got != "postgres://olbot:***@db:5432/olbot" {
		t.Errorf("got %q", got)
	}
}

// TestServe runs the real `olbot serve` on a free port, talks to it, and
// stops it the way a terminal would (cancel = SIGINT).
func TestServe(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--scenarios", "../../examples", "--store", filepath.Join(t.TempDir(), "olbot.db")}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server not ready after 10s: %v\n%s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(`{"dialog":"t1","line":1,"type":"start","client":"Anna"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Dialog  struct{ State, Scenario string }
		Actions []map[string]any
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.Dialog.Scenario != "support" || body.Dialog.State != "welcome" || len(body.Actions) != 2 {
		t.Fatalf("start: status %d, dialog %+v, actions %v", resp.StatusCode, body.Dialog, body.Actions)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15s of SIGINT")
	}
	if !strings.Contains(errb.String(), "stopped") {
		t.Errorf("no shutdown log line:\n%s", errb.String())
	}
}

func TestServeRefusesOpenListenWithoutToken(t *testing.T) {
	code, _, errOut := runCmd(t, "", "serve", "--listen", "0.0.0.0:0", "--store", "memory", "--scenarios", "../../examples")
	if code != 1 || !strings.Contains(errOut, "set an admin token") {
		t.Fatalf("exit %d, want 1 with a hint about the admin token:\n%s", code, errOut)
	}
}

// TestServeConfigTyped: every source fills the typed configuration through
// the one table; a bad value is an error naming its source and the setting.
func TestServeConfigTyped(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "portals: [a.bitrix24.ru, b.bitrix24.ru]\nportal_timeout: 3s\npprof: true\n")
	cfg, err := loadServeConfig([]string{"--config", good, "--outbox-lease", "90s", "--allow-reinstall"},
		func(k string) string { return map[string]string{"OLBOT_RATE": "4", "OLBOT_LOG_LEVEL": "debug"}[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Portals, " "); got != "a.bitrix24.ru b.bitrix24.ru" {
		t.Errorf("portals %q, want both from the YAML list", got)
	}
	if cfg.PortalTimeout != 3*time.Second || cfg.OutboxLease != 90*time.Second || !cfg.Pprof || !cfg.AllowReinstall {
		t.Errorf("timeout %v lease %v pprof %v reinstall %v, want 3s, 90s, true, true", cfg.PortalTimeout, cfg.OutboxLease, cfg.Pprof, cfg.AllowReinstall)
	}
	if cfg.Rate != (rate{4, 45}) || cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "text" {
		t.Errorf("rate %v level %v format %q, want 4,45 (default burst), debug, text", cfg.Rate, cfg.LogLevel, cfg.LogFormat)
	}
	defaults, err := loadServeConfig(nil, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if defaults.PortalTimeout != 15*time.Second || defaults.OutboxLease != 2*time.Minute || defaults.Rate != (rate{2, 45}) || defaults.Portals != nil {
		t.Errorf("defaults: timeout %v lease %v rate %v portals %v", defaults.PortalTimeout, defaults.OutboxLease, defaults.Rate, defaults.Portals)
	}
	bad := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag duration", []string{"--portal-timeout", "soon"}, nil, `--portal-timeout: "soon": want a positive duration`},
		{"env rate", nil, map[string]string{"OLBOT_RATE": "2,0"}, `OLBOT_RATE: rate "2,0": burst must be`},
		{"env bool", nil, map[string]string{"OLBOT_PPROF": "yes please"}, `OLBOT_PPROF: "yes please" is not true or false`},
		{"file value", []string{"--config", write("bad.yaml", "\noutbox_lease: -1m\n")}, nil, "bad.yaml:2: outbox_lease: \"-1m\": want a positive duration"},
		{"file log format", []string{"--config", write("fmt.yaml", "log_format: xml\n")}, nil, `log_format: "xml": want text or json`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadServeConfig(tc.args, func(k string) string { return tc.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestServeRefusesBadPublicHost(t *testing.T) {
	code, _, errOut := runCmd(t, "", "serve", "--listen", "127.0.0.1:0", "--store", "memory", "--scenarios", "../../examples", "--public-host", "https://bot.example.com/")
	if code == 0 || !strings.Contains(errOut, "--public-host") || !strings.Contains(errOut, "without scheme or path") {
		t.Fatalf("exit %d, want a refusal naming --public-host:\n%s", code, errOut)
	}
}
