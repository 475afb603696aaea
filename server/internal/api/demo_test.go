package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func demoGet(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)) // a keyless API answers loopback hosts only
	return rec.Result()
}

func TestDemoServedAtDemoPath(t *testing.T) {
	page := "<!doctype html><title>chat</title>"
	h := New(Config{Demo: fstest.MapFS{
		"index.html": {Data: []byte(page)},
		"wspush.js":  {Data: []byte("var WsPush")},
	}}, &fakeBackend{})

	rsp := demoGet(t, h, "/demo/")
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != http.StatusOK || string(body) != page {
		t.Fatalf("GET /demo/: %d %q, want 200 with index.html", rsp.StatusCode, body)
	}
	rsp = demoGet(t, h, "/demo/wspush.js")
	if ct := rsp.Header.Get("Content-Type"); rsp.StatusCode != http.StatusOK || !strings.Contains(ct, "javascript") {
		t.Fatalf("GET /demo/wspush.js: %d %q, want 200 JavaScript", rsp.StatusCode, ct)
	}
	rsp = demoGet(t, h, "/demo")
	if loc := rsp.Header.Get("Location"); rsp.StatusCode != http.StatusMovedPermanently || loc != "/demo/" {
		t.Fatalf("GET /demo: %d to %q, want a redirect to /demo/", rsp.StatusCode, loc)
	}
	if rsp := demoGet(t, h, "/demo/missing.js"); rsp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /demo/missing.js: %d, want 404", rsp.StatusCode)
	}
}

func TestDemoAbsentWithoutDemoFS(t *testing.T) {
	h := New(Config{}, &fakeBackend{})
	if rsp := demoGet(t, h, "/demo/"); rsp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /demo/ without Config.Demo: %d, want 404", rsp.StatusCode)
	}
}
