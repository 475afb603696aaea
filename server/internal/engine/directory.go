package engine

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/wire"
)

// The directory of connections: what the operator console lists, pages and
// searches (docs/console.md). It indexes the sessions the loops already
// hold rather than copies of them: per connection it keeps one B-tree item
// of 8 bytes (the session) and one slot of 32 bytes (its id, session,
// client tags and start), and allocates nothing of its own. Each
// loop has its own part: a B-tree of its connections by user id then
// connection id (prefix search and paging by user), a slice of them in id
// order (connection ids grow, and a loop adds its connections in the order
// the pool numbered them: the oldest first is an append and a binary
// search), and its own mutex, so that the upgrade and the close of one
// loop never wait for another. A page merges the loops' parts, reading at
// most dirBatch entries of a part per lock, and at most MaxPageScan in
// all: no request walks or copies the whole directory, whatever it holds.
// A bounded ring in each part keeps the connections that closed last, with
// their reasons: ClosedRing in all.

// Limits of the directory.
const (
	// ClosedRing is how many closed connections each node remembers, for
	// "why did this phone disconnect?" (as NATS keeps 10,000).
	ClosedRing = 10000
	// MaxPage caps the connections of one page.
	MaxPage = 500
	// MaxPageScan caps the entries one page request examines for its
	// exact filters; past it the page is returned short, with a cursor
	// to go on from (Page.Partial).
	MaxPageScan = 10000
	// MaxTags caps the distinct (platform, sdk) pairs each loop shares
	// among its connections; past it a connection's pair is its own.
	MaxTags = 256

	dirBatch = 128 // entries a page reads from one loop's part per lock
)

// clientTags is what a client says of itself in its upgrade request, and
// the address a trusted proxy gives for it. Connections with the same
// platform and SDK (and no proxy address) share one; most have none.
type clientTags struct {
	ip       string // X-Real-IP believed, if any
	platform string
	sdk      string
}

// dirItem is one connection in a loop's B-tree: its session, whose user
// and id are the key; both are fixed while the connection is in the pool.
// The items are pointers, not the slot's copy, since B-tree nodes run half
// empty: 8 bytes there cost about 16.
type dirItem struct{ s *session }

// dirSlot is one connection in a loop's id order; s is nil once it closed
// (until the slice is compacted).
type dirSlot struct {
	id    uint64
	s     *session
	tags  *clientTags
	since int64 // unix nanoseconds
}

// dirRow is a connection as a page reads it, copied under its loop's lock.
type dirRow struct {
	user   string
	id     uint64
	since  int64
	remote netip.AddrPort
	tags   *clientTags
	loop   int32
	zout   bool
	s      *session
}

// connSide is what the directory reads of a connection beyond its session:
// the connection's remote address and whether it may get compressed
// messages. Both are set before the upgrade's add and fixed until the
// close's remove, and the gnet.Conn is released only after it: read under
// the loop's part lock, they are never torn.
type connSide interface {
	dirSide() (netip.AddrPort, bool)
}

func (c *conn) dirSide() (netip.AddrPort, bool) { return addrPort(c.gc.RemoteAddr()), c.zout }

func (sl *dirSlot) row() dirRow {
	r := dirRow{user: sl.s.m.User, id: sl.id, since: sl.since, tags: sl.tags, loop: int32(sl.s.m.Shard()), s: sl.s}
	if cs, ok := sl.s.m.Conn.(connSide); ok {
		r.remote, r.zout = cs.dirSide()
	}
	return r
}

func (r *dirRow) tag() clientTags {
	if r.tags == nil {
		return clientTags{}
	}
	return *r.tags
}

func (r *dirRow) info() wire.ConnInfo {
	t := r.tag()
	return wire.ConnInfo{ID: r.id, User: r.user, Remote: r.remote.String(), IP: t.ip,
		Since: time.Unix(0, r.since), Compression: r.zout, Platform: t.platform, SDK: t.sdk, Loop: int(r.loop)}
}

// closedEntry is one connection of the ring of recent closes.
type closedEntry struct {
	dirRow
	seq    uint64 // the directory's count of closes with this one
	closed int64
	reason wire.CloseReason
	detail string
}

// dirPart is one loop's part of the directory.
type dirPart struct {
	mu     sync.Mutex
	byUser *btree.BTreeG[dirItem]
	byID   []dirSlot // in id order
	dead   int       // slots of byID whose connection closed
	detail map[uint64]string
	tags   map[clientTags]*clientTags // shared tags, at most MaxTags

	closed []closedEntry // the loop's ring of recent closes: its share of ClosedRing
	next   int           // where the next close goes
	full   bool
}

type directory struct {
	parts  []dirPart
	closes atomic.Uint64 // closes filed, ever: their order across the loops
	// inRoom says whether user is in room on this node (the roster), for
	// a page's room filter; nil: no connection matches one.
	inRoom func(room, user string) bool
}

func byUserLess(a, b dirItem) bool {
	if a.s.m.User != b.s.m.User {
		return a.s.m.User < b.s.m.User
	}
	return a.s.m.ID() < b.s.m.ID()
}

// dirKey is a search key for (user, id): a session that is not in the
// pool, with no Conn.
func dirKey(user string, id uint64) dirItem {
	return dirItem{s: &session{m: pool.Key(user, id)}}
}

func newDirectory(loops int, inRoom func(room, user string) bool) *directory {
	d := &directory{parts: make([]dirPart, max(loops, 1)), inRoom: inRoom}
	for i := range d.parts {
		d.parts[i].byUser = btree.NewG(32, byUserLess)
	}
	return d
}

// part is the part of the loop ss is on.
func (d *directory) part(ss *session) *dirPart { return &d.parts[ss.m.Shard()%len(d.parts)] }

// tagsFor is the tags to keep for a connection: nil when it said nothing,
// a shared copy for a (platform, sdk) pair seen before. p.mu is held.
func (p *dirPart) tagsFor(t clientTags) *clientTags {
	if t == (clientTags{}) {
		return nil
	}
	if t.ip != "" {
		return &t
	}
	if shared, ok := p.tags[t]; ok {
		return shared
	}
	if len(p.tags) >= MaxTags {
		return &t
	}
	if p.tags == nil {
		p.tags = make(map[clientTags]*clientTags)
	}
	p.tags[t] = &t
	return &t
}

// add files ss, just added to the pool, with what its client said.
func (d *directory) add(ss *session, t clientTags, since time.Time) {
	p := d.part(ss)
	id := ss.m.ID()
	p.mu.Lock()
	p.byUser.ReplaceOrInsert(dirItem{s: ss})
	sl := dirSlot{id: id, s: ss, tags: p.tagsFor(t), since: since.UnixNano()}
	if n := len(p.byID); n == 0 || p.byID[n-1].id < id {
		p.byID = append(p.byID, sl)
	} else { // not the newest of its loop: never with the pool's numbering
		i, _ := slices.BinarySearchFunc(p.byID, id, cmpSlot)
		p.byID = slices.Insert(p.byID, i, sl)
	}
	p.mu.Unlock()
}

func cmpSlot(s dirSlot, id uint64) int { return cmp.Compare(s.id, id) }

// slot is connection id's slot, nil if it is not open. p.mu is held.
func (p *dirPart) slot(id uint64) *dirSlot {
	if i, found := slices.BinarySearchFunc(p.byID, id, cmpSlot); found && p.byID[i].s != nil {
		return &p.byID[i]
	}
	return nil
}

// remove takes ss out of the directory and files it in the ring of recent
// closes.
func (d *directory) remove(ss *session, reason wire.CloseReason, now time.Time) {
	p := d.part(ss)
	id := ss.m.ID()
	p.mu.Lock()
	i, found := slices.BinarySearchFunc(p.byID, id, cmpSlot)
	if !found || p.byID[i].s != ss {
		p.mu.Unlock()
		return
	}
	p.byUser.Delete(dirItem{s: ss})
	row := p.byID[i].row()
	p.byID[i] = dirSlot{id: id}
	p.dead++
	p.compact()
	detail := p.detail[id]
	if detail != "" {
		delete(p.detail, id)
	}
	row.s = nil
	if p.closed == nil {
		p.closed = make([]closedEntry, max(ClosedRing/len(d.parts), 1))
	}
	p.closed[p.next] = closedEntry{dirRow: row, seq: d.closes.Add(1), closed: now.UnixNano(), reason: reason, detail: detail}
	p.next++
	if p.next == len(p.closed) {
		p.next, p.full = 0, true
	}
	p.mu.Unlock()
}

// compact drops the closed slots once they are half of the slice, into a
// smaller array when the live ones fill less than half of it: each slot
// is moved at most once per close that made it due. p.mu is held.
func (p *dirPart) compact() {
	if p.dead < 64 || 2*p.dead < len(p.byID) {
		return
	}
	live := len(p.byID) - p.dead
	dst := p.byID[:0]
	if 2*live < cap(p.byID) {
		dst = make([]dirSlot, 0, live+live/4)
	}
	for _, sl := range p.byID {
		if sl.s != nil {
			dst = append(dst, sl)
		}
	}
	clear(p.byID[len(dst):]) // no stale session pointers past the end
	p.byID, p.dead = dst, 0
}

// setDetail records the reason a console kick gives m, for the ring.
func (d *directory) setDetail(m *pool.Member, detail string) {
	p := &d.parts[m.Shard()%len(d.parts)]
	p.mu.Lock()
	if sl := p.slot(m.ID()); sl != nil {
		if p.detail == nil {
			p.detail = make(map[uint64]string)
		}
		p.detail[m.ID()] = detail
	}
	p.mu.Unlock()
}

// get finds connection id.
func (d *directory) get(id uint64) (dirRow, bool) {
	for i := range d.parts {
		p := &d.parts[i]
		p.mu.Lock()
		if sl := p.slot(id); sl != nil {
			r := sl.row()
			p.mu.Unlock()
			return r, true
		}
		p.mu.Unlock()
	}
	return dirRow{}, false
}

// len is the number of connections in the directory.
func (d *directory) len() int {
	n := 0
	for i := range d.parts {
		p := &d.parts[i]
		p.mu.Lock()
		n += p.byUser.Len()
		p.mu.Unlock()
	}
	return n
}

// Query asks the directory for one page of connections (wire.ConnQuery).
type Query = wire.ConnQuery

// Page is one page of the directory (wire.ConnPage).
type Page = wire.ConnPage

// ErrCursor is a cursor the directory did not write.
var ErrCursor = errors.New("engine: invalid cursor")

func match(q *Query, r *dirRow) bool {
	t := r.tag()
	if q.IP != "" && q.IP != t.ip && q.IP != r.remote.Addr().String() {
		return false
	}
	if q.Platform != "" && q.Platform != t.platform || q.SDK != "" && q.SDK != t.sdk {
		return false
	}
	if q.Compression == "on" && !r.zout || q.Compression == "off" && r.zout {
		return false
	}
	return q.Loop < 0 || int(r.loop) == q.Loop
}

// cursor encodes where a page stopped: the last entry's id, and its user
// in user order.
func cursor(r *dirRow, oldest bool) string {
	s := "u" + strconv.FormatUint(r.id, 10) + ":" + r.user
	if oldest {
		s = "i" + strconv.FormatUint(r.id, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// dirPos is where a walk of the directory stands: the first (user, id)
// not yet read, in user order; the first id in id order.
type dirPos struct {
	user string
	id   uint64
}

func parseCursor(c string, oldest bool) (dirPos, error) {
	if c == "" {
		return dirPos{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 2 {
		return dirPos{}, ErrCursor
	}
	s := string(raw)
	if (s[0] == 'i') != oldest {
		return dirPos{}, ErrCursor
	}
	num, user := s[1:], ""
	if !oldest {
		var ok bool
		if num, user, ok = strings.Cut(num, ":"); !ok {
			return dirPos{}, ErrCursor
		}
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return dirPos{}, ErrCursor
	}
	return dirPos{user: user, id: id + 1}, nil
}

// read copies up to n of p's connections from pos on (in user order, those
// of the prefix only; in id order, all), under p's lock.
func (p *dirPart) read(pos dirPos, oldest bool, prefix string, n int, dst []dirRow) []dirRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if oldest {
		i, _ := slices.BinarySearchFunc(p.byID, pos.id, cmpSlot)
		for ; i < len(p.byID) && n > 0; i++ {
			if p.byID[i].s != nil {
				dst = append(dst, p.byID[i].row())
				n--
			}
		}
		return dst
	}
	p.byUser.AscendGreaterOrEqual(dirKey(pos.user, pos.id), func(it dirItem) bool {
		if !strings.HasPrefix(it.s.m.User, prefix) {
			return false
		}
		if sl := p.slot(it.s.m.ID()); sl != nil {
			dst = append(dst, sl.row())
			n--
		}
		return n > 0
	})
	return dst
}

// dirWalk merges the loops' parts into one walk in user or id order. It
// reads each part a batch at a time, the first of 16 entries, each next
// one twice the last up to dirBatch: a page of 50 of 4 loops reads about
// 64 entries, a long filtered walk a few locks per thousand.
type dirWalk struct {
	d      *directory
	oldest bool
	prefix string
	parts  []dirCursor
}

// dirCursor is where a walk stands in one part.
type dirCursor struct {
	p     *dirPart
	buf   []dirRow // read and not yet taken from at on
	at    int
	pos   dirPos // where the next read starts
	batch int
	done  bool // the part has nothing past buf
}

// walk walks the parts from from on; only part loop if loop >= 0.
func (d *directory) walk(from dirPos, oldest bool, prefix string, loop int) *dirWalk {
	w := &dirWalk{d: d, oldest: oldest, prefix: prefix}
	for i := range d.parts {
		if loop < 0 || loop == i {
			w.parts = append(w.parts, dirCursor{p: &d.parts[i], pos: from, batch: 16})
		}
	}
	return w
}

func (w *dirWalk) fill(c *dirCursor) {
	if c.at < len(c.buf) || c.done {
		return
	}
	if cap(c.buf) < c.batch {
		c.buf = make([]dirRow, 0, c.batch)
	}
	c.buf, c.at = c.p.read(c.pos, w.oldest, w.prefix, c.batch, c.buf[:0]), 0
	if n := len(c.buf); n < c.batch {
		c.done = true
	}
	if n := len(c.buf); n > 0 {
		c.pos = dirPos{user: c.buf[n-1].user, id: c.buf[n-1].id + 1}
	}
	c.batch = min(2*c.batch, dirBatch)
}

func (w *dirWalk) before(a, b *dirRow) bool {
	if !w.oldest && a.user != b.user {
		return a.user < b.user
	}
	return a.id < b.id
}

// peek is the next connection of the walk and the cursor it is in, or nil
// at its end.
func (w *dirWalk) peek() (*dirRow, *dirCursor) {
	var best *dirRow
	var in *dirCursor
	for i := range w.parts {
		c := &w.parts[i]
		w.fill(c)
		if c.at < len(c.buf) && (best == nil || w.before(&c.buf[c.at], best)) {
			best, in = &c.buf[c.at], c
		}
	}
	return best, in
}

func (w *dirWalk) next() (dirRow, bool) {
	r, c := w.peek()
	if r == nil {
		return dirRow{}, false
	}
	c.at++
	return *r, true
}

// page reads one page for q.
func (d *directory) page(q Query, now time.Time) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, MaxPage)
	from, err := parseCursor(q.Cursor, q.Oldest)
	if err != nil {
		return Page{}, err
	}
	p := Page{Conns: []wire.ConnInfo{}, Taken: now, Total: d.len()}
	if !q.Oldest && from.user < q.Prefix {
		from = dirPos{user: q.Prefix}
	}
	prefix := q.Prefix
	if q.Oldest {
		prefix = "" // every part's id order; the prefix is a filter
	}
	w := d.walk(from, q.Oldest, prefix, q.Loop)
	var last dirRow
	stopped := false
	for {
		r, ok := w.next()
		if !ok {
			break
		}
		p.Scanned++
		last = r
		if strings.HasPrefix(r.user, q.Prefix) && match(&q, &r) && (q.Room == "" || d.inRoom != nil && d.inRoom(q.Room, r.user)) {
			p.Conns = append(p.Conns, r.info())
			if len(p.Conns) == q.Limit {
				stopped = true
				break
			}
		}
		if p.Scanned >= MaxPageScan {
			p.Partial, stopped = true, true
			break
		}
	}
	// A next page exists if the walk stopped before its end.
	if stopped {
		if r, _ := w.peek(); r != nil {
			p.Next = cursor(&last, q.Oldest)
		}
	}
	return p, nil
}

// user lists the connections of user, at most MaxPage, in id order.
func (d *directory) user(user string) []wire.ConnInfo {
	out := []wire.ConnInfo{}
	key := dirKey(user, 0)
	for i := range d.parts {
		p := &d.parts[i]
		p.mu.Lock()
		p.byUser.AscendGreaterOrEqual(key, func(it dirItem) bool {
			if it.s.m.User != user || len(out) == MaxPage {
				return false
			}
			if sl := p.slot(it.s.m.ID()); sl != nil {
				r := sl.row()
				out = append(out, r.info())
			}
			return true
		})
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b wire.ConnInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// recent lists the rings' closes, newest first, of user ("" for anyone),
// at most limit: each loop's newest limit, merged.
func (d *directory) recent(user string, limit int) []wire.ClosedConn {
	var got []closedEntry
	for i := range d.parts {
		got = d.parts[i].recent(user, limit, got)
	}
	slices.SortFunc(got, func(a, b closedEntry) int { return cmp.Compare(b.seq, a.seq) })
	out := make([]wire.ClosedConn, 0, min(len(got), limit))
	for _, e := range got[:min(len(got), limit)] {
		c := wire.ClosedConn{ConnInfo: e.info(), Closed: time.Unix(0, e.closed), Reason: e.reason.String(), Detail: e.detail}
		if dc, ok := disconnectOf(e.reason); ok {
			c.Code, c.Close = dc.Code, int(dc.Close)
		}
		out = append(out, c)
	}
	return out
}

// recent appends p's newest closes of user ("" for anyone) to dst, at
// most limit.
func (p *dirPart) recent(user string, limit int, dst []closedEntry) []closedEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.next
	if p.full {
		n = len(p.closed)
	}
	for i, taken := 0, 0; i < n && taken < limit; i++ {
		j := p.next - 1 - i
		if j < 0 {
			j += len(p.closed)
		}
		if e := &p.closed[j]; user == "" || e.user == user {
			dst = append(dst, *e)
			taken++
		}
	}
	return dst
}

// disconnectOf is the disconnect the server sends for reason, if it sends
// one.
func disconnectOf(r wire.CloseReason) (wire.Disconnect, bool) {
	for _, d := range wire.Disconnects {
		if wire.ReasonFor(d) == r {
			return d, true
		}
	}
	return wire.Disconnect{}, false
}

// clientParams reads what a client says of itself in its upgrade's query
// (?platform=, ?sdk=, as queryParam), in one pass, and in none when the
// query names neither.
func clientParams(q []byte) (platform, sdk string) {
	if !bytes.Contains(q, []byte("platform=")) && !bytes.Contains(q, []byte("sdk=")) {
		return "", ""
	}
	return queryParam(q, "platform"), queryParam(q, "sdk")
}

// queryParam returns the value of key in a raw query string, unescaped
// only if it needs to be; "" when absent. It allocates only when found.
func queryParam(q []byte, key string) string {
	s := string(q) // the compiler does not copy for the search below
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			if u, err := unescape(v); err == nil && len(u) <= 64 {
				return u
			}
			return ""
		}
	}
	return ""
}

func unescape(v string) (string, error) {
	if !strings.ContainsAny(v, "%+") {
		return strings.Clone(v), nil
	}
	return url.QueryUnescape(v)
}

// addrPort is a's address and port, or the zero value.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
