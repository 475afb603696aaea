package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary be the wspush command: with WSPUSH_TEST_MAIN
// set it runs main() on the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("WSPUSH_TEST_MAIN") == "1" {
		if err := setNoFile(os.Getenv("WSPUSH_TEST_NOFILE")); err != nil {
			panic(err)
		}
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"wspush"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// setNoFile sets the open-files limit, soft and hard, of a child started
// by command (TestMain): the Go runtime raises the soft limit to the hard
// one at start, so both must go down.
func setNoFile(v string) error {
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return err
	}
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
}

// command runs the test binary as wspush with args.
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "WSPUSH_TEST_MAIN=1")
	return cmd
}

func TestVersion(t *testing.T) {
	out, err := command(t, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wspush ") {
		t.Fatalf("%s %v", out, err)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
