package engine

import (
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/wspush/wspush/server/internal/wire"
)

// The directory of connections: what the operator console lists, pages and
// searches (docs/console.md). It is kept apart from the pool, which is
// laid out for fan-out: two ordered indexes (B-trees) of the upgraded
// connections, one by user id then connection id (prefix search and
// paging by user), one by connection id (the oldest first), and a bounded
// ring of the connections that closed last, with their reasons.
//
// A loop touches it twice per connection, at the upgrade and at the
// close, each time for one insert or delete under the directory's mutex
// (a B-tree of a million entries is about 20 levels: a microsecond);
// nothing on the path of a message touches it. A page is read under the
// same mutex, at most MaxPageScan entries at a time: no request walks or
// copies the whole directory, whatever it holds.

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
)

// dirEntry is one connection in the directory. It is written once, at
// the upgrade, and read under the directory's mutex.
type dirEntry struct {
	user     string
	id       uint64
	since    int64 // unix nanoseconds
	remote   netip.AddrPort
	ip       string // X-Real-IP believed, if any
	platform string
	sdk      string
	detail   string // the reason of a console kick, until the close
	loop     int32
	zout     bool
}

func (e *dirEntry) info() wire.ConnInfo {
	return wire.ConnInfo{ID: e.id, User: e.user, Remote: e.remote.String(), IP: e.ip,
		Since: time.Unix(0, e.since), Compression: e.zout, Platform: e.platform, SDK: e.sdk, Loop: int(e.loop)}
}

// closedEntry is one connection of the ring of recent closes.
type closedEntry struct {
	dirEntry
	closed int64
	reason wire.CloseReason
}

type directory struct {
	mu     sync.Mutex
	byUser *btree.BTreeG[*dirEntry]
	byID   *btree.BTreeG[*dirEntry]

	cmu    sync.Mutex
	closed []closedEntry // a ring of ClosedRing
	next   int           // where the next close goes
	full   bool
}

func byUserLess(a, b *dirEntry) bool {
	if a.user != b.user {
		return a.user < b.user
	}
	return a.id < b.id
}

func byIDLess(a, b *dirEntry) bool { return a.id < b.id }

func newDirectory() *directory {
	return &directory{
		byUser: btree.NewG(32, byUserLess),
		byID:   btree.NewG(32, byIDLess),
	}
}

func (d *directory) add(e *dirEntry) {
	d.mu.Lock()
	d.byUser.ReplaceOrInsert(e)
	d.byID.ReplaceOrInsert(e)
	d.mu.Unlock()
}

// remove takes the connection out of the directory and files it in the
// ring of recent closes.
func (d *directory) remove(user string, id uint64, reason wire.CloseReason, now time.Time) {
	key := dirEntry{user: user, id: id}
	d.mu.Lock()
	e, ok := d.byUser.Delete(&key)
	if ok {
		d.byID.Delete(e)
	}
	d.mu.Unlock()
	if !ok {
		return
	}
	d.cmu.Lock()
	if d.closed == nil {
		d.closed = make([]closedEntry, ClosedRing)
	}
	d.closed[d.next] = closedEntry{dirEntry: *e, closed: now.UnixNano(), reason: reason}
	d.next++
	if d.next == len(d.closed) {
		d.next, d.full = 0, true
	}
	d.cmu.Unlock()
}

// setDetail records the reason a console kick gives, for the ring.
func (d *directory) setDetail(user string, id uint64, detail string) {
	key := dirEntry{user: user, id: id}
	d.mu.Lock()
	if e, ok := d.byUser.Get(&key); ok {
		e.detail = detail
	}
	d.mu.Unlock()
}

func (d *directory) get(id uint64) (dirEntry, bool) {
	key := dirEntry{id: id}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.byID.Get(&key)
	if !ok {
		return dirEntry{}, false
	}
	return *e, true
}

// Query asks the directory for one page of connections (wire.ConnQuery).
type Query = wire.ConnQuery

// Page is one page of the directory (wire.ConnPage).
type Page = wire.ConnPage

// ErrCursor is a cursor the directory did not write.
var ErrCursor = errors.New("engine: invalid cursor")

func match(q *Query, e *dirEntry) bool {
	if q.IP != "" && q.IP != e.ip && q.IP != e.remote.Addr().String() {
		return false
	}
	if q.Platform != "" && q.Platform != e.platform || q.SDK != "" && q.SDK != e.sdk {
		return false
	}
	if q.Compression == "on" && !e.zout || q.Compression == "off" && e.zout {
		return false
	}
	return q.Loop < 0 || int(e.loop) == q.Loop
}

// cursor encodes where a page stopped: the last entry's id, and its user
// in user order.
func cursor(e *dirEntry, oldest bool) string {
	s := "u" + strconv.FormatUint(e.id, 10) + ":" + e.user
	if oldest {
		s = "i" + strconv.FormatUint(e.id, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func parseCursor(c string, oldest bool) (dirEntry, error) {
	if c == "" {
		return dirEntry{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 2 {
		return dirEntry{}, ErrCursor
	}
	s := string(raw)
	if (s[0] == 'i') != oldest {
		return dirEntry{}, ErrCursor
	}
	num, user := s[1:], ""
	if !oldest {
		var ok bool
		if num, user, ok = strings.Cut(num, ":"); !ok {
			return dirEntry{}, ErrCursor
		}
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return dirEntry{}, ErrCursor
	}
	return dirEntry{user: user, id: id + 1}, nil
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
	p := Page{Conns: []wire.ConnInfo{}, Taken: now}
	var last *dirEntry
	visit := func(e *dirEntry) bool {
		if !q.Oldest && !strings.HasPrefix(e.user, q.Prefix) {
			last = nil // past the prefix: nothing further
			return false
		}
		p.Scanned++
		last = e
		if (!q.Oldest || strings.HasPrefix(e.user, q.Prefix)) && match(&q, e) {
			p.Conns = append(p.Conns, e.info())
			if len(p.Conns) == q.Limit {
				return false
			}
		}
		if p.Scanned >= MaxPageScan {
			p.Partial = true
			return false
		}
		return true
	}
	d.mu.Lock()
	p.Total = d.byID.Len()
	if q.Oldest {
		d.byID.AscendGreaterOrEqual(&from, visit)
	} else {
		if from.user < q.Prefix {
			from = dirEntry{user: q.Prefix}
		}
		d.byUser.AscendGreaterOrEqual(&from, visit)
	}
	// A next page exists if the walk stopped on an entry that is not the
	// tree's last in range; asking costs one more step.
	if last != nil {
		more := false
		probe := func(e *dirEntry) bool {
			more = q.Oldest || strings.HasPrefix(e.user, q.Prefix)
			return false
		}
		after := dirEntry{user: last.user, id: last.id + 1}
		if q.Oldest {
			d.byID.AscendGreaterOrEqual(&after, probe)
		} else {
			d.byUser.AscendGreaterOrEqual(&after, probe)
		}
		if more {
			p.Next = cursor(last, q.Oldest)
		}
	}
	d.mu.Unlock()
	return p, nil
}

// user lists the connections of user, at most MaxPage.
func (d *directory) user(user string) []wire.ConnInfo {
	out := []wire.ConnInfo{}
	d.mu.Lock()
	d.byUser.AscendGreaterOrEqual(&dirEntry{user: user}, func(e *dirEntry) bool {
		if e.user != user || len(out) == MaxPage {
			return false
		}
		out = append(out, e.info())
		return true
	})
	d.mu.Unlock()
	return out
}

// recent lists the ring's closes, newest first, of user ("" for anyone),
// at most limit.
func (d *directory) recent(user string, limit int) []wire.ClosedConn {
	out := []wire.ClosedConn{}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	n := d.next
	if d.full {
		n = len(d.closed)
	}
	for i := 0; i < n && len(out) < limit; i++ {
		j := d.next - 1 - i
		if j < 0 {
			j += len(d.closed)
		}
		e := &d.closed[j]
		if user != "" && e.user != user {
			continue
		}
		c := wire.ClosedConn{ConnInfo: e.info(), Closed: time.Unix(0, e.closed), Reason: e.reason.String(), Detail: e.detail}
		if dc, ok := disconnectOf(e.reason); ok {
			c.Code, c.Close = dc.Code, int(dc.Close)
		}
		out = append(out, c)
	}
	return out
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
