package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rawCall sends a request as a browser page or a backend might: for host,
// with the Content-Type ctype (none when empty) and key as a bearer (none
// when empty).
func rawCall(h http.Handler, method, path, host, ctype, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Host = host
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestKeylessAPIAnswersOnlyLoopbackHostsAndJSONPosts(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	push := `{"users":["alice"],"data":"otp 123456"}`
	for _, tc := range []struct {
		name, method, host, ctype string
		status                    int
		code                      string
	}{
		// A page on rebind.example whose name now resolves to 127.0.0.1.
		{"ReboundName", "POST", "rebind.example:8081", "application/json", http.StatusForbidden, "forbidden_host"},
		{"ReboundNameGET", "GET", "rebind.example", "", http.StatusForbidden, "forbidden_host"},
		// What a cross-site form or a "simple" fetch can send.
		{"FormPost", "POST", "127.0.0.1:8081", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"TextPost", "POST", "localhost:8081", "text/plain", http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"NoType", "POST", "localhost", "", http.StatusUnsupportedMediaType, "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, body := "/v1/push", push
			if tc.method == "GET" {
				path, body = "/v1/stats", ""
			}
			w := rawCall(h, tc.method, path, tc.host, tc.ctype, "", body)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"error":"`+tc.code+`"`) {
				t.Fatalf("status %d body %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
		})
	}
	if len(f.calls) != 0 {
		t.Fatalf("a refused request reached the backend: %v", f.calls)
	}
	for _, host := range []string{"127.0.0.1:1", "localhost", "[::1]:8081"} {
		if w := rawCall(h, "POST", "/v1/push", host, "application/json; charset=utf-8", "", push); w.Code != 200 {
			t.Fatalf("Host %s: %d %s", host, w.Code, w.Body)
		}
	}
	if got := strings.Join(f.calls, "; "); got != "push alice; push alice; push alice" {
		t.Fatalf("backend calls %q, want three pushes to alice", got)
	}

	// With a key, the key is the guard: any Host, any Content-Type.
	k := New(Config{Key: testAPIKey}, &fakeBackend{})
	if w := rawCall(k, "POST", "/v1/push", "push.internal", "", testAPIKey, push); w.Code != 200 {
		t.Fatalf("keyed: %d %s", w.Code, w.Body)
	}
	if w := rawCall(k, "POST", "/v1/push", "push.internal", "", "", push); w.Code != 401 {
		t.Fatalf("keyed, without the key: %d %s", w.Code, w.Body)
	}
}
