package history

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Pos is a position packed into 64 bits: milliseconds since the Unix
// epoch in the high 44 (until the year 2527), the sequence in the low 20.
// Zero means none.
type Pos uint64

const seqBits = 20

// MakePos packs a position.
func MakePos(ms int64, seq uint64) Pos { return Pos(uint64(ms)<<seqBits | seq) }

// Append appends the wire form of p, "MS-SEQ", to b.
func (p Pos) Append(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(p>>seqBits), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(p&(1<<seqBits-1)), 10)
}

// String returns the wire form of p, "MS-SEQ".
func (p Pos) String() string { return string(p.Append(nil)) }

// ErrBadPos is what ParsePos returns for anything but a position.
var ErrBadPos = errors.New("history: a position is \"MS-SEQ\", two decimal numbers")

// ParsePos parses "MS-SEQ" (or a bare "MS", as Redis allows).
func ParsePos(s string) (Pos, error) {
	a, b, _ := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(a, 10, 44)
	if err != nil {
		return 0, ErrBadPos
	}
	var seq uint64
	if b != "" {
		if seq, err = strconv.ParseUint(b, 10, seqBits); err != nil {
			return 0, ErrBadPos
		}
	}
	return MakePos(int64(ms), seq), nil
}

// Clock hands out positions that only go forward, from the wall clock:
// the same millisecond or a clock that stepped back gets the next
// sequence number. Safe for any goroutine.
type Clock struct{ last atomic.Uint64 }

// Next returns the next position at now.
func (c *Clock) Next(now time.Time) Pos {
	p := uint64(MakePos(now.UnixMilli(), 0))
	for {
		old := c.last.Load()
		n := max(p, old+1)
		if c.last.CompareAndSwap(old, n) {
			return Pos(n)
		}
	}
}

// Observe moves the clock past p, a position made elsewhere (by Redis).
func (c *Clock) Observe(p Pos) {
	for {
		old := c.last.Load()
		if uint64(p) <= old || c.last.CompareAndSwap(old, uint64(p)) {
			return
		}
	}
}

// UserStream is the name of user's stream.
func UserStream(user string) string { return "u:" + user }

// RoomStream is the name of room's stream.
func RoomStream(room string) string { return "r:" + room }

// Last is the last position the clock handed out or observed.
func (c *Clock) Last() Pos { return Pos(c.last.Load()) }
