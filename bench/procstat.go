package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStats is one process's memory and CPU.
type procStats struct {
	RSS     int64   `json:"rss_bytes"`      // VmRSS
	PeakRSS int64   `json:"peak_rss_bytes"` // VmHWM
	CPUUser float64 `json:"cpu_user_s"`
	CPUSys  float64 `json:"cpu_sys_s"`
}

// readSelf reads this process's RSS from /proc/self/status and its CPU
// time from getrusage(2).
func readSelf() procStats {
	var s procStats
	s.RSS, s.PeakRSS, _ = readRSS("self")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.CPUUser = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		s.CPUSys = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
	}
	return s
}

// readRSS reads VmRSS and VmHWM, in bytes, from /proc/PID/status.
func readRSS(pid string) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: read RSS of %s: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("bench: no VmRSS for process %s", pid)
	}
	return rss, hwm, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux this runs on.
const clockTicks = 100

// readCPU reads a process's user plus system CPU seconds from
// /proc/PID/stat.
func readCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: read CPU of %d: %w", pid, err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: odd /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: odd /proc/%d/stat", pid)
	}
	// Fields 14 and 15 of stat(5), utime and stime; f[0] is field 3.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(ut+st) / clockTicks, nil
}
