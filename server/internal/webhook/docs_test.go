package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"
)

// docBlock returns the first fenced code block of language lang in doc.
func docBlock(t *testing.T, doc, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "```"+lang+"\n")
	if !ok {
		t.Fatalf("no %s block in docs/webhook.md", lang)
	}
	block, _, _ := strings.Cut(rest, "```")
	return block
}

// Drivers around the verify functions of docs/webhook.md: each reads the
// secret, the body's file, the timestamp, the signature and the time to
// check at from its arguments and prints true or false.
const (
	goDriver = `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	body, _ := os.ReadFile(os.Args[2])
	h := http.Header{}
	h.Set("X-Wspush-Timestamp", os.Args[3])
	h.Set("X-Wspush-Signature", os.Args[4])
	now, _ := strconv.ParseInt(os.Args[5], 10, 64)
	fmt.Println(verify([]byte(os.Args[1]), body, h, time.Unix(now, 0)))
}
`
	nodeDriver = `
const [secret, file, ts, sig, now] = process.argv.slice(2);
console.log(verify(secret, require('fs').readFileSync(file), {'x-wspush-timestamp': ts, 'x-wspush-signature': sig}, Number(now) * 1000));
`
	pythonDriver = `
import sys
secret, path, ts, sig, now = sys.argv[1:]
print("true" if verify(secret.encode(), open(path, "rb").read(), {"X-Wspush-Timestamp": ts, "X-Wspush-Signature": sig}, float(now)) else "false")
`
)

func TestWebhookDocVerifiersAcceptWspushAndRefuseForgeries(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "webhook.md"))
	if err != nil {
		t.Fatal(err)
	}
	// One request as wspush signs it.
	b := newBackend(t, nil)
	w := startHook(t, Config{URL: b.url, Events: []string{"connect"}, Delay: 10 * time.Millisecond}, Deps{})
	w.Connect(1, "alice", nil, "")
	req := b.next()
	// And a message.undelivered, whose body carries users and the push's
	// data as the backend sent it (non-ASCII included).
	w.Undelivered("order-7", []string{"u1", "u2"}, []byte(`{"title":"订单已支付","n":7}`))
	ureq := b.next()
	closeHook(w)
	body, ts, sig := req.body, req.ts, req.sig
	if !strings.Contains(string(ureq.body), `"type":"message.undelivered"`) || !strings.Contains(string(ureq.body), `"users":["u1","u2"],"data":{"title":"订单已支付","n":7}`) {
		t.Fatalf("undelivered body %s", ureq.body)
	}
	// And one request of the connect hook, signed the same way.
	hooked := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooked <- request{body: b, ts: r.Header.Get(TimestampHeader), sig: r.Header.Get(SignatureHeader)}
		w.Write([]byte(`{"user":"alice"}`))
	}))
	defer srv.Close()
	if _, err := NewConnectHook(srv.URL, testSecret, "n1").Admit(context.Background(), wire.ConnectFacts{Type: "connect.request", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	hreq := <-hooked
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q", ts)
	}

	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	genuine := write("body.json", string(body))
	tampered := write("tampered.json", strings.Replace(string(body), `"alice"`, `"admin"`, 1))
	now := strconv.FormatInt(sec, 10)
	later := strconv.FormatInt(sec+600, 10)
	fresh := strconv.FormatInt(sec+60, 10)
	cases := []struct {
		name               string
		file, ts, sig, now string
		want               string
	}{
		{"Genuine", genuine, ts, sig, now, "true"},
		{"BodyChanged", tampered, ts, sig, now, "false"},
		{"TimestampChanged", genuine, fresh, sig, fresh, "false"},
		{"ReplayedLater", genuine, ts, sig, later, "false"},
		{"NoTimestamp", genuine, "", sig, now, "false"},
		{"Undelivered", write("undelivered.json", string(ureq.body)), ureq.ts, ureq.sig, ureq.ts, "true"},
		{"UndeliveredChanged", write("undelivered-tampered.json", strings.Replace(string(ureq.body), `"u2"`, `"u3"`, 1)), ureq.ts, ureq.sig, ureq.ts, "false"},
		{"ConnectHook", write("hook.json", string(hreq.body)), hreq.ts, hreq.sig, hreq.ts, "true"},
		{"ConnectHookChanged", write("hook-tampered.json", strings.Replace(string(hreq.body), `"alice"`, `"admin"`, 1)), hreq.ts, hreq.sig, hreq.ts, "false"},
	}

	type runner struct {
		lang   string
		source string
		cmd    func(file string) []string
	}
	goBin, _ := exec.LookPath("go")
	if goBin == "" {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	runners := []runner{
		{"go", goDriver + docBlock(t, string(doc), "go"), func(f string) []string { return []string{goBin, "run", f} }},
		{"js", docBlock(t, string(doc), "js") + nodeDriver, func(f string) []string { return []string{"node", f} }},
		{"python", docBlock(t, string(doc), "python") + pythonDriver, func(f string) []string { return []string{"/usr/bin/python3", f} }},
	}
	for _, r := range runners {
		t.Run(r.lang, func(t *testing.T) {
			argv := r.cmd(write("verify."+map[string]string{"go": "go", "js": "cjs", "python": "py"}[r.lang], r.source))
			if _, err := exec.LookPath(argv[0]); err != nil {
				wstest.Missing(t, argv[0]+" is not installed")
			}
			if r.lang == "go" {
				// Build once; run the binary per case.
				bin := filepath.Join(dir, "verify-go")
				if out, err := exec.Command(goBin, "build", "-o", bin, argv[2]).CombinedOutput(); err != nil {
					t.Fatalf("the Go verifier of docs/webhook.md does not build: %v\n%s", err, out)
				}
				argv = []string{bin}
			}
			for _, tc := range cases {
				args := append(append([]string(nil), argv[1:]...), testSecret, tc.file, tc.ts, tc.sig, tc.now)
				out, err := exec.Command(argv[0], args...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", tc.name, err, out)
				}
				if got := strings.TrimSpace(string(out)); got != tc.want {
					t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
				}
			}
		})
	}
}
