package main

import (
	"strings"
	"testing"
)

// TestGCTarget: serve raises the GC target only for a durable store, and
// never over a GOGC the environment sets.
func TestGCTarget(t *testing.T) {
	for _, tc := range []struct {
		store   string
		env     map[string]string
		want    int
		mention string
	}{
		{store: "./data/olbot.db", want: durableGCPercent, mention: "durable store"},
		{store: "postgres://postgres@127.0.0.1:5432/test", want: durableGCPercent, mention: "durable store"},
		{store: "memory", want: 0, mention: "memory store"},
		{store: "./data/olbot.db", env: map[string]string{"GOGC": "50"}, want: 0, mention: "GOGC=50"},
		{store: "memory", env: map[string]string{"GOGC": "off"}, want: 0, mention: "GOGC=off"},
	} {
		t.Run(tc.store+" "+tc.env["GOGC"], func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			got, why := gcTarget(tc.store, lookup)
			if got != tc.want || !strings.Contains(why, tc.mention) {
				t.Errorf("gcTarget(%q) = %d, %q; want %d, mentioning %q", tc.store, got, why, tc.want, tc.mention)
			}
		})
	}
}

// TestLoadGCTarget: the load tool raises its GC target unless GOGC is set.
func TestLoadGCTarget(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    int
		mention string
	}{
		{want: loadGCPercent, mention: "load tool"},
		{env: map[string]string{"GOGC": "100"}, want: 0, mention: "GOGC=100"},
	} {
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		if got, why := loadGCTarget(lookup); got != tc.want || !strings.Contains(why, tc.mention) {
			t.Errorf("loadGCTarget(%v) = %d, %q; want %d, mentioning %q", tc.env, got, why, tc.want, tc.mention)
		}
	}
}
