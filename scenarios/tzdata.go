package scenarios

// The time zone database is built into every binary that loads scenarios
// (about 450 KB): settings.timezone and an Open Line's WORKTIME_TIMEZONE
// resolve on a minimal host without /usr/share/zoneinfo (a scratch or
// distroless image). A system database, when present, is still preferred.
import _ "time/tzdata"
