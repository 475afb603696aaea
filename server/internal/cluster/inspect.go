package cluster

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/wire"
)

// Inspecting the other nodes' connections (docs/console.md, "Cluster-wide
// connections"): the operator console asks every node for a page of its
// directory of connections, or one node for a connection's details or a
// disconnect, and waits at most InspectWait for the answers.
//
// The ask goes on the control channel that every node already subscribes
// to (signed with Config.Secret as the other control messages), with the
// name of a reply channel that the asking node subscribed to first. Each
// node answers from its own directory, in the background (at most
// inspectWorkers at once; an ask beyond that is dropped, and the asker
// names the node as missing), on the reply channel, signed too. Nothing is
// stored in Redis: an answer that comes late reaches nobody. A node that
// did not answer by the deadline is named in the result's Missing.

const (
	// InspectWait bounds how long an ask waits for the nodes' answers.
	InspectWait = time.Second
	// inspectWorkers caps the asks a node answers at once.
	inspectWorkers = 4
	// MaxPage caps a cluster-wide page, as the engine's page.
	MaxPage = 500
)

// Inspector is what a node answers asks from: the engine's inspect API.
type Inspector interface {
	Page(q wire.ConnQuery) (wire.ConnPage, error)
	ConnDetail(ctx context.Context, id uint64) (wire.ConnDetail, error)
	Disconnect(ctx context.Context, id uint64, reason string) error
	// Cursor is the position just after connection c, as a page's Next.
	Cursor(c wire.ConnInfo, oldest bool) string
}

// ErrNoAnswer is a node that did not answer an ask within InspectWait.
var ErrNoAnswer = wire.ErrNoAnswer

// ask is an inspect request, in a control message's Ask.
type ask struct {
	Kind  string `json:"kind"`  // "page", "detail" or "disconnect"
	Reply string `json:"reply"` // the channel to answer on
	To    string `json:"to,omitempty"`
	// Query is the page's (Cursor unused); Cursors each node's position,
	// by node name (absent: from the start).
	Query   *wire.ConnQuery   `json:"query,omitempty"`
	Cursors map[string]string `json:"cursors,omitempty"`
	ID      uint64            `json:"id,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	// Until is the asker's deadline, Unix ms: an answer later is not sent.
	Until int64 `json:"until"`
}

// answer is one node's answer.
type answer struct {
	Node   string           `json:"node"`
	Page   *wire.ConnPage   `json:"page,omitempty"`
	Detail *wire.ConnDetail `json:"detail,omitempty"`
	// Err is "no_conn" for a connection that is not there, or why not.
	Err string `json:"err,omitempty"`
}

// SetInspector makes this node answer the other nodes' asks from ins.
func (cl *Cluster) SetInspector(ins Inspector) {
	cl.insMu.Lock()
	cl.ins = ins
	cl.insMu.Unlock()
}

func (cl *Cluster) inspector() Inspector {
	cl.insMu.Lock()
	defer cl.insMu.Unlock()
	return cl.ins
}

// publishFn is PUBLISH, or SPUBLISH on a sharded layout.
func (cl *Cluster) publishFn() func(ctx context.Context, ch string, msg any) *redis.IntCmd {
	if cl.lay.sharded() {
		return cl.rdb.SPublish
	}
	return cl.rdb.Publish
}

func (cl *Cluster) sign(b []byte) []byte {
	if cl.cfg.Secret == "" {
		return b
	}
	return append([]byte(cl.mac(b)+" "), b...)
}

// verify strips and checks the signature of payload, if there is a secret.
func (cl *Cluster) verify(payload string) (string, bool) {
	if cl.cfg.Secret == "" {
		return payload, true
	}
	mac, body, ok := strings.Cut(payload, " ")
	if !ok || !hmac.Equal([]byte(mac), []byte(cl.mac([]byte(body)))) {
		return "", false
	}
	return body, true
}

// answerAsk answers an ask from another node, in the background. It runs
// on the receiver and does not wait.
func (cl *Cluster) answerAsk(a *ask) {
	if a == nil || a.Reply == "" || (a.To != "" && a.To != cl.node) {
		return
	}
	ins := cl.inspector()
	if ins == nil {
		return
	}
	select {
	case cl.insSem <- struct{}{}:
	default:
		cl.insDropped.Add(1)
		if cl.logDue() {
			cl.log.Warn("cluster: dropped an inspect ask: " + fmt.Sprint(inspectWorkers) + " being answered already; the asker names this node as missing")
		}
		return
	}
	go func() {
		defer func() { <-cl.insSem }()
		until := time.UnixMilli(a.Until)
		ctx, cancel := context.WithDeadline(context.Background(), until)
		defer cancel()
		out := answer{Node: cl.node}
		switch a.Kind {
		case "page":
			if a.Query == nil {
				return
			}
			q := *a.Query
			q.Cursor = a.Cursors[cl.node]
			p, err := ins.Page(q)
			if err != nil {
				out.Err = err.Error()
			} else {
				out.Page = &p
			}
		case "detail":
			d, err := ins.ConnDetail(ctx, a.ID)
			out.Detail, out.Err = &d, errText(err)
		case "disconnect":
			out.Err = errText(ins.Disconnect(ctx, a.ID, a.Reason))
		default:
			return
		}
		if time.Now().After(until) {
			return
		}
		b, _ := json.Marshal(out)
		_ = cl.publishFn()(ctx, a.Reply, cl.sign(b)).Err()
	}()
}

func errText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, wire.ErrNoConn):
		return "no_conn"
	}
	return err.Error()
}

// askNodes sends a to the nodes of want (this one excluded) and collects
// their answers until all have answered or InspectWait has passed. The
// others are missing.
func (cl *Cluster) askNodes(ctx context.Context, a ask, want []string) (map[string]answer, []string, error) {
	got := map[string]answer{}
	if len(want) == 0 {
		return got, nil, nil
	}
	if !cl.up.Load() {
		cl.unavailable.Add(1)
		return nil, nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, InspectWait)
	defer cancel()
	dl, _ := ctx.Deadline()
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	a.Reply = cl.lay.pre(cl.lay.global()) + "ans:" + hex.EncodeToString(tok[:])
	a.Until = dl.UnixMilli()
	var ps *redis.PubSub
	if cl.lay.sharded() {
		ps = cl.rdb.SSubscribe(ctx, a.Reply)
	} else {
		ps = cl.rdb.Subscribe(ctx, a.Reply)
	}
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		cl.failed(err)
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	b, _ := json.Marshal(control{Op: "inspect", Node: cl.node, Users: []string{}, Ask: &a})
	if err := cl.publishFn()(ctx, cl.lay.controlCh(), cl.sign(b)).Err(); err != nil {
		cl.failed(err)
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	waiting := map[string]bool{}
	for _, n := range want {
		waiting[n] = true
	}
	ch := ps.Channel()
	for len(waiting) > 0 {
		select {
		case m, ok := <-ch:
			if !ok {
				break
			}
			body, ok := cl.verify(m.Payload)
			var an answer
			if !ok || json.Unmarshal([]byte(body), &an) != nil {
				cl.reject("inspect answer with a bad signature or not JSON")
				continue
			}
			if waiting[an.Node] {
				delete(waiting, an.Node)
				got[an.Node] = an
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	var missing []string
	for n := range waiting {
		missing = append(missing, n)
	}
	slices.Sort(missing)
	cl.insMissing.Add(int64(len(missing)))
	return got, missing, nil
}

// others lists the nodes alive but this one.
func (cl *Cluster) others(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	nodes, err := cl.alive(ctx)
	if err != nil {
		cl.failed(err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return slices.DeleteFunc(nodes, func(n string) bool { return n == cl.node }), nil
}

// ConnDetail asks node for connection id's details (this node's own are
// the caller's to read).
func (cl *Cluster) ConnDetail(ctx context.Context, node string, id uint64) (wire.ConnDetail, error) {
	an, err := cl.askOne(ctx, ask{Kind: "detail", To: node, ID: id}, node)
	if err != nil {
		return wire.ConnDetail{}, err
	}
	d := *an.Detail
	d.Node = node
	return d, nil
}

// Disconnect asks node to disconnect connection id with reason.
func (cl *Cluster) Disconnect(ctx context.Context, node string, id uint64, reason string) error {
	_, err := cl.askOne(ctx, ask{Kind: "disconnect", To: node, ID: id, Reason: reason}, node)
	return err
}

func (cl *Cluster) askOne(ctx context.Context, a ask, node string) (answer, error) {
	got, missing, err := cl.askNodes(ctx, a, []string{node})
	if err != nil {
		return answer{}, err
	}
	if len(missing) > 0 {
		return answer{}, fmt.Errorf("node %q: %w", node, ErrNoAnswer)
	}
	an := got[node]
	switch {
	case an.Err == "no_conn":
		return an, fmt.Errorf("%w %q", wire.ErrNoConn, node)
	case an.Err != "":
		return an, fmt.Errorf("node %q: %s", node, an.Err)
	case a.Kind == "detail" && an.Detail == nil:
		return an, fmt.Errorf("node %q: an answer without the details", node)
	}
	return an, nil
}

// ErrCursor is a cluster cursor that is not a page's next.
var ErrCursor = wire.ErrCursor

// done marks a node's position past its last connection.
const done = "-"

// cursors decodes a cluster cursor: each node's position.
func cursors(c string) (map[string]string, error) {
	out := map[string]string{}
	if c == "" {
		return out, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || json.Unmarshal(raw, &out) != nil {
		return nil, ErrCursor
	}
	return out, nil
}

// Page reads a page of the connections of every node alive, local being
// this node's own directory: each node's page from its position in the
// cursor, merged in (user, node, id) order, or (since, node, id) for
// q.Oldest. Cursor is a page's Next, positions of every node; the nodes
// that did not answer within InspectWait are named in Missing, keep their
// position, and are asked again for the next page.
func (cl *Cluster) Page(ctx context.Context, q wire.ConnQuery, local Inspector) (wire.ConnPage, error) {
	pos, err := cursors(q.Cursor)
	if err != nil {
		return wire.ConnPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, MaxPage)
	others, err := cl.others(ctx)
	if err != nil {
		return wire.ConnPage{}, err
	}
	want := slices.DeleteFunc(slices.Clone(others), func(n string) bool { return pos[n] == done || q.Node != "" && n != q.Node })
	nq := q
	nq.Cursor = ""
	got, missing, err := cl.askNodes(ctx, ask{Kind: "page", Query: &nq, Cursors: pos}, want)
	if err != nil {
		return wire.ConnPage{}, err
	}
	pages := map[string]wire.ConnPage{}
	for n, an := range got {
		if an.Page == nil {
			missing = append(missing, n)
			continue
		}
		pages[n] = *an.Page
	}
	if pos[cl.node] != done && (q.Node == "" || q.Node == cl.node) {
		lq := q
		lq.Cursor = pos[cl.node]
		p, err := local.Page(lq)
		if err != nil {
			return wire.ConnPage{}, ErrCursor
		}
		pages[cl.node] = p
	}
	// A node in the cursor whose heartbeat stopped is missing too.
	for n, c := range pos {
		if _, ok := pages[n]; !ok && c != done && !slices.Contains(missing, n) && !slices.Contains(want, n) && n != cl.node &&
			(q.Node == "" || q.Node == n) {
			missing = append(missing, n)
		}
	}
	if q.Node != "" && q.Node != cl.node && !slices.Contains(others, q.Node) && !slices.Contains(missing, q.Node) {
		missing = append(missing, q.Node) // no heartbeat from it
	}
	slices.Sort(missing)
	for _, n := range missing {
		if _, ok := pos[n]; !ok {
			pos[n] = "" // kept at its start, for the next page
		}
	}
	out := Merge(pages, pos, q.Limit, q.Oldest, local.Cursor)
	out.Missing = missing
	return out, nil
}

// Merge merges the nodes' pages, each read from its position in pos:
// at most limit connections, in (user, node, id) order (or (since, node,
// id) when oldest), and the cursor of the page after. It takes the least
// of the nodes' first connections not taken yet, one at a time, so that
// what it takes of each node is the start of its page; and it stops when
// a node that has a next page has none left here, as its next ones might
// come before the others'. Each node's position moves past its last
// connection taken, or to its page's next when all of it was taken.
func Merge(pages map[string]wire.ConnPage, pos map[string]string, limit int, oldest bool, cursor func(c wire.ConnInfo, oldest bool) string) wire.ConnPage {
	less := func(a, b wire.ConnInfo) int {
		if oldest {
			if c := a.Since.Compare(b.Since); c != 0 {
				return c
			}
		} else if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	}
	out := wire.ConnPage{Conns: []wire.ConnInfo{}}
	var nodes []string
	for n, p := range pages {
		nodes = append(nodes, n)
		out.Total += p.Total
		out.Scanned += p.Scanned
		out.Partial = out.Partial || p.Partial
		if out.Taken.IsZero() || p.Taken.Before(out.Taken) {
			out.Taken = p.Taken
		}
		for i := range p.Conns {
			p.Conns[i].Node = n
		}
	}
	slices.Sort(nodes)
	taken := map[string]int{}
merge:
	for len(out.Conns) < limit {
		best := ""
		for _, n := range nodes {
			p := pages[n]
			if taken[n] == len(p.Conns) {
				if p.Next != "" {
					break merge // its next ones are not known here
				}
				continue
			}
			if best == "" || less(p.Conns[taken[n]], pages[best].Conns[taken[best]]) < 0 {
				best = n
			}
		}
		if best == "" {
			break
		}
		out.Conns = append(out.Conns, pages[best].Conns[taken[best]])
		taken[best]++
	}
	next := map[string]string{}
	for n, c := range pos {
		next[n] = c // the nodes without a page keep their position
	}
	more := false
	for _, n := range nodes {
		p, k := pages[n], taken[n]
		switch {
		case k == len(p.Conns) && p.Next == "":
			next[n] = done
		case k == len(p.Conns):
			next[n] = p.Next
		case k > 0:
			next[n] = cursor(p.Conns[k-1], oldest)
		default:
			next[n] = pos[n] // nothing taken: where it was ("" for its start)
		}
	}
	for _, c := range next {
		more = more || c != done
	}
	if more {
		b, _ := json.Marshal(next)
		out.Next = base64.RawURLEncoding.EncodeToString(b)
	}
	return out
}
