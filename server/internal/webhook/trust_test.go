package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/wstest"
)

// A redirect would carry the signed events wherever the answer points:
// the webhook takes the 3xx as its answer and fails the batch.
func TestWebhookFollowsNoRedirect(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	var stolen sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Store("sig", r.Header.Get(SignatureHeader))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(elsewhere.Close)
	var calls sync.Map
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Store("n", true)
		http.Redirect(w, r, elsewhere.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(hook.Close)

	w := New(Config{URL: hook.URL, Secret: "hook-secret", Events: []string{EventConnect}, Delay: 10 * time.Millisecond}, Deps{})
	w.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	w.Connect(1, "alice", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, "")
	wstest.WaitFor(t, 5*time.Second, func() error {
		if w.Counters().Failed == 0 {
			return errors.New("the batch has not failed yet")
		}
		return nil
	})
	if _, ok := calls.Load("n"); !ok {
		t.Fatal("the webhook was never called")
	}
	if sig, ok := stolen.Load("sig"); ok {
		t.Fatalf("the redirect was followed, carrying signature %q", sig)
	}
	if c := w.Counters(); c.Sent != 0 {
		t.Fatalf("counters %+v: a redirected batch counted as sent", c)
	}
}
