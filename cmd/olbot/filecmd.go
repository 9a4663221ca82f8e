package main

import (
	"fmt"
	"strings"

	"github.com/olbot/olbot/answers"
)

// fileUsage is the syntax of the /file command of olbot chat and olbot
// fakeportal.
const fileUsage = "/file NAME [SIZE] [CAPTION…], e.g. /file photo.jpg 2MB"

// parseFileCommand reads the arguments of /file: the file's name, an
// optional size (bytes, or with KB, MB or GB) and an optional caption.
// The file's kind comes from its extension; a file with no size given is
// 48 KB, so that max_size: has something to check.
func parseFileCommand(args string) (answers.ClientFile, string, error) {
	fields := strings.Fields(args)
	if len(fields) == 0 {
		return answers.ClientFile{}, "", fmt.Errorf("/file needs the file's name: %s", fileUsage)
	}
	f := answers.ClientFile{ID: "chat-1", Name: fields[0], Size: 48 << 10}
	rest := fields[1:]
	if len(rest) > 0 {
		if n, err := answers.ParseBytes(rest[0]); err == nil {
			f.Size, rest = n, rest[1:]
		}
	}
	return f, strings.Join(rest, " "), nil
}

// fileCommand reports whether a typed line is /file, and its arguments.
func fileCommand(line string) (string, bool) {
	if line == "/file" || strings.HasPrefix(line, "/file ") {
		return line[len("/file"):], true
	}
	return "", false
}
