package console

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// AuditSize is how many console actions the audit log keeps; older ones
// go first (each is also in the structured log, for good).
const AuditSize = 1000

// Entry is one action made from the console.
type Entry struct {
	T      time.Time       `json:"t"`
	Who    string          `json:"who"`
	Role   string          `json:"role"`
	Addr   string          `json:"addr"`
	Action string          `json:"action"` // push, publish, broadcast, kick, disconnect, login, login_failed, logout
	Target string          `json:"target,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Result string          `json:"result"`
	DryRun bool            `json:"dry_run,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"` // the payload, shown to admins only
}

type audit struct {
	mu   sync.Mutex
	ring []Entry
	next int
	full bool
	log  *slog.Logger
}

func (a *audit) add(e Entry) {
	a.log.Info("console audit", "who", e.Who, "role", e.Role, "addr", e.Addr, "action", e.Action,
		"target", e.Target, "reason", e.Reason, "result", e.Result, "dry_run", e.DryRun, "bytes", len(e.Data))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ring == nil {
		a.ring = make([]Entry, AuditSize)
	}
	a.ring[a.next] = e
	a.next++
	if a.next == AuditSize {
		a.next, a.full = 0, true
	}
}

// list is the log, newest first; payloads only with withData.
func (a *audit) list(withData bool) []Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.next
	if a.full {
		n = AuditSize
	}
	out := make([]Entry, 0, n)
	for i := range n {
		j := a.next - 1 - i
		if j < 0 {
			j += AuditSize
		}
		e := a.ring[j]
		if !withData {
			e.Data = nil
		}
		out = append(out, e)
	}
	return out
}
