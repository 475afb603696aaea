package wstest

import (
	"os"
	"testing"
)

// InteropSetup says what installs the clients nobody here wrote that the
// interop tests run (Node's ws, Python's websockets).
const InteropSetup = "run the README's test command, which installs them: (cd client && npm ci) for ws, apt-get install nodejs python3-websockets for node and websockets"

// Missing fails t for a client program that is not installed, saying
// why, or skips it when WSPUSH_SKIP_INTEROP=1 says the run knowingly
// goes without.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("WSPUSH_SKIP_INTEROP") == "1" {
		t.Skipf("%s (WSPUSH_SKIP_INTEROP=1)", why)
	}
	t.Fatalf("%s: %s; or set WSPUSH_SKIP_INTEROP=1 to skip the interop tests", why, InteropSetup)
}
