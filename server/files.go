package server

// Editing scenario files from the playground (issue 18): the files of the
// scenario folder, their content, saving one (a dry run first, refused when
// the file changed since it was opened, written atomically, then reloaded),
// and the history of every version that went live with diffs between them.
// Every route is under /v1 behind the admin token; saving is also off on a
// non-loopback listen address unless Config.Edit is set.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/history"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/textdiff"
)

// fileRoutes registers the editor's routes on the /v1 group.
func (s *Server) fileRoutes(v1 *echo.Group) {
	v1.GET("/files", s.handleFiles)
	v1.GET("/files/content", s.handleFileContent)
	v1.POST("/files/save", s.handleSave, accepts(mediaYAML))
	v1.GET("/files/history", s.handleHistory)
	v1.GET("/files/version", s.handleVersion)
	v1.GET("/files/diff", s.handleDiff)
}

// EditState says whether the editor may save, and why not.
type EditState struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// editState: saving needs a loopback listen address or --edit, and a
// scenario folder that can be written.
func (s *Server) editState() EditState {
	if !s.guard.loopback && !s.cfg.Edit {
		return EditState{Reason: fmt.Sprintf("editing in the browser is off: olbot listens on %s, beyond loopback; start it with --edit (and an admin token) to allow it", s.cfg.Listen)}
	}
	if why := readOnly(s.registry.Dir()); why != "" {
		return EditState{Reason: why}
	}
	return EditState{Allowed: true}
}

// readOnly says why the folder cannot take a saved file, or "". A folder
// without any write permission bit counts as read-only even for root, who
// could write it anyway: it was made so on purpose (a mounted ConfigMap,
// a release folder).
func readOnly(dir string) string {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf("the scenario folder %s cannot be read: %v", dir, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Flags&0x1 != 0 { // ST_RDONLY
		return fmt.Sprintf("the scenario folder %s is on a read-only file system (a ConfigMap or a read-only mount): edit the files where they come from", dir)
	}
	if info.Mode().Perm()&0o222 == 0 {
		return fmt.Sprintf("the scenario folder %s is read-only (no write permission): edit the files where they come from, or make the folder writable", dir)
	}
	return ""
}

// FileView is one scenario file of the folder.
type FileView struct {
	File     string `json:"file"`           // path inside the scenario folder
	Hash     string `json:"hash,omitempty"` // content hash of the file on disk; "" when it cannot be read
	Scenario string `json:"scenario,omitempty"`
	Live     string `json:"live_version,omitempty"` // the live version; differs from Hash when the file did not load
	Error    string `json:"error,omitempty"`
}

// FilesResponse is the answer of GET /v1/files.
type FilesResponse struct {
	Dir   string     `json:"dir"`
	Edit  EditState  `json:"edit"`
	Files []FileView `json:"files"`
}

func (s *Server) handleFiles(c echo.Context) error {
	dir := s.registry.Dir()
	found, err := scenarios.Discover(dir)
	if err != nil {
		return unavailable("read the scenario folder %s", dir, err)
	}
	status := map[string]scenarios.FileStatus{}
	for _, f := range s.registry.Current().Files {
		status[filepath.Clean(f.File)] = f
	}
	resp := FilesResponse{Dir: dir, Edit: s.editState(), Files: []FileView{}}
	for _, f := range found.Scenarios {
		rel, err := filepath.Rel(dir, f)
		if err != nil {
			continue
		}
		v := FileView{File: filepath.ToSlash(rel)}
		if src, err := scenarios.ReadFile(f); err == nil {
			v.Hash = scenarios.Version(src)
		}
		st := status[filepath.Clean(f)]
		v.Scenario, v.Live = st.Name, st.Version
		if st.Error != "" {
			v.Error = st.Error
		}
		resp.Files = append(resp.Files, v)
	}
	return c.JSON(http.StatusOK, resp)
}

// scenarioPath checks the file parameter — a path inside the scenario
// folder such as support.yaml or sales/leads.yaml — and returns it cleaned
// and as a path on disk. It refuses absolute paths, any "..", hidden
// entries, names that are not scenario files, and symlinks that lead out of
// the folder (or, for writing, any symlink: rename would replace the link).
func (s *Server) scenarioPath(name string, write bool) (rel, abs string, err error) {
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", &Error{Code: EInvalid, Field: "file", Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case name == "":
		return bad("name the scenario file inside the scenario folder: ?file=support.yaml or ?file=sales/leads.yaml")
	case len(name) > 512 || strings.ContainsAny(name, "\\\x00") || !utfOK(name):
		return bad("the file name %q is not a path inside the scenario folder", clipHost(name))
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return bad("%q is an absolute path: name the file inside the scenario folder, e.g. support.yaml", clipHost(name))
	}
	clean := path.Clean(name)
	if clean != name || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains("/"+clean+"/", "/../") {
		return bad("%q leaves the scenario folder or is not a plain path: name the file inside it, e.g. support.yaml or sales/leads.yaml", clipHost(name))
	}
	for _, part := range strings.Split(clean, "/") {
		if strings.HasPrefix(part, ".") {
			return bad("%q names a hidden file or folder, which olbot never loads", clipHost(name))
		}
	}
	if !(strings.HasSuffix(clean, ".yaml") || strings.HasSuffix(clean, ".yml")) || strings.HasSuffix(clean, scenarios.TestSuffix) || strings.HasSuffix(clean, "~") {
		return bad("%q is not a scenario file name: it must end in .yaml or .yml (and not %s)", clipHost(name), scenarios.TestSuffix)
	}
	dir := s.registry.Dir()
	abs = filepath.Join(dir, filepath.FromSlash(clean))
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", unavailable("read the scenario folder %s", dir, err)
	}
	inside := func(p string) bool {
		r, err := filepath.Rel(realDir, p)
		return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return bad("the folder of %q does not exist in the scenario folder: create it on disk first", clean)
		}
		return "", "", unavailable("read the folder of %s", clean, err)
	}
	if !inside(parent) {
		return bad("%q leads out of the scenario folder through a symlink; olbot edits only files inside it", clean)
	}
	if info, err := os.Lstat(abs); err == nil {
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(abs)
			if err != nil || !inside(target) {
				return bad("%q is a symlink that leads out of the scenario folder; olbot edits only files inside it", clean)
			}
			if write {
				return bad("%q is a symlink: saving would replace the link with a file; edit %s on disk instead", clean, target)
			}
		case info.IsDir():
			return bad("%q is a folder, not a scenario file", clean)
		}
	}
	return clean, abs, nil
}

func utfOK(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FileContent is the answer of GET /v1/files/content and /v1/files/version.
type FileContent struct {
	File    string `json:"file"`
	Hash    string `json:"hash"`
	Content string `json:"content"`
}

func (s *Server) handleFileContent(c echo.Context) error {
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), false)
	if err != nil {
		return err
	}
	src, err := scenarios.ReadFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Code: ENotFound, Field: "file", Message: fmt.Sprintf("no scenario file %s in the scenario folder", rel)}
	case errors.Is(err, scenarios.ErrTooLarge):
		return &Error{Code: ETooLarge, Field: "file", Message: fmt.Sprintf("%s is larger than 1 MiB, the limit of a scenario file: split it", rel)}
	case err != nil:
		return unavailable("read %s", rel, err)
	}
	return c.JSON(http.StatusOK, FileContent{File: rel, Hash: scenarios.Version(src), Content: string(src)})
}

// SaveResponse is the answer of POST /v1/files/save.
type SaveResponse struct {
	File    string         `json:"file"`
	Hash    string         `json:"hash"`    // the saved content's hash: the base of the next save
	Live    bool           `json:"live"`    // the reload made it the live version
	Version string         `json:"version"` // the snapshot version after the reload
	DryRun  DryRunResponse `json:"dry_run"`
}

// SaveConflict is the 409 of a save whose base is not the file's content.
type SaveConflict struct {
	Code    string `json:"code"`
	Message string `json:"error"`
	File    string `json:"file"`
	Current string `json:"current_hash"` // "" when the file is gone
	Base    string `json:"base"`
	Diff    string `json:"diff"` // from the file on disk now to the text sent
}

// handleSave is POST /v1/files/save?file=F&base=HASH with the new content
// (application/yaml). base is the hash of the content the editor started
// from ("" for a new file): a file that changed since is refused with a
// diff, never overwritten. The content is checked as a reload would check
// it; with errors nothing is written (422, the dry run's problems).
// Otherwise it is written atomically (a temporary file in the same folder
// renamed over it) and the folder reloaded; the answer says whether the new
// version is live.
func (s *Server) handleSave(c echo.Context) error {
	if es := s.editState(); !es.Allowed {
		return &Error{Code: EForbidden, Message: es.Reason}
	}
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), true)
	if err != nil {
		return err
	}
	base := c.QueryParam("base")
	rollback := c.QueryParam("rollback")
	if len(base) > 64 || len(rollback) > 64 {
		return &Error{Code: EInvalid, Field: "base", Message: "base and rollback are content hashes (12 hex digits)"}
	}
	// never read more than a scenario file may hold, whatever the body limit
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, scenarios.MaxFileSize)
	src, err := readBody(c)
	if err != nil {
		if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return &Error{Code: ETooLarge, Message: "the scenario is larger than 1 MiB, the limit of a scenario file: nothing was saved"}
		}
		return err
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	cur, err := scenarios.ReadFile(abs)
	curHash := ""
	switch {
	case err == nil:
		curHash = scenarios.Version(cur)
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, scenarios.ErrTooLarge):
		curHash = "too-large"
	default:
		return unavailable("read %s", rel, err)
	}
	if base != curHash {
		msg := fmt.Sprintf("%s changed since you opened it (someone saved it, or it changed on disk): nothing was saved. Your text is kept; compare it with the file's current content below, merge, and save again", rel)
		if curHash == "" {
			msg = fmt.Sprintf("%s was deleted since you opened it: nothing was saved. Your text is kept; save it as a new file to bring it back", rel)
		} else if base == "" {
			msg = fmt.Sprintf("%s already exists: nothing was saved. Open it to edit it, or pick another name", rel)
		}
		return c.JSON(http.StatusConflict, SaveConflict{Code: EConflict, Message: msg, File: rel, Current: curHash, Base: base,
			Diff: textdiff.Unified(rel+" (on disk now)", rel+" (your text)", string(cur), string(src))})
	}
	dr, err := s.dryRun(c.Request().Context(), abs, src)
	if err != nil {
		return err
	}
	dr.File = rel
	if !dr.OK {
		return c.JSON(http.StatusUnprocessableEntity, dr)
	}
	hash := scenarios.Version(src)
	if hash == curHash {
		return c.JSON(http.StatusOK, SaveResponse{File: rel, Hash: hash, Live: s.isLive(abs, hash), Version: s.registry.Current().Version, DryRun: dr})
	}
	if why := readOnly(filepath.Dir(abs)); why != "" {
		return &Error{Code: EForbidden, Message: why}
	}
	if err := writeAtomic(abs, src); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return &Error{Code: EForbidden, Message: fmt.Sprintf("the scenario folder is read-only: %s was not saved (%v)", rel, err)}
		}
		return unavailable("write %s", rel, err)
	}
	s.markEditorSave(rel, hash, rollback)
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	if _, err := s.Reload(ctx); err != nil {
		return unavailable("reload after saving %s", rel, err)
	}
	return c.JSON(http.StatusOK, SaveResponse{File: rel, Hash: hash, Live: s.isLive(abs, hash), Version: s.registry.Current().Version, DryRun: dr})
}

// isLive: the live snapshot serves this content of the file.
func (s *Server) isLive(abs, hash string) bool {
	for _, f := range s.registry.Current().Files {
		if filepath.Clean(f.File) == filepath.Clean(abs) {
			return f.Version == hash && f.Error == ""
		}
	}
	return false
}

// writeAtomic writes a file the way a careful editor does: a hidden
// temporary file in the same folder (the watcher and Discover skip it),
// synced, given the old file's mode, renamed over the file, and the folder
// synced, so a reader sees the old content or the new, never half.
func writeAtomic(file string, src []byte) error {
	dir := filepath.Dir(file)
	mode := fs.FileMode(0o644)
	if info, err := os.Stat(file); err == nil {
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, ".olbot-save-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// markEditorSave notes that the next live version hash of rel comes from
// the editor, so the history says so.
func (s *Server) markEditorSave(rel, hash, rollback string) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	note := ""
	if rollback != "" {
		note = "rollback to " + rollback
	}
	s.editorSaves[rel] = editorSave{hash: hash, note: note}
}

type editorSave struct{ hash, note string }

// recordHistory keeps every file version the reload made live. It runs in
// the reload goroutine after every reload; a store failure is logged and
// the version is tried again after the next reload.
func (s *Server) recordHistory(trigger string) {
	snap := s.registry.Current()
	dir := s.registry.Dir()
	source := history.SourceReload
	switch trigger {
	case "start":
		source = history.SourceStart
	case "file change":
		source = history.SourceDisk
	}
	s.histMu.Lock()
	defer s.histMu.Unlock()
	for _, f := range snap.Files {
		if f.Version == "" || s.recorded[f.File] == f.Version {
			continue
		}
		sc := snap.Set.ByName[f.Name]
		if sc == nil || filepath.Clean(sc.File) != filepath.Clean(f.File) || sc.Version != f.Version || sc.Source == nil {
			continue
		}
		rel, err := filepath.Rel(dir, f.File)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		e := history.Entry{Hash: f.Version, Time: s.now().UTC(), Source: source, Scenario: sc.Name, Size: len(sc.Source)}
		if es, ok := s.editorSaves[rel]; ok && es.hash == f.Version {
			e.Source, e.Note = history.SourceEditor, es.note
			delete(s.editorSaves, rel)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = s.history.Record(ctx, rel, e, sc.Source)
		cancel()
		if err != nil {
			s.log.Warn("scenario history: version not recorded; retried after the next reload", "file", rel, "version", f.Version, "err", err)
			continue
		}
		s.recorded[f.File] = f.Version
	}
}

// HistoryResponse is the answer of GET /v1/files/history.
type HistoryResponse struct {
	File     string          `json:"file"`
	Current  string          `json:"current_hash,omitempty"` // the file on disk now
	Live     string          `json:"live_version,omitempty"`
	Versions []history.Entry `json:"versions"` // newest first
}

func (s *Server) handleHistory(c echo.Context) error {
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), false)
	if err != nil {
		return err
	}
	list, err := s.history.List(c.Request().Context(), rel)
	if err != nil {
		return unavailable("read the history of %s", rel, err)
	}
	resp := HistoryResponse{File: rel, Versions: list}
	if src, err := scenarios.ReadFile(abs); err == nil {
		resp.Current = scenarios.Version(src)
	}
	for _, f := range s.registry.Current().Files {
		if filepath.Clean(f.File) == filepath.Clean(abs) {
			resp.Live = f.Version
		}
	}
	return c.JSON(http.StatusOK, resp)
}

// version returns one kept version of rel, or the file on disk for "disk".
func (s *Server) version(ctx context.Context, rel, abs, hash string) ([]byte, error) {
	if hash == "disk" {
		src, err := scenarios.ReadFile(abs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Code: ENotFound, Field: "file", Message: fmt.Sprintf("no scenario file %s on disk", rel)}
		}
		if err != nil {
			return nil, unavailable("read %s", rel, err)
		}
		return src, nil
	}
	if hash == "" || len(hash) > 64 {
		return nil, &Error{Code: EInvalid, Field: "hash", Message: "name a version by its hash (from /v1/files/history), or disk for the file as it is now"}
	}
	b, err := s.history.Content(ctx, rel, hash)
	if errors.Is(err, history.ErrUnknown) {
		return nil, &Error{Code: ENotFound, Field: "hash", Message: fmt.Sprintf("%s has no kept version %s (olbot history %s lists them)", rel, clipHost(hash), rel)}
	}
	if err != nil {
		return nil, unavailable("read the history of %s", rel, err)
	}
	return b, nil
}

func (s *Server) handleVersion(c echo.Context) error {
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), false)
	if err != nil {
		return err
	}
	hash := c.QueryParam("hash")
	b, err := s.version(c.Request().Context(), rel, abs, hash)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, FileContent{File: rel, Hash: scenarios.Version(b), Content: string(b)})
}

// DiffResponse is the answer of GET /v1/files/diff.
type DiffResponse struct {
	File string `json:"file"`
	From string `json:"from"`
	To   string `json:"to"`
	Diff string `json:"diff"` // unified diff; "" when the two are the same
}

func (s *Server) handleDiff(c echo.Context) error {
	rel, abs, err := s.scenarioPath(c.QueryParam("file"), false)
	if err != nil {
		return err
	}
	from, to := c.QueryParam("from"), c.QueryParam("to")
	if to == "" {
		to = "disk"
	}
	a, err := s.version(c.Request().Context(), rel, abs, from)
	if err != nil {
		return err
	}
	b, err := s.version(c.Request().Context(), rel, abs, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, DiffResponse{File: rel, From: from, To: to, Diff: textdiff.Unified(rel+" "+from, rel+" "+to, string(a), string(b))})
}
