package webhook

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// hookServer answers the connect hook's requests with answer, after
// checking each is signed and carries the facts it was given.
func hookServer(t *testing.T, answer func(w http.ResponseWriter, f wire.ConnectFacts)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(TimestampHeader)
		if want := "sha256=" + Sign([]byte(testSecret), ts, body); !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(want)) {
			t.Errorf("connect hook request not signed: %q", r.Header.Get(SignatureHeader))
		}
		var f wire.ConnectFacts
		if err := json.Unmarshal(body, &f); err != nil {
			t.Errorf("connect hook body %s: %v", body, err)
		}
		answer(w, f)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/connect"
}

func admitOnce(t *testing.T, url string) (wire.Admission, error) {
	t.Helper()
	h := NewConnectHook(url, testSecret, "node-a")
	t.Cleanup(h.client.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return h.Admit(ctx, wire.ConnectFacts{Type: "connect.request", Remote: "127.0.0.1:1", Query: url2("code=abc")})
}

func url2(q string) url.Values { v, _ := url.ParseQuery(q); return v }

func TestConnectHookReadsAVerdict(t *testing.T) {
	u := hookServer(t, func(w http.ResponseWriter, f wire.ConnectFacts) {
		if f.Node != "node-a" || f.Query.Get("code") != "abc" {
			t.Errorf("facts %+v", f)
		}
		w.Write([]byte(`{"user":"openid-1","rooms":["a","b"],"meta":{ "vip" : true },"perms":{"publish":["a"]}}`))
	})
	v, err := admitOnce(t, u)
	if err != nil || v.Refused || v.User != "openid-1" || len(v.Rooms) != 2 || string(v.Meta) != `{"vip":true}` || v.Perms == nil || v.Perms.Publish[0] != "a" {
		t.Fatalf("verdict %+v, %v", v, err)
	}
}

func TestConnectHookRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		reason     string
	}{
		{"WithReason", `{"reason":"banned until tomorrow"}`, 403, "banned until tomorrow"},
		{"WithoutBody", ``, 401, "Unauthorized"},
		{"NotJSON", `go away`, 400, "Bad Request"},
		{"LongReason", `{"reason":"` + strings.Repeat("长", 80) + `"}`, 403, strings.Repeat("长", 33)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := hookServer(t, func(w http.ResponseWriter, _ wire.ConnectFacts) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			v, err := admitOnce(t, u)
			if err != nil || !v.Refused || v.Reason != tc.reason {
				t.Fatalf("verdict %+v, %v; want refused with %q", v, err, tc.reason)
			}
		})
	}
}

func TestConnectHookAnswersThatAreNotVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"ServerError", `{}`, 500},
		{"Redirect", ``, 302},
		{"NotJSON", `<html>`, 200},
		{"BadUser", `{"user":"a\u0001b"}`, 200},
		{"BadRoom", `{"rooms":[""]}`, 200},
		{"TooManyRooms", `{"rooms":[` + strings.Repeat(`"r",`, maxHookRooms) + `"r"]}`, 200},
		{"MetaNotObject", `{"meta":[1]}`, 200},
		{"MetaTooBig", `{"meta":{"x":"` + strings.Repeat("x", maxHookMeta) + `"}}`, 200},
		{"TooLong", `{"user":"` + strings.Repeat("x", maxHookAnswer) + `"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := hookServer(t, func(w http.ResponseWriter, _ wire.ConnectFacts) {
				if tc.status == 302 {
					w.Header().Set("Location", "http://example.com/")
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			if v, err := admitOnce(t, u); err == nil {
				t.Fatalf("verdict %+v from %d %s, want an error", v, tc.status, tc.body)
			}
		})
	}
}

func TestConnectHookThatDoesNotAnswerInTime(t *testing.T) {
	release := make(chan struct{})
	u := hookServer(t, func(w http.ResponseWriter, _ wire.ConnectFacts) { <-release })
	defer close(release)
	h := NewConnectHook(u, testSecret, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Admit(ctx, wire.ConnectFacts{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if n := h.results[3].Load(); n != 1 {
		t.Fatalf("errors counted %d, want 1", n)
	}
}

func TestConnectHookURLIsChecked(t *testing.T) {
	if err := ValidateHook("ftp://x"); err == nil {
		t.Fatal("ftp:// accepted")
	}
	if err := ValidateHook("ftp://user:pw@backend/connect"); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("error %v: want a refusal that hides the password", err)
	}
	if ValidateHook("") != nil || ValidateHook("http://127.0.0.1:9/c") != nil {
		t.Fatal("valid URLs refused")
	}
}
