package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/server"
)

// adminRequest sends an admin request to a running server and returns the
// answer; an answer other than 200 is an error with the server's message.
func adminRequest(ctx context.Context, method, base, path, token string) (*http.Response, error) {
	if base == "" {
		return nil, errors.New("--server is required, e.g. --server http://127.0.0.1:8080")
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want http://HOST:PORT", base)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server unreachable: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// runErase asks a running server to erase one dialog's or one portal's
// data at once, and prints what was deleted.
func runErase(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("erase", "erase --server URL (--dialog ID | --portal MEMBER_ID)", stderr)
	srv := fs.String("server", "", "the running olbot, e.g. http://127.0.0.1:8080")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token (env OLBOT_ADMIN_TOKEN)")
	dialog := fs.String("dialog", "", "a dialog: its API id (as in /v1/events) or its whole key (b24:MEMBER:chatN, pg:SESSION)")
	portal := fs.String("portal", "", "a portal's member_id: every dialog of it, its calls and its install record")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*dialog == "") == (*portal == "") {
		fmt.Fprintln(stderr, "olbot erase: give exactly one of --dialog ID and --portal MEMBER_ID")
		return 2
	}
	path, summary := "/v1/dialogs/"+url.PathEscape(*dialog), func(b []byte) (string, error) {
		var r server.EraseDialogResponse
		err := json.Unmarshal(b, &r)
		return r.EraseSummary(), err
	}
	if *portal != "" {
		path, summary = "/v1/portals/"+url.PathEscape(*portal), func(b []byte) (string, error) {
			var r server.ErasePortalResponse
			err := json.Unmarshal(b, &r)
			return r.EraseSummary(), err
		}
	}
	resp, err := adminRequest(ctx, http.MethodDelete, *srv, path, *token)
	if err != nil {
		fmt.Fprintln(stderr, "olbot erase:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintln(stderr, "olbot erase:", err)
		return 1
	}
	text, err := summary(body)
	if err != nil {
		fmt.Fprintf(stderr, "olbot erase: unexpected answer %q: %v\n", body, err)
		return 1
	}
	fmt.Fprint(stdout, text)
	return 0
}

// runBackup saves a running server's store snapshot to FILE: into a
// temporary file beside it, checked (the length the server announced, then
// bbolt's consistency check over every page), synced, and only then
// renamed over FILE, so FILE is never a partial or damaged copy.
func runBackup(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("backup", "backup --server URL FILE", stderr)
	srv := fs.String("server", "", "the running olbot, e.g. http://127.0.0.1:8080")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token (env OLBOT_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "olbot backup: give one FILE to save the backup to")
		return 2
	}
	n, err := saveBackup(ctx, *srv, *token, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "olbot backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup %s: %d bytes, integrity check passed\n", fs.Arg(0), n)
	return 0
}

func saveBackup(ctx context.Context, srv, token, file string) (n int64, err error) {
	resp, err := adminRequest(ctx, http.MethodGet, srv, "/v1/backup", token)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".partial-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if n, err = io.Copy(tmp, resp.Body); err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("download: got %d of %d bytes (the server stopped sending)", n, resp.ContentLength)
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := bolt.Verify(tmp.Name()); err != nil {
		return n, fmt.Errorf("the downloaded copy fails its check, %s is left as it was: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return n, err
	}
	if d, err := os.Open(dir); err == nil { // the rename itself durable
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}
