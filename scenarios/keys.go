package scenarios

// The key sets of the scenario language. The loader walks the YAML tree
// against them (unknown keys get a "did you mean"), and schema_test.go checks
// that schema/scenario.schema.json lists exactly these keys.
var (
	topKeys      = []string{"name", "title", "lines", "start", "settings", "commands", "hours", "states"}
	settingsKeys = []string{"retries", "idle", "on_idle", "on_missing_state", "languages", "detect_language", "fuzzy", "timezone", "country"}
	routeKeys    = []string{"match", "goto", "if"}
	menuKeys     = []string{"text", "goto", "if", "url", "phone"}
	transferKeys = []string{"user", "line", "leave"}
	// a state's transfer: also a note for the operator (tests check it with expect: {note: …})
	stateTransferKeys = []string{"user", "line", "leave", "note"}
	operatorKeys      = []string{"note"}
	remindKeys        = []string{"after", "say", "times"}
	stateKeys         = []string{
		"greet", "say", "ask", "save", "type", "validate", "options", "retry", "retries",
		"on_fail", "next", "menu", "on", "crm", "operator", "transfer", "finish", "commands", "set",
		"call", "path", "method", "body", "timeout", "on_error",
		"remind", "accept", "max_size",
	}
)

// Conversation test files (*.test.yaml).
var (
	testFileKeys = []string{"scenario", "tests"}
	testKeys     = []string{"name", "steps", "line_hours", "calls"}
	stepKeys     = []string{"start", "user", "button", "idle", "wait", "close", "bot", "expect"}
	startKeys    = []string{"client", "line", "language", "at"}
	botKeys      = []string{"text", "buttons", "image", "file"}
	expectKeys   = []string{"state", "finished", "handed_off", "fields", "operator", "transfer", "greet", "crm", "language", "note"}
)
