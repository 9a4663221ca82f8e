package crashtest

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStoreFaultBoltDiskFull puts the bbolt file on a small tmpfs of its own
// and fills the disk while chats run, then frees it. Mounting needs root on
// Linux; elsewhere the test is skipped (server.TestStoreFaults covers the
// server's side with a failing store in process).
func TestStoreFaultBoltDiskFull(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root on Linux): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) }) // after the process stopped
	filler := filepath.Join(disk, "filler")
	c := newCluster(t, "bolt", 1, []string{"--store", filepath.Join(disk, "olbot.db")})
	c.start()
	runStoreFaults(t, c, storeFault{"disk full",
		func(d *driver) {
			fillDisk(t, filler)
			// bbolt writes into pages it holds already while it can: new
			// chats make the file grow until a write meets the full disk
			p := c.procs[0]
			deadline := time.Now().Add(faultTimeout)
			for {
				status, body := p.get("/readyz")
				if status == http.StatusServiceUnavailable || d.stats.refused.Load() > 0 {
					t.Logf("disk full: a write failed with %d chats open", len(d.runs))
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no write met the full disk in %s, with %d chats open; /readyz %d %s", faultTimeout, len(d.runs), status, body)
				}
				d.addChats(8)
				time.Sleep(100 * time.Millisecond)
			}
		},
		func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		}})
}

// fillDisk writes path until the file system is full.
func fillDisk(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			tb.Fatalf("fill %s: %v", path, err)
		}
	}
}

// TestStoreFaultBoltReadOnly makes the open bbolt file immutable (chattr +i:
// every write fails with EPERM, as on a file system remounted read-only)
// while chats run, then writable again. Needs root and a file system with
// the flag (ext4, xfs, btrfs, tmpfs); skipped otherwise.
func TestStoreFaultBoltReadOnly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "olbot.db")
	c := newCluster(t, "bolt", 1, []string{"--store", db})
	c.start()
	if err := setImmutable(db, true); err != nil {
		t.Skipf("cannot make the store file immutable (chattr +i needs root and a file system with the flag): %v", err)
	}
	if err := setImmutable(db, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = setImmutable(db, false) }) // so that TempDir can remove it
	runStoreFaults(t, c, storeFault{"read-only store file",
		func(*driver) {
			if err := setImmutable(db, true); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := setImmutable(db, false); err != nil {
				t.Fatal(err)
			}
		}})
}

// fsImmutable is FS_IMMUTABLE_FL of linux/fs.h.
const fsImmutable = 0x10

func setImmutable(path string, on bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if on {
		flags |= fsImmutable
	} else {
		flags &^= fsImmutable
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
}
