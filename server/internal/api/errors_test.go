package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wspush/wspush/server/internal/wire"
)

const testAPIKey = "test-key"

// userList is the JSON list of n user ids.
func userList(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
	}
	b, _ := json.Marshal(names)
	return string(b)
}

func TestAPIErrors(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{Key: testAPIKey}, f)
	big := `{"users":["alice"],"data":"` + strings.Repeat("x", MaxAPIBody) + `"}`
	tests := []struct {
		name         string
		key          string // "" means the right key
		method, path string
		body         string
		status       int
		code         string
		allow        string
	}{
		{name: "bad JSON", method: "POST", path: "/v1/push", body: `{"users":`, status: 400, code: "bad_json"},
		{name: "empty body", method: "POST", path: "/v1/broadcast", status: 400, code: "bad_json"},
		{name: "trailing garbage", method: "POST", path: "/v1/broadcast", body: `{"data":1}x`, status: 400, code: "bad_json"},
		{name: "body not an object", method: "POST", path: "/v1/push", body: `[1]`, status: 400, code: "bad_request"},
		{name: "users not a list", method: "POST", path: "/v1/push", body: `{"users":"alice","data":1}`, status: 400, code: "bad_request"},
		{name: "missing users", method: "POST", path: "/v1/push", body: `{"data":1}`, status: 400, code: "bad_request"},
		{name: "empty users", method: "POST", path: "/v1/push", body: `{"users":[],"data":1}`, status: 400, code: "bad_request"},
		{name: "invalid user", method: "POST", path: "/v1/push", body: `{"users":["ok",""],"data":1}`, status: 400, code: "bad_request"},
		{name: "over 10000 users", method: "POST", path: "/v1/push", body: `{"users":` + userList(MaxPushUsers+1) + `,"data":1}`, status: 400, code: "bad_request"},
		{name: "missing data", method: "POST", path: "/v1/push", body: `{"users":["alice"]}`, status: 400, code: "bad_request"},
		{name: "null data", method: "POST", path: "/v1/broadcast", body: `{"data":null}`, status: 400, code: "bad_request"},
		{name: "publish without data", method: "POST", path: "/v1/rooms/r/publish", body: `{}`, status: 400, code: "bad_request"},
		{name: "invalid room", method: "POST", path: "/v1/rooms/%01/publish", body: `{"data":1}`, status: 400, code: "bad_request"},
		{name: "members without users", method: "POST", path: "/v1/rooms/r/members", body: `{}`, status: 400, code: "bad_request"},
		{name: "user id too long", method: "GET", path: "/v1/users/" + strings.Repeat("u", 129), status: 400, code: "bad_request"},
		{name: "missing key", key: "-", method: "POST", path: "/v1/broadcast", body: `{"data":1}`, status: 401, code: "unauthorized"},
		{name: "bad key", key: "wrong", method: "POST", path: "/v1/broadcast", body: `{"data":1}`, status: 401, code: "unauthorized"},
		{name: "metrics need the key", key: "-", method: "GET", path: "/metrics", status: 401, code: "unauthorized"},
		{name: "unknown paths need the key", key: "-", method: "GET", path: "/v1/nope", status: 401, code: "unauthorized"},
		{name: "unknown path", method: "GET", path: "/v1/nope", status: 404, code: "not_found"},
		{name: "path under a call", method: "POST", path: "/v1/push/x", body: `{}`, status: 404, code: "not_found"},
		{name: "wrong method", method: "GET", path: "/v1/push", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "wrong method on members", method: "PUT", path: "/v1/rooms/r/members", status: 405, code: "method_not_allowed", allow: "POST, DELETE"},
		{name: "wrong method on healthz", method: "POST", path: "/healthz", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/push", body: big, status: 413, code: "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testAPIKey
			switch tt.key {
			case "":
			case "-":
				key = ""
			default:
				key = tt.key
			}
			w := call(t, h, tt.method, tt.path, key, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var e wire.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != tt.code || e.Message == "" {
				t.Fatalf("body %s, want {\"error\":%q,\"message\":...}", w.Body, tt.code)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	// Refused calls never reach the backend.
	if len(f.calls) != 0 {
		t.Fatalf("refused calls reached the backend: %.200q", f.calls)
	}

	// Exactly the limit is fine.
	w := call(t, h, "POST", "/v1/push", testAPIKey, `{"users":`+userList(MaxPushUsers)+`,"data":1}`)
	var res wire.PushResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); w.Code != 200 || err != nil || res.Delivered != MaxPushUsers {
		t.Fatalf("push to %d users: %d %.200s", MaxPushUsers, w.Code, w.Body)
	}
	if len(f.calls) != 1 || strings.Count(f.calls[0], ",") != MaxPushUsers-1 {
		t.Fatalf("the backend got %d calls, want one push to %d users", len(f.calls), MaxPushUsers)
	}
}

func TestAPIWithoutKeyIsOpen(t *testing.T) {
	h := New(Config{}, &fakeBackend{})
	if w := call(t, h, "GET", "/v1/stats", "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"connections"`) {
		t.Fatalf("stats without a key: %d %s", w.Code, w.Body)
	}
	// A key sent to a server without one is ignored.
	if w := call(t, h, "GET", "/v1/stats", "anything", ""); w.Code != 200 {
		t.Fatalf("stats with a key the server has not: %d %s", w.Code, w.Body)
	}
}

// The path's names are unescaped before the backend sees them: a user id
// with a space and a slash.
func TestAPIPathNamesAreUnescaped(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	w := call(t, h, "GET", "/v1/users/x%20y%2Fz", "", "")
	if w.Code != 200 || w.Body.String() != `{"user":"x y/z","online":false,"connections":0}`+"\n" {
		t.Fatalf("presence of an escaped user id: %d %s", w.Code, w.Body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/rooms/a%20b%2Fc/members", `{"users":["bob"]}`},
		{"DELETE", "/v1/rooms/a%20b%2Fc/members", `{"users":["bob"]}`},
		{"POST", "/v1/rooms/a%20b%2Fc/publish", `{"data":1}`},
		{"DELETE", "/v1/users/x%20y%2Fz/connections", ""},
	} {
		if w := call(t, h, c.method, c.path, "", c.body); w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", c.method, c.path, w.Code, w.Body)
		}
	}
	want := "presence x y/z; join a b/c bob; leave a b/c bob; publish a b/c; kick x y/z"
	if got := strings.Join(f.calls, "; "); got != want {
		t.Fatalf("backend calls %q, want %q", got, want)
	}
}
