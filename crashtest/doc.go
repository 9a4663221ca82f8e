// Package crashtest proves olbot's durability promises against the real
// binary. Its tests build `olbot serve` once, run it as a child process on
// the embedded store (or on PostgreSQL, two replicas on one schema), drive
// many Open Lines chats through the in-repo fake portal at a steady rate,
// and meanwhile kill the process with SIGKILL at random moments (or fill its
// disk, make its store file read-only, cut its database connection).
//
// Afterwards every dialog record must equal an uninterrupted replay of the
// events the server acknowledged (engine.Step in the test process, same
// scenario), and every portal call of those events must have reached the
// portal, in order per chat. Delivery is at least once: duplicates are
// counted and reported, and each must straddle a kill or a fault.
//
// The client model: the portal does not retry an event it could not
// deliver, but a client whose message went unanswered types it again. The
// driver re-sends the very same event (same MESSAGE_ID) until the server
// acknowledges it, and only then goes on with the chat; an event applied
// before a kill but not acknowledged is then recognised as a duplicate.
//
// Sizes: OLBOT_CRASH_KILLS (default 5, the CI size; the long run uses 50),
// OLBOT_CRASH_CHATS (default 16), OLBOT_CRASH_RATE (event posts per second,
// default 100). Each run prints one line starting with "CRASHTEST " with its
// figures, and appends it to the file OLBOT_CRASH_REPORT names, if any.
// RELIABILITY.md has the commands and the figures.
package crashtest
