// Package procfs reads what Linux's /proc says of a process: its resident
// memory and its CPU time. The server reports its own RSS with it
// (/v1/stats, wspush_process_*), and wspush bench measures the servers it
// runs; one reader serves both. It holds no state.
//
//	st, err := procfs.ReadStatus("self") // st.RSS, st.HWM in bytes
//	cpu, err := procfs.CPU(pid)           // user + system seconds
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Status is a process's memory, from /proc/PID/status.
type Status struct {
	RSS int64 // VmRSS: resident now, in bytes
	HWM int64 // VmHWM: the most ever resident, in bytes
}

// ErrNoProc is returned where /proc has no such file (not Linux, or no
// such process).
var ErrNoProc = errors.New("procfs: no /proc entry")

// ReadStatus reads the memory of process pid ("self", or a number) from
// /proc/PID/status.
func ReadStatus(pid string) (Status, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return Status{}, fmt.Errorf("%w: %v", ErrNoProc, err)
	}
	var st Status
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "VmRSS":
			dst = &st.RSS
		case "VmHWM":
			dst = &st.HWM
		default:
			continue
		}
		n, err := kB(v)
		if err != nil {
			return Status{}, fmt.Errorf("procfs: /proc/%s/status: %s: %w", pid, k, err)
		}
		*dst = n
	}
	if st.RSS == 0 {
		return Status{}, fmt.Errorf("%w: no VmRSS for process %s", ErrNoProc, pid)
	}
	return st, nil
}

// kB parses "   12345 kB" into bytes.
func kB(v []byte) (int64, error) {
	num, unit, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
	if string(bytes.TrimSpace(unit)) != "kB" {
		return 0, fmt.Errorf("unit %q, want kB", unit)
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, err
	}
	return n << 10, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux this runs on.
const clockTicks = 100

// CPU reads a process's user plus system CPU seconds from /proc/PID/stat.
func CPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoProc, err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procfs: odd /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("procfs: odd /proc/%d/stat", pid)
	}
	// Fields 14 and 15 of proc(5)'s stat, utime and stime; f[0] is field 3.
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("procfs: /proc/%d/stat: %w", pid, err)
	}
	return float64(ut+st) / clockTicks, nil
}
