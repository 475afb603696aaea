package procfs

import (
	"errors"
	"os"
	"runtime"
	"testing"
)

func TestReadStatusOfSelfSeesItsOwnMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	st, err := ReadStatus("self")
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is resident in megabytes, and never above its peak.
	if st.RSS < 1<<20 || st.HWM < st.RSS {
		t.Fatalf("status %+v: want RSS of at least 1 MiB and HWM >= RSS", st)
	}
}

func TestReadStatusOfNoProcessIsErrNoProc(t *testing.T) {
	if _, err := ReadStatus("no-such-pid"); !errors.Is(err, ErrNoProc) {
		t.Fatalf("err %v, want ErrNoProc", err)
	}
}

func TestCPUOfSelfGrowsWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	before, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has charged at least two ticks: bounded by
	// the work, not by a clock.
	x := 0
	after := before
	for i := 0; i < 1<<34 && after < before+0.02; i++ {
		x += i
		if i%(1<<22) == 0 {
			if after, err = CPU(os.Getpid()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after < before+0.02 {
		t.Fatalf("CPU went from %.2f to %.2f s after %d additions", before, after, x)
	}
}

func TestKBParsesProcUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"   12345 kB", 12345 << 10, true},
		{"\t0 kB", 0, true},
		{"  12 MB", 0, false},
		{"  x kB", 0, false},
	} {
		got, err := kB([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("kB(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
