package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startPeer runs the botbuilder-js peer (bench/botbuilder) on a free
// loopback port; the test is skipped when node or the peer's packages are
// not installed (scripts/bench.sh installs them with npm ci).
func startPeer(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../bench/botbuilder")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "botbuilder")); err != nil {
		t.Skip("the peer's packages are not installed: (cd bench/botbuilder && npm ci)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "index.js", "--listen", addr)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.Contains(l, "botbuilder peer on") {
			t.Fatalf("the peer did not start: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the peer did not start within 30s")
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	return "http://" + addr
}

func TestRunBotFrameworkPeer(t *testing.T) {
	base := startPeer(t)
	t.Run("the support conversation", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Mode: ModeBotFramework, Dialogs: 20, Concurrency: 4, Baseline: true, RunID: "bf"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.OK != 80 || rep.Run.DialogsCompleted != 20 || rep.Baseline != nil || rep.Outbox != nil {
			t.Errorf("ok %d, completed %d, baseline %v, outbox %v", rep.Run.OK, rep.Run.DialogsCompleted, rep.Baseline, rep.Outbox)
		}
		if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "no baseline") {
			t.Errorf("warnings %q", rep.Warnings)
		}
	})
	t.Run("a wrong end is a failure", func(t *testing.T) {
		s := Support()
		s.EndReply = "Goodbye"
		rep, err := Run(t.Context(), Config{Target: base, Mode: ModeBotFramework, Dialogs: 3, Concurrency: 3, Script: s, RunID: "bfw"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Run.Errors["wrong end"] != 3 || rep.Run.DialogsCompleted != 0 || !rep.Failed() {
			t.Errorf("errors %v, completed %d", rep.Run.Errors, rep.Run.DialogsCompleted)
		}
		if ex := rep.Run.ErrorExamples["wrong end"]; !strings.Contains(ex, `"Thank you, Anna! We will write to anna@example.com."`) {
			t.Errorf("example %q", ex)
		}
	})
	t.Run("open loop", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Mode: ModeBotFramework, Dialogs: 5, Concurrency: 20, Rate: 200, Open: true, RunID: "bfo"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.OK != 20 || rep.Run.DialogsCompleted != 5 {
			t.Errorf("ok %d, completed %d", rep.Run.OK, rep.Run.DialogsCompleted)
		}
	})
}

// TestBotFrameworkActivities checks the activities the tool sends, on a
// local HTTP server that records them and answers as the Bot Framework
// does for expectReplies (one reply each; nothing for the third dialog's
// second event).
func TestBotFrameworkActivities(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]botActivity{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var a botActivity
		if err := json.Unmarshal(b, &a); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad activity", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[a.Conversation.ID] = append(got[a.Conversation.ID], a)
		n := len(got[a.Conversation.ID])
		mu.Unlock()
		if a.Conversation.ID == DialogID("act", 2) && n == 2 {
			fmt.Fprint(w, `{"activities":[]}`)
			return
		}
		fmt.Fprintf(w, `{"activities":[{"type":"message","text":"Thank you, %d"}]}`, n)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	rep, err := Run(t.Context(), Config{Target: "http://" + ln.Addr().String(), Mode: ModeBotFramework, Dialogs: 3, Concurrency: 1, RunID: "act"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.OK != 9 || rep.Run.Errors["no reply"] != 1 || rep.Run.DialogsCompleted != 2 {
		t.Errorf("ok %d, errors %v, completed %d", rep.Run.OK, rep.Run.Errors, rep.Run.DialogsCompleted)
	}
	acts := got[DialogID("act", 0)]
	if len(acts) != 4 {
		t.Fatalf("dialog 0 sent %d activities", len(acts))
	}
	want := []struct{ typ, text string }{{"conversationUpdate", ""}, {"message", "Leave a request"}, {"message", "anna"}, {"message", "anna@example.com"}}
	for i, a := range acts {
		if a.Type != want[i].typ || a.Text != want[i].text || a.DeliveryMode != "expectReplies" || a.ID != fmt.Sprintf("%s-%d", DialogID("act", 0), i) ||
			a.From.ID != "client-"+DialogID("act", 0) || a.From.Name != "Anna" || a.Recipient.ID != "bot" || a.ChannelID == "" || a.ServiceURL == "" {
			t.Errorf("activity %d: %+v", i, a)
		}
	}
	if m := acts[0].MembersAdded; len(m) != 1 || m[0] != acts[0].From {
		t.Errorf("join: members added %+v", m)
	}
}
