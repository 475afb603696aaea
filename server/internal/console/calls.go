package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// callTimeout bounds what a console call waits for the loops or Redis.
const callTimeout = 10 * time.Second

// MaxBody caps an action's body, as the API's.
const MaxBody = 1 << 20

// overview is GET /console/api/overview: this node's figures now, and the
// last 15 minutes of points.
type overview struct {
	Node    string     `json:"node"`
	Version string     `json:"version"`
	Stats   wire.Stats `json:"stats"`
	Points  []Point    `json:"points"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ session) {
	writeJSON(w, http.StatusOK, overview{Node: c.cfg.Node, Version: c.cfg.Version, Stats: c.b.Stats(), Points: c.smp.points()})
}

// sse starts a server-sent-events answer; nil if w cannot stream.
func sse(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	// A stream outlives the API's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return nil
	}
	return rc
}

func event(w io.Writer, rc *http.ResponseController, name string, v any) error {
	b, _ := json.Marshal(v)
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return rc.Flush()
}

// GET /console/api/overview/stream: one "point" event a second, each the
// node's figures (Point) and its stats.
func (c *Console) overviewStream(w http.ResponseWriter, r *http.Request, _ session) {
	ch := c.smp.subscribe()
	defer c.smp.unsubscribe(ch)
	rc := sse(w)
	if rc == nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.stop:
			return
		case p := <-ch:
			if event(w, rc, "point", map[string]any{"point": p, "stats": c.b.Stats()}) != nil {
				return
			}
		}
	}
}

// GET /console/api/connections?prefix=&cursor=&limit=&order=user|oldest&ip=&platform=&sdk=&room=&compression=on|off&loop=&node=
// A page of the cluster's connections (this node's on one): each node
// answers from its own directory within cluster.InspectWait; the nodes
// that did not are named in missing.
func (c *Console) connections(w http.ResponseWriter, r *http.Request, _ session) {
	v := r.URL.Query()
	q := wire.ConnQuery{Prefix: v.Get("prefix"), Cursor: v.Get("cursor"), Oldest: v.Get("order") == "oldest",
		IP: v.Get("ip"), Platform: v.Get("platform"), SDK: v.Get("sdk"), Room: v.Get("room"), Compression: v.Get("compression"), Loop: -1, Node: v.Get("node")}
	switch o := v.Get("order"); o {
	case "", "user", "oldest":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "order: user or oldest, got "+strconv.Quote(o))
		return
	}
	if q.Oldest && q.Prefix != "" {
		writeError(w, http.StatusBadRequest, "bad_request", "prefix searches go in user order: drop order=oldest")
		return
	}
	if q.Compression != "" && q.Compression != "on" && q.Compression != "off" {
		writeError(w, http.StatusBadRequest, "bad_request", "compression: on or off")
		return
	}
	var err error
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit: a positive number")
			return
		}
	}
	if s := v.Get("loop"); s != "" {
		if q.Loop, err = strconv.Atoi(s); err != nil || q.Loop < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "loop: an event loop's index, 0 up")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	p, err := c.b.Page(ctx, q)
	if errors.Is(err, wire.ErrCursor) {
		writeError(w, http.StatusBadRequest, "bad_cursor", "cursor: pass a page's next as it came")
		return
	}
	if err != nil {
		failed(w, err)
		return
	}
	for i := range p.Conns {
		if p.Conns[i].Node == "" {
			p.Conns[i].Node = c.cfg.Node
		}
		p.Conns[i].Ref = ref(p.Conns[i])
	}
	if p.Missing == nil {
		p.Missing = []string{}
	}
	writeJSON(w, http.StatusOK, p)
}

// GET /console/api/connections/top?by=queued|oldest&k=20
func (c *Console) top(w http.ResponseWriter, r *http.Request, _ session) {
	k := 20
	if s := r.URL.Query().Get("k"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "bad_request", "k: 1 to 500")
			return
		}
		k = n
	}
	switch by := r.URL.Query().Get("by"); by {
	case "", "queued":
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		writeJSON(w, http.StatusOK, map[string]any{"by": "queued", "node": c.cfg.Node, "taken": time.Now(), "connections": c.b.TopQueued(ctx, k)})
	case "oldest":
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		p, err := c.b.Page(ctx, wire.ConnQuery{Oldest: true, Limit: k, Loop: -1})
		if err != nil {
			failed(w, err)
			return
		}
		for i := range p.Conns {
			p.Conns[i].Ref = ref(p.Conns[i])
		}
		writeJSON(w, http.StatusOK, map[string]any{"by": "oldest", "node": c.cfg.Node, "taken": p.Taken, "connections": p.Conns,
			"missing": append([]string{}, p.Missing...)})
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "by: queued or oldest")
	}
}

// ref is a connection's id qualified by its node, unique in the
// cluster: "c123@node-a".
func ref(c wire.ConnInfo) string { return "c" + strconv.FormatUint(c.ID, 10) + "@" + c.Node }

// connID reads the path's connection: c123@NODE (a page's ref), or c123
// or 123 for this node's. node is "" for this node.
func (c *Console) connID(w http.ResponseWriter, r *http.Request) (string, uint64, bool) {
	s, node, _ := strings.Cut(r.PathValue("id"), "@")
	if node == c.cfg.Node {
		node = ""
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "c"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "id: a connection, as c123@NODE (a page's ref), or c123 on this node")
		return "", 0, false
	}
	return node, id, true
}

// GET /console/api/connections/{id}
func (c *Console) conn(w http.ResponseWriter, r *http.Request, _ session) {
	node, id, ok := c.connID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	d, err := c.b.ConnDetail(ctx, node, id)
	if err != nil {
		failed(w, err)
		return
	}
	d.Node = cmp.Or(node, c.cfg.Node)
	d.Ref = ref(d.ConnInfo)
	writeJSON(w, http.StatusOK, d)
}

// action is the body of the console's actions.
type action struct {
	ID     string          `json:"id"`
	Users  []string        `json:"users"`
	Data   json.RawMessage `json:"data"`
	Reason string          `json:"reason"`
	DryRun bool            `json:"dry_run"`
}

// MaxReason caps the reason an operator gives: it goes into a close
// frame, whose reason has at most 123 bytes.
const MaxReason = 123

func readAction(w http.ResponseWriter, r *http.Request, needData bool) (action, bool) {
	var a action
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the body is over "+strconv.Itoa(MaxBody)+" bytes")
		return a, false
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			writeError(w, http.StatusBadRequest, "bad_json", "the body is not the JSON object expected: "+err.Error())
			return a, false
		}
	}
	if len(a.Reason) > MaxReason {
		writeError(w, http.StatusBadRequest, "bad_request", "reason: at most "+strconv.Itoa(MaxReason)+" bytes (it goes into the close frame)")
		return a, false
	}
	if a.ID != "" && !auth.ValidName(a.ID) {
		writeError(w, http.StatusBadRequest, "bad_request", "id: 1 to 128 bytes of printable UTF-8")
		return a, false
	}
	if needData && (len(a.Data) == 0 || string(a.Data) == "null") {
		writeError(w, http.StatusBadRequest, "bad_request", "data is required: any JSON value but null")
		return a, false
	}
	return a, true
}

func (c *Console) record(r *http.Request, s session, action, target string, a action, result string) {
	c.aud.add(Entry{T: time.Now(), Who: s.Name, Role: s.Role, Addr: clientAddr(r), Action: action, Target: target,
		Reason: a.Reason, Result: result, DryRun: a.DryRun, Data: a.Data})
}

func result(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

// POST /console/api/connections/{id}/disconnect {"reason":R}
func (c *Console) disconnect(w http.ResponseWriter, r *http.Request, s session) {
	node, id, ok := c.connID(w, r)
	if !ok {
		return
	}
	a, ok := readAction(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	err := c.b.Disconnect(ctx, node, id, a.Reason)
	c.record(r, s, "disconnect", ref(wire.ConnInfo{ID: id, Node: cmp.Or(node, c.cfg.Node)}), a, result(err))
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"closed": 1})
}

// userView is GET /console/api/users/{user}.
type userView struct {
	User        string          `json:"user"`
	Node        string          `json:"node"`
	Presence    wire.Presence   `json:"presence"`
	Connections []wire.ConnInfo `json:"connections"` // on this node
	// Nodes are the nodes where the user has connections, with how many
	// (the cluster's presence); NodesError says why they are unknown.
	Nodes      map[string]int    `json:"nodes"`
	NodesError string            `json:"nodes_error,omitempty"`
	Closed     []wire.ClosedConn `json:"recent_disconnects"`
	// History is the user's stream as the history keeps it, newest last,
	// at most 20 (nil without history); a viewer gets the envelopes
	// without their data.
	History      []json.RawMessage `json:"history"`
	HistoryOn    bool              `json:"history_on"`
	HistoryError string            `json:"history_error,omitempty"`
}

func (c *Console) user(w http.ResponseWriter, r *http.Request, s session) {
	u := r.PathValue("user")
	if !validName(w, "user", u) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	v := userView{User: u, Node: c.cfg.Node, Presence: c.b.Presence(ctx, u), Connections: c.b.ConnsOf(u), Closed: c.b.Closed(u, 50)}
	var err error
	for i := range v.Connections {
		v.Connections[i].Node = c.cfg.Node
	}
	for i := range v.Closed {
		v.Closed[i].Node = c.cfg.Node
	}
	if v.Nodes, err = c.b.UserNodes(ctx, u); err != nil {
		v.NodesError = err.Error()
	}
	h, on, err := c.b.History(ctx, u, 20)
	v.HistoryOn = on
	if err != nil {
		v.HistoryError = err.Error()
	}
	for _, m := range h {
		if s.Role != RoleAdmin {
			m = withoutData(m)
		}
		v.History = append(v.History, m)
	}
	writeJSON(w, http.StatusOK, v)
}

// dryRun is what a dry run answers: who would receive the message.
type dryRun struct {
	DryRun bool `json:"dry_run"`
	// Connections is how many connections would receive it: on this
	// node, and in a cluster from presence (Users) or the nodes'
	// heartbeats (broadcast).
	Connections int64           `json:"connections"`
	Users       []wire.Presence `json:"users,omitempty"`
	Room        string          `json:"room,omitempty"`
	Scope       string          `json:"scope"` // "cluster" or "node"
	Bytes       int             `json:"bytes"`
}

func (c *Console) pushTo(w http.ResponseWriter, r *http.Request, s session, users []string, a action) {
	if len(users) == 0 || len(users) > 1000 {
		writeError(w, http.StatusBadRequest, "bad_request", "users: 1 to 1000 user ids from the console")
		return
	}
	for i, u := range users {
		if !auth.ValidName(u) {
			writeError(w, http.StatusBadRequest, "bad_request", "users["+strconv.Itoa(i)+"]: 1 to 128 bytes of printable UTF-8")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	target := strings.Join(users, ",")
	if a.DryRun {
		d := dryRun{DryRun: true, Scope: "cluster", Bytes: len(a.Data)}
		for _, u := range users {
			p := c.b.Presence(ctx, u)
			d.Users = append(d.Users, p)
			d.Connections += int64(p.Connections)
		}
		c.record(r, s, "push", target, a, "dry run")
		writeJSON(w, http.StatusOK, d)
		return
	}
	res, err := c.b.Push(ctx, a.ID, users, a.Data)
	c.record(r, s, "push", target, a, result(err))
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// POST /console/api/users/{user}/push {"data":ANY,"id":ID,"reason":R,"dry_run":B}
func (c *Console) userPush(w http.ResponseWriter, r *http.Request, s session) {
	u := r.PathValue("user")
	if !validName(w, "user", u) {
		return
	}
	if a, ok := readAction(w, r, true); ok {
		c.pushTo(w, r, s, []string{u}, a)
	}
}

// POST /console/api/push {"users":[...],"data":ANY,...}
func (c *Console) push(w http.ResponseWriter, r *http.Request, s session) {
	if a, ok := readAction(w, r, true); ok {
		c.pushTo(w, r, s, a.Users, a)
	}
}

// POST /console/api/users/{user}/kick {"reason":R}
func (c *Console) kick(w http.ResponseWriter, r *http.Request, s session) {
	u := r.PathValue("user")
	if !validName(w, "user", u) {
		return
	}
	a, ok := readAction(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	n, err := c.b.Kick(ctx, u, a.Reason)
	c.record(r, s, "kick", u, a, result(err))
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"closed": n})
}

// pageArgs reads ?after= and ?limit= (1 to max, def by default).
func pageArgs(w http.ResponseWriter, r *http.Request, def, most int) (string, int, bool) {
	limit := def
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > most {
			writeError(w, http.StatusBadRequest, "bad_request", "limit: 1 to "+strconv.Itoa(most))
			return "", 0, false
		}
		limit = n
	}
	return r.URL.Query().Get("after"), limit, true
}

// GET /console/api/rooms?after=&limit=50: a page of the rooms with users,
// the cluster's, in name order, with their user counts; next is the
// after of the page that follows.
func (c *Console) rooms(w http.ResponseWriter, r *http.Request, _ session) {
	after, limit, ok := pageArgs(w, r, 50, 500)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	p, err := c.b.RoomList(ctx, after, limit)
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": p.Rooms, "next": p.Next, "taken": time.Now()})
}

// GET /console/api/rooms/{room}?after=&limit=100: the room's users (the
// cluster's, paged by name) and its connections on this node.
func (c *Console) room(w http.ResponseWriter, r *http.Request, _ session) {
	room := r.PathValue("room")
	if !validName(w, "room", room) {
		return
	}
	after, limit, ok := pageArgs(w, r, 100, 1000)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	users, err := c.b.RoomUsers(ctx, room, after, limit)
	if err != nil {
		failed(w, err)
		return
	}
	members, n := c.b.RoomMembers(ctx, room, limit)
	for i := range members {
		members[i].Node = c.cfg.Node
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room, "node": c.cfg.Node, "users": users.Users, "members": users.Members,
		"next": users.Next, "members_here": n, "connections": members})
}

// POST /console/api/rooms/{room}/publish {"data":ANY,...}
func (c *Console) publish(w http.ResponseWriter, r *http.Request, s session) {
	room := r.PathValue("room")
	if !validName(w, "room", room) {
		return
	}
	a, ok := readAction(w, r, true)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	if a.DryRun {
		_, n := c.b.RoomMembers(ctx, room, 0)
		c.record(r, s, "publish", room, a, "dry run")
		writeJSON(w, http.StatusOK, dryRun{DryRun: true, Connections: int64(n), Room: room, Scope: "node", Bytes: len(a.Data)})
		return
	}
	n, err := c.b.Publish(ctx, a.ID, room, a.Data)
	c.record(r, s, "publish", room, a, result(err))
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"delivered": n})
}

// POST /console/api/broadcast {"data":ANY,...}
func (c *Console) broadcast(w http.ResponseWriter, r *http.Request, s session) {
	a, ok := readAction(w, r, true)
	if !ok {
		return
	}
	if a.DryRun {
		st := c.b.Stats()
		d := dryRun{DryRun: true, Connections: st.Connections, Scope: "node", Bytes: len(a.Data)}
		if st.Cluster != nil {
			d.Connections, d.Scope = st.Cluster.Connections, "cluster"
		}
		c.record(r, s, "broadcast", "*", a, "dry run")
		writeJSON(w, http.StatusOK, d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	n, err := c.b.Broadcast(ctx, a.ID, a.Data)
	c.record(r, s, "broadcast", "*", a, result(err))
	if err != nil {
		failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"delivered": n})
}

// GET /console/api/webhook: the webhook's figures, from its metrics.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request, _ session) {
	out := map[string]any{}
	g := c.gatherer()
	if g == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	mfs, err := g.Gather()
	if err != nil {
		failed(w, err)
		return
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "wspush_webhook_") {
			continue
		}
		series := []map[string]any{}
		for _, m := range mf.GetMetric() {
			s := map[string]any{}
			for _, l := range m.GetLabel() {
				s[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s["value"] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s["value"] = m.GetGauge().GetValue()
			}
			series = append(series, s)
		}
		out[name] = series
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled": len(out) > 0, "metrics": out, "failures": c.b.WebhookFailures()})
}

// GET /console/api/audit: newest first; payloads for admins only.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, s session) {
	writeJSON(w, http.StatusOK, map[string]any{"entries": c.aud.list(s.Role == RoleAdmin), "cap": AuditSize})
}

// GET /console/api/config: the effective configuration, secrets redacted.
func (c *Console) config(w http.ResponseWriter, r *http.Request, _ session) {
	writeJSON(w, http.StatusOK, map[string]string{"config": c.cfg.Settings})
}

// GET /console/api/tail?user=&room=&node=&types=connect,push: the live
// tail, as server-sent events: "event" for each, "sampled" once a second
// when some were dropped, with how many.
func (c *Console) tailStream(w http.ResponseWriter, r *http.Request, _ session) {
	v := r.URL.Query()
	f := TailFilter{User: v.Get("user"), Room: v.Get("room"), Node: v.Get("node")}
	if t := v.Get("types"); t != "" {
		f.Types = map[string]bool{}
		for _, k := range strings.Split(t, ",") {
			f.Types[strings.TrimSpace(k)] = true
		}
	}
	wt := c.tail.watch(f)
	if wt == nil {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "too_many_tails", "at most "+strconv.Itoa(TailWatchers)+" live tails at once")
		return
	}
	defer c.tail.unwatch(wt)
	rc := sse(w)
	if rc == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.stop:
			return
		case e := <-wt.ch:
			if event(w, rc, "event", e) != nil {
				return
			}
		case <-tick.C:
			if n := wt.drops.Swap(0); n > 0 {
				if event(w, rc, "sampled", map[string]any{"dropped": n, "rate": TailRate}) != nil {
					return
				}
			} else if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// withoutData is a push envelope without its payload, for viewers.
func withoutData(m json.RawMessage) json.RawMessage {
	var env map[string]json.RawMessage
	if json.Unmarshal(m, &env) != nil {
		return json.RawMessage(`{}`)
	}
	if _, ok := env["data"]; ok {
		env["data"] = json.RawMessage(`"(hidden from viewers)"`)
	}
	b, _ := json.Marshal(env)
	return b
}
