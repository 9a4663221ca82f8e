package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU accounting of a phase: the server's (Config.ServerPID, read from
// /proc/PID/stat: user + system time of all its threads, in clock ticks of
// 10ms) and the tool's own (getrusage), so that a report can say what an
// event costs each side on a machine they share.

// clockTick is USER_HZ, the unit of /proc/PID/stat's times on Linux.
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the command name (field 2) is in parentheses and may hold spaces
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(s[i+1:])
	// after the name: state (3), ppid … utime (14), stime (15)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures a phase's CPU.
type cpuMeter struct {
	pid          int
	server, self time.Duration
	serverErr    error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, self: selfCPU()}
	if pid > 0 {
		m.server, m.serverErr = procCPU(pid)
	}
	return m
}

// stop fills p's CPU figures.
func (m *cpuMeter) stop(p *PhaseResult) {
	p.ToolCPU = selfCPU() - m.self
	if m.pid <= 0 {
		return
	}
	now, err := procCPU(m.pid)
	if err == nil && m.serverErr == nil {
		p.ServerCPU = now - m.server
		p.ServerCPUKnown = true
	}
}

// perEvent is cpu per answered event, in µs.
func perEvent(cpu time.Duration, p *PhaseResult) float64 {
	if p.OK == 0 {
		return 0
	}
	return float64(cpu) / 1e3 / float64(p.OK)
}
