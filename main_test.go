package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"
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

// serving is what a wspush serve child's JSON start line reports.
type serving struct {
	Addr    string `json:"addr"`
	APIAddr string `json:"api_addr"`
}

// readServing reads the JSON log lines of a wspush serve child from logs
// up to its start line and returns the addresses that line reports: the
// kernel's choice when the child listens on port 0, so that no test picks
// a port and then races every other process to bind it. Each line read
// is written to seen as well.
func readServing(logs *bufio.Reader, seen io.Writer) (serving, error) {
	for {
		line, err := logs.ReadBytes('\n')
		_, _ = seen.Write(line)
		var l struct {
			Msg string `json:"msg"`
			serving
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "wspush serving" {
			if l.Addr == "" {
				return l.serving, fmt.Errorf("start line without an addr: %s", line)
			}
			return l.serving, nil
		}
		if err != nil {
			return serving{}, fmt.Errorf("no start line in the logs: %w", err)
		}
	}
}

func TestHashPasswordMakesABcryptHashTheConsoleReads(t *testing.T) {
	var out strings.Builder
	if err := hashPassword(strings.NewReader("correct horse\n"), &out); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse")) != nil {
		t.Fatalf("%q does not check", h)
	}
	if err := hashPassword(strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("a short password was hashed")
	}
}
