package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTimeZoneDataBuiltIn: the olbot binary carries the time zone database
// (time/tzdata), so settings.timezone works on a host without one.
func TestTimeZoneDataBuiltIn(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "time/tzdata" {
			return
		}
	}
	t.Fatal("cmd/olbot does not import time/tzdata: time zones would need the host's database")
}
