package main

// olbot history and olbot rollback: a running server's history of the
// versions of a scenario file that went live, and a rollback to one of
// them — the same routes the playground's editor uses.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/olbot/olbot/server"
)

// parseInterspersed parses flags that may come after the positional
// arguments (olbot history FILE --server URL) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiClient talks to a running server's /v1 routes.
type apiClient struct {
	base, token string
}

// do sends a request and decodes a JSON answer into out when the status is
// one of ok; any other answer is an error carrying the server's message.
func (a apiClient) do(ctx context.Context, method, path, contentType string, body io.Reader, out any, ok ...int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.base, "/")+path, body)
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("server unreachable: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if len(ok) == 0 {
		ok = []int{http.StatusOK}
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			if out != nil {
				if err := json.Unmarshal(raw, out); err != nil {
					return resp.StatusCode, fmt.Errorf("the server answered %s with something that is not olbot's JSON: %w", resp.Status, err)
				}
			}
			return resp.StatusCode, nil
		}
	}
	var e server.Error
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		return resp.StatusCode, fmt.Errorf("the server refused (%s): %s", resp.Status, e.Message)
	}
	return resp.StatusCode, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(raw)))
}

// serverFile names a file the way the server does: a path inside its
// scenario folder. arg may be that path, or a local path whose last
// components match one (examples/sales/leads.yaml → sales/leads.yaml); a
// file the server does not have yet is named by its base name.
func (a apiClient) serverFile(ctx context.Context, arg string, mustExist bool) (string, error) {
	var files server.FilesResponse
	if _, err := a.do(ctx, http.MethodGet, "/v1/files", "", nil, &files); err != nil {
		return "", err
	}
	slash := filepath.ToSlash(filepath.Clean(arg))
	best := ""
	var names []string
	for _, f := range files.Files {
		names = append(names, f.File)
		if slash == f.File || strings.HasSuffix(slash, "/"+f.File) {
			if len(f.File) > len(best) {
				best = f.File
			}
		}
	}
	if best != "" {
		return best, nil
	}
	if mustExist {
		return "", fmt.Errorf("the server has no scenario file %s (it has: %s)", arg, strings.Join(names, ", "))
	}
	return filepath.Base(arg), nil
}

// runHistory is `olbot history FILE --server URL`.
func runHistory(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("history", "history FILE --server URL", stderr)
	srv := fs.String("server", "", "the running olbot, e.g. http://127.0.0.1:8080")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token (env OLBOT_ADMIN_TOKEN)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *srv == "" {
		fs.Usage()
		return 2
	}
	a := apiClient{base: *srv, token: *token}
	file, err := a.serverFile(ctx, pos[0], true)
	if err != nil {
		fmt.Fprintln(stderr, "olbot history:", err)
		return 2
	}
	var h server.HistoryResponse
	if _, err := a.do(ctx, http.MethodGet, "/v1/files/history?file="+url.QueryEscape(file), "", nil, &h); err != nil {
		fmt.Fprintln(stderr, "olbot history:", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: %d versions kept (newest first); live %s, on disk %s\n", h.File, len(h.Versions), orDash(h.Live), orDash(h.Current))
	for _, v := range h.Versions {
		mark := " "
		if v.Hash == h.Live {
			mark = "*"
		}
		note := ""
		if v.Note != "" {
			note = "  " + v.Note
		}
		fmt.Fprintf(stdout, "%s %s  %s  %-6s  %6d bytes%s\n", mark, v.Hash, v.Time.UTC().Format("2006-01-02 15:04:05Z"), v.Source, v.Size, note)
	}
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// runRollback is `olbot rollback FILE HASH --server URL [--yes]`: it shows
// the impact of going back to a kept version (the dry run), asks, and
// saves it like the editor does, refused if the file changed meanwhile.
func runRollback(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("rollback", "rollback FILE HASH --server URL [--yes]", stderr)
	srv := fs.String("server", "", "the running olbot, e.g. http://127.0.0.1:8080")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token (env OLBOT_ADMIN_TOKEN)")
	yes := fs.Bool("yes", false, "do not ask: roll back after showing the impact")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 2 || *srv == "" {
		fs.Usage()
		return 2
	}
	a := apiClient{base: *srv, token: *token}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "olbot rollback:", err)
		return 2
	}
	file, err := a.serverFile(ctx, pos[0], true)
	if err != nil {
		return fail(err)
	}
	q := "?file=" + url.QueryEscape(file)
	var h server.HistoryResponse
	if _, err := a.do(ctx, http.MethodGet, "/v1/files/history"+q, "", nil, &h); err != nil {
		return fail(err)
	}
	hash := ""
	for _, v := range h.Versions { // a unique prefix is enough
		if strings.HasPrefix(v.Hash, pos[1]) && v.Hash != hash {
			if hash != "" {
				return fail(fmt.Errorf("%q matches more than one version of %s: give more of the hash", pos[1], file))
			}
			hash = v.Hash
		}
	}
	if hash == "" {
		return fail(fmt.Errorf("%s has no kept version %s (olbot history %s --server %s lists them)", file, pos[1], file, *srv))
	}
	var old server.FileContent
	if _, err := a.do(ctx, http.MethodGet, "/v1/files/version"+q+"&hash="+url.QueryEscape(hash), "", nil, &old); err != nil {
		return fail(err)
	}
	var cur server.FileContent
	if _, err := a.do(ctx, http.MethodGet, "/v1/files/content"+q, "", nil, &cur); err != nil {
		return fail(err)
	}
	if cur.Hash == hash {
		fmt.Fprintf(stdout, "%s is already version %s: nothing to do\n", file, hash)
		return 0
	}
	var dr server.DryRunResponse
	code, err := a.do(ctx, http.MethodPost, "/v1/scenarios/check"+q, "application/yaml", strings.NewReader(old.Content), &dr, http.StatusOK, http.StatusUnprocessableEntity)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "rolling %s back from %s to %s:\n", file, cur.Hash, hash)
	fmt.Fprint(stdout, dr.Summary())
	if code != http.StatusOK {
		fmt.Fprintln(stdout, "nothing changed")
		return 1
	}
	if !*yes {
		fmt.Fprint(stdout, "Roll back? [y/N] ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "nothing changed")
			return 1
		}
	}
	var saved server.SaveResponse
	save := "/v1/files/save" + q + "&base=" + url.QueryEscape(cur.Hash) + "&rollback=" + url.QueryEscape(hash)
	code, err = a.do(ctx, http.MethodPost, save, "application/yaml", strings.NewReader(old.Content), &saved, http.StatusOK, http.StatusConflict)
	if err != nil {
		return fail(err)
	}
	if code == http.StatusConflict {
		fmt.Fprintf(stderr, "olbot rollback: %s changed while rolling back; nothing was saved. Run it again.\n", file)
		return 1
	}
	state := "live"
	if !saved.Live {
		state = "written, but not live (see the server's reload errors)"
	}
	fmt.Fprintf(stdout, "%s is version %s again: %s\n", file, saved.Hash, state)
	return 0
}
