package main

import (
	"fmt"
	"runtime/debug"
)

// durableGCPercent is the Go garbage collector's target (GOGC) that olbot
// serve sets with a durable store. Such a store keeps the dialogs in its
// file or database, not in the heap: the server's own memory stays small
// (RssAnon ≈ 20 MB with 1,000,000 stored dialogs at Go's default), so the
// default target of 100 % collects several times a second under load for
// little memory saved. At 400 % a Bitrix24 form event costs ≈ 15 % less
// server CPU, for ≈ 25–40 MB more RssAnon under load (BENCHMARKS.md, "The
// garbage collector's target").
const durableGCPercent = 400

// gcTarget is the GC target serve sets for a --store value, and why; 0: it
// leaves the runtime's own (GOGC set in the environment, or the memory
// store, whose heap holds every dialog and would grow with the target).
func gcTarget(store string, lookupEnv func(string) (string, bool)) (int, string) {
	if v, ok := lookupEnv("GOGC"); ok {
		return 0, fmt.Sprintf("GOGC=%s from the environment", v)
	}
	if store == "memory" {
		return 0, "the Go default (the memory store keeps its dialogs in the heap)"
	}
	return durableGCPercent, fmt.Sprintf("%d%% (a durable store; set GOGC to change it)", durableGCPercent)
}

// setGCTarget applies gcTarget and returns what to log.
func setGCTarget(store string, lookupEnv func(string) (string, bool)) string {
	pct, why := gcTarget(store, lookupEnv)
	if pct > 0 {
		debug.SetGCPercent(pct)
	}
	return why
}

// loadGCPercent is the GC target of olbot load. The tool shares the
// machine with the server it measures, so its own collector's CPU is taken
// from the server: at Go's default it spent about a fifth of its CPU in
// the collector on the form route (its fake portal keeps every REST call it
// receives, a heap the collector scans again and again). Its memory is a
// benchmark's, not a service's.
const loadGCPercent = 400

// loadGCTarget is the GC target olbot load sets, and why; 0 when GOGC is
// set in the environment.
func loadGCTarget(lookupEnv func(string) (string, bool)) (int, string) {
	if v, ok := lookupEnv("GOGC"); ok {
		return 0, fmt.Sprintf("GOGC=%s from the environment", v)
	}
	return loadGCPercent, fmt.Sprintf("%d%% (the load tool; set GOGC to change it)", loadGCPercent)
}
