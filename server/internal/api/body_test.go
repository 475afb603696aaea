package api

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body is read in one go when its length is announced, through
// http.MaxBytesReader otherwise (decode's readBody): both ways take the
// same bodies and refuse the same ones.
func TestAPIBodiesOfUnknownLength(t *testing.T) {
	h := New(Config{}, &fakeBackend{})
	push := `{"users":["alice"],"data":"` + strings.Repeat("x", 3000) + `"}`
	big := `{"users":["alice"],"data":"` + strings.Repeat("x", MaxAPIBody) + `"}`
	for _, c := range []struct {
		name   string
		body   string
		length int64 // -1: unknown, as with chunked encoding
		status int
		code   string
	}{
		{"unknown length", push, -1, 200, ""},
		{"known length", push, int64(len(push)), 200, ""},
		{"unknown length over the cap", big, -1, 413, "too_large"},
		{"announced over the cap", big, int64(len(big)), 413, "too_large"},
		{"shorter than announced", push, int64(len(push)) + 10, 400, "bad_request"},
		{"empty, unknown length", "", -1, 400, "bad_json"},
	} {
		var body io.Reader = strings.NewReader(c.body)
		if c.length != int64(len(c.body)) {
			body = io.MultiReader(body) // hides the length from NewRequest
		}
		r := httptest.NewRequest("POST", "http://127.0.0.1:8081/v1/push", body)
		r.ContentLength = c.length
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.status || c.code != "" && !strings.Contains(w.Body.String(), `"error":"`+c.code+`"`) {
			t.Errorf("%s: %d %.200s, want %d %s", c.name, w.Code, w.Body, c.status, c.code)
		}
	}
}

// The decode buffers go back to their pool, but what a call keeps (data,
// users) is its own: a second push must not change the first one's.
func TestAPIDecodedBodyOutlivesItsBuffer(t *testing.T) {
	var b1, b2 body
	for _, c := range []struct {
		b    *body
		json string
	}{
		{&b1, `{"users":["alice"],"data":{"n":1}}`},
		{&b2, `{"users":["bobby"],"data":{"n":2}}`},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8081/v1/push", strings.NewReader(c.json))
		if !decode(httptest.NewRecorder(), r, c.b) {
			t.Fatalf("decode %s failed", c.json)
		}
	}
	if string(b1.Data) != `{"n":1}` || b1.Users[0] != "alice" || string(b2.Data) != `{"n":2}` {
		t.Fatalf("decoded %q %q and %q %q", b1.Users, b1.Data, b2.Users, b2.Data)
	}
}

// The exact Content-Type and one with parameters are both JSON, in any
// case; anything else is not.
func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                true,
		"Application/JSON":                true,
		"application/json; charset=utf-8": true,
		"text/plain":                      false,
		"":                                false,
		"application/jsonx":               false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
