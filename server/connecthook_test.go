package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// The connect hook through the whole server: a real HTTP hook, the
// webhook secret signing its requests, and Python's websockets as the
// client (nobody here wrote it).
const connectHookPython = `
import asyncio, json, sys
import websockets

async def main(url):
    async with websockets.connect(url) as ws:
        first = json.loads(await ws.recv())
        try:
            await asyncio.wait_for(ws.recv(), 2)
        except websockets.ConnectionClosed as e:
            first["close"] = e.rcvd.code if e.rcvd else None
        except asyncio.TimeoutError:
            pass
        print(json.dumps(first))

asyncio.run(main(sys.argv[1]))
`

func TestConnectHookWithPythonWebsockets(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		wstest.Missing(t, "/usr/bin/python3 is missing")
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import websockets").CombinedOutput(); err != nil {
		wstest.Missing(t, "python3-websockets is not installed: "+string(out))
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f struct {
			Query map[string][]string `json:"query"`
		}
		_ = json.NewDecoder(r.Body).Decode(&f)
		if r.Header.Get("X-Wspush-Signature") == "" {
			http.Error(w, `{"reason":"unsigned"}`, http.StatusUnauthorized)
			return
		}
		switch code := strings.Join(f.Query["code"], ""); code {
		case "good":
			json.NewEncoder(w).Encode(map[string]any{"user": "openid-py", "rooms": []string{"lobby"}, "meta": map[string]any{"vip": true}})
		case "slow":
			time.Sleep(3 * time.Second)
		default:
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"reason":"unknown code"}`))
		}
	}))
	defer hook.Close()
	s := startPlain(t, Config{APIAddr: "127.0.0.1:0", ConnectHook: hook.URL, Webhook: WebhookConfig{Secret: "hook-secret"},
		ConnConfig: ConnConfig{AdmitTimeout: 500 * time.Millisecond}})
	run := func(query string) map[string]any {
		t.Helper()
		out, err := exec.Command("/usr/bin/python3", "-c", connectHookPython, "ws://"+s.Addr().String()+"/ws"+query).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("python printed %s", out)
		}
		return m
	}
	if m := run("?code=good"); m["type"] != "welcome" || m["user"] != "openid-py" || m["meta"] == nil {
		t.Fatalf("accepted: %v", m)
	}
	if m := run("?code=bad"); m["type"] != "disconnect" || m["code"] != float64(4505) || m["reason"] != "unknown code" || m["close"] != float64(4505) {
		t.Fatalf("refused: %v", m)
	}
	if m := run("?code=slow"); m["type"] != "disconnect" || m["code"] != float64(4006) || m["reconnect"] != true {
		t.Fatalf("slow hook: %v", m)
	}
	body := getBody(t, s.APIHandler(), "/metrics")
	for _, want := range []string{
		`wspush_connect_hook_verdicts_total{verdict="accepted"} 1`,
		`wspush_connect_hook_verdicts_total{verdict="refused"} 1`,
		`wspush_connect_hook_verdicts_total{verdict="unavailable"} 1`,
		`wspush_connect_hook_requests_total{result="refused"} 1`,
		`wspush_connect_hook_duration_seconds_count 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
