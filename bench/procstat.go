package bench

import (
	"strconv"
	"syscall"

	"github.com/wspush/wspush/server/procfs"
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
	if st, err := procfs.ReadStatus("self"); err == nil {
		s.RSS, s.PeakRSS = st.RSS, st.HWM
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.CPUUser = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		s.CPUSys = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
	}
	return s
}

// readRSS reads the resident memory of process pid, in bytes.
func readRSS(pid int) (int64, error) {
	st, err := procfs.ReadStatus(strconv.Itoa(pid))
	return st.RSS, err
}

// readCPU reads a process's user plus system CPU seconds.
func readCPU(pid int) (float64, error) { return procfs.CPU(pid) }
