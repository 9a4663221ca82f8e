package scenarios

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxFileSize is the largest scenario or test file olbot reads.
const MaxFileSize = 1 << 20

// TestSuffix marks conversation test files, which are never loaded as scenarios.
const TestSuffix = ".test.yaml"

// Found is what Discover found under its paths: the one answer to "which
// files are scenarios", shared by `olbot check`, `olbot test`, every reload
// and the watcher.
type Found struct {
	Scenarios []string // sorted
	Tests     []string // sorted
	// Dirs are the folders walked, roots included: the watcher watches
	// exactly these.
	Dirs []string
	// Problems are entries named like scenario files that cannot be one: a
	// folder called x.yaml, a symlink that leads out of the scenario folder.
	// Their paths are in Scenarios too, so that a reload keeps their last
	// good version and shows the problem as the file's error.
	Problems map[string]*Problem
}

// Discover expands paths (files or folders) into the scenario files and
// conversation test files they hold. Folders are walked to any depth;
// hidden entries (a leading dot) and editor backups (a trailing ~) are
// skipped. A symlink counts as the file it points to, as long as that file
// is inside the folder walked: Kubernetes mounts a ConfigMap as symlinks
// into a hidden ..data folder, which is followed that way.
func Discover(paths ...string) (Found, error) {
	f := Found{Problems: map[string]*Problem{}}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return Found{}, fmt.Errorf("%s: %w", p, err)
		}
		if !info.IsDir() {
			f.add(p)
			continue
		}
		if err := f.walk(p); err != nil {
			return Found{}, fmt.Errorf("%s: %w", p, err)
		}
	}
	sort.Strings(f.Scenarios)
	sort.Strings(f.Tests)
	return f, nil
}

// Files is Discover's scenario and test files.
func Files(paths ...string) (scenarios, tests []string, err error) {
	f, err := Discover(paths...)
	return f.Scenarios, f.Tests, err
}

func (f *Found) add(path string) {
	if strings.HasSuffix(path, TestSuffix) {
		f.Tests = append(f.Tests, path)
	} else {
		f.Scenarios = append(f.Scenarios, path)
	}
}

// scenarioName reports whether a file name is a scenario's or a test's.
func scenarioName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return false
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func (f *Found) walk(root string) error {
	// the real folder, for telling where symlinks lead; root itself may be
	// a symlink (a mounted volume), which is fine
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			f.Problems[path] = &Problem{File: path, Pos: Pos{1, 1}, Err: ErrRead, Msg: "cannot read the folder: " + readErr(err)}
			return nil
		}
		name := de.Name()
		switch {
		case path == root:
			f.Dirs = append(f.Dirs, path)
			return nil
		case de.IsDir() && scenarioName(name):
			f.Problems[path] = &Problem{File: path, Pos: Pos{1, 1}, Err: ErrRead,
				Msg:  "this is a folder, not a scenario file: a name ending in .yaml or .yml must be a file",
				Hint: "rename the folder, or move the scenario file out of it"}
			f.add(path)
			return filepath.SkipDir
		case de.IsDir() && strings.HasPrefix(name, "."):
			return filepath.SkipDir
		case de.IsDir():
			f.Dirs = append(f.Dirs, path)
			return nil
		case !scenarioName(name):
			return nil
		}
		if de.Type()&fs.ModeSymlink != 0 {
			if p := f.symlink(path, real); p != nil {
				f.Problems[path] = p
			}
		}
		f.add(path)
		return nil
	})
}

// symlink checks a symlinked scenario file: it must lead to a file inside
// the scenario folder, never to one elsewhere on the machine.
func (f *Found) symlink(path, real string) *Problem {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return &Problem{File: path, Pos: Pos{1, 1}, Err: ErrRead, Msg: "cannot read the file: the symlink leads nowhere (" + readErr(err) + ")"}
	}
	if rel, err := filepath.Rel(real, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return &Problem{File: path, Pos: Pos{1, 1}, Err: ErrOutside,
			Msg:  "this symlink leads out of the scenario folder; olbot reads only files inside it",
			Hint: "copy the file into the scenario folder, or point the symlink at a file inside it"}
	}
	if info, err := os.Stat(target); err == nil && info.IsDir() {
		return &Problem{File: path, Pos: Pos{1, 1}, Err: ErrRead,
			Msg:  "this symlink leads to a folder, not a scenario file",
			Hint: "point it at a file, or rename it so that it does not end in .yaml"}
	}
	return nil
}

// ReadFile reads a file, refusing files over MaxFileSize.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: scenario files are limited to 1 MiB", path, ErrTooLarge)
	}
	return b, nil
}

// readProblem reports a file that could not be read, or is too large.
func readProblem(path string, err error, what string) *Problem {
	if errors.Is(err, ErrTooLarge) {
		size := "more than 1 MiB"
		if info, err := os.Stat(path); err == nil {
			size = fmt.Sprintf("%d bytes", info.Size())
		}
		return &Problem{File: path, Pos: Pos{1, 1}, Err: ErrTooLarge, Hint: "split it into several files",
			Msg: fmt.Sprintf("the file is %s; %s files are limited to 1 MiB", size, what)}
	}
	return &Problem{File: path, Pos: Pos{1, 1}, Err: ErrRead, Msg: "cannot read the file: " + readErr(err)}
}

func readErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
