package receipt

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

type told struct {
	id    string
	users []string
	data  string
}

func newTest(t *testing.T, max int) (*Memory, *time.Time, *[]told) {
	t.Helper()
	now := time.Unix(1000, 0)
	var out []told
	m := NewMemory(Config{Max: max, Keep: time.Minute, Now: func() time.Time { return now },
		Undelivered: func(id string, users []string, data []byte) {
			out = append(out, told{id, slices.Clone(users), string(data)})
		}})
	return m, &now, &out
}

func states(t *testing.T, m *Memory, id string) map[string]string {
	t.Helper()
	r, err := m.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status(%s): %v", id, err)
	}
	got := map[string]string{}
	for _, u := range r.Users {
		got[u.User] = u.State
	}
	return got
}

func TestAckByTheUserOnlyAndUndeliveredOnce(t *testing.T) {
	m, now, out := newTest(t, 10)
	if err := begin(m, "m7", 30*time.Second, "bob", "alice", "carol"); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if n := m.Ack("bob", []string{"m7"}); n != 0 {
		t.Fatalf("an ack by the message's id (which a client may guess) applied %d", n)
	}
	if n := m.Ack("alice", []string{"k-m7", "k-m7", "nope"}); n != 1 {
		t.Fatalf("alice's ack applied %d, want 1 (a repeat and an unknown key change nothing)", n)
	}
	if n := m.Ack("mallory", []string{"k-m7"}); n != 0 {
		t.Fatalf("an ack of someone else's message applied %d", n)
	}
	want := map[string]string{"alice": "received", "bob": "pending", "carol": "pending"}
	if got := states(t, m, "m7"); !maps(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	m.Expire(now.Add(29 * time.Second))
	if len(*out) != 0 {
		t.Fatalf("told before the timeout: %v", *out)
	}
	m.Expire(now.Add(30 * time.Second))
	m.Expire(now.Add(31 * time.Second))
	if len(*out) != 1 || (*out)[0].id != "m7" || !slices.Equal((*out)[0].users, []string{"bob", "carol"}) || (*out)[0].data != `{"n":1}` {
		t.Fatalf("told %v, want m7 once for bob and carol with the data", *out)
	}
	if n := m.Ack("bob", []string{"k-m7"}); n != 0 {
		t.Fatal("a late ack turned undelivered into received")
	}
	want = map[string]string{"alice": "received", "bob": "undelivered", "carol": "undelivered"}
	if got := states(t, m, "m7"); !maps(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	if p := m.Counters().Pending.Load(); p != 0 {
		t.Fatalf("pending %d after the timeout", p)
	}
	m.Expire(now.Add(91 * time.Second))
	if _, err := m.Status(context.Background(), "m7"); !errors.Is(err, wire.ErrNoReceipt) {
		t.Fatalf("Status past the keep time: %v, want ErrNoReceipt", err)
	}
}

func TestCapRefusesAndARetryKeepsTheReceipts(t *testing.T) {
	m, _, _ := newTest(t, 3)
	if err := begin(m, "a", time.Second, "u1", "u2"); err != nil {
		t.Fatal(err)
	}
	if err := begin(m, "b", time.Second, "u1", "u2"); !errors.Is(err, wire.ErrReceiptsFull) {
		t.Fatalf("past the cap: %v, want ErrReceiptsFull", err)
	}
	if got := m.Counters().Refused.Load(); got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
	if _, err := m.Status(context.Background(), "b"); !errors.Is(err, wire.ErrNoReceipt) {
		t.Fatalf("refused b is kept: %v", err)
	}
	m.Ack("u1", []string{"k-a"})
	retry := []wire.ReceiptStart{{ID: "a", Key: "k-other", Users: []string{"u1", "u2"}, Timeout: time.Second}}
	if err := m.Begin(context.Background(), retry)[0]; err != nil || retry[0].Key != "k-a" {
		t.Fatalf("a retry of a: %v, key %q; want a's own key", err, retry[0].Key)
	}
	if got := states(t, m, "a"); got["u1"] != "received" {
		t.Fatalf("a retry reset the receipts of a: %v", got)
	}
	if err := begin(m, "b", time.Second, "u1", "u2"); err != nil {
		t.Fatalf("an ack freed room for b: %v", err)
	}
	if p := m.Counters().Pending.Load(); p != 3 {
		t.Fatalf("pending %d, want 3", p)
	}
}

func begin(m *Memory, id string, timeout time.Duration, users ...string) error {
	return m.Begin(context.Background(), []wire.ReceiptStart{{ID: id, Key: "k-" + id, Users: users, Data: []byte(`{"n":1}`), Timeout: timeout}})[0]
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
