// Package schema holds the JSON Schemas of olbot's file formats, printed by
// `olbot schema`. Editors that run yaml-language-server use them for
// completion, tooltips and checks when a file starts with
//
//	# yaml-language-server: $schema=../schema/scenario.schema.json
//
// The schemas only help editors: the scenarios package is what loads and
// checks files, and its tests keep the keys of both in step.
package schema

import _ "embed"

// Scenario is the JSON Schema (draft-07) of a scenario file (*.yaml).
//
//go:embed scenario.schema.json
var Scenario []byte

// Tests is the JSON Schema (draft-07) of a conversation test file (*.test.yaml).
//
//go:embed tests.schema.json
var Tests []byte
