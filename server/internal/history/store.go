package history

// Want is one stream a resuming client asks for: its user's stream (Room
// empty) or a room's, and the last position it saw there; zero means it
// saw none (for a room: join only, nothing to replay).
type Want struct {
	Room  string
	After Pos
}

// Stream is the name of the stream w asks for, for user.
func (w Want) Stream(user string) string {
	if w.Room != "" {
		return RoomStream(w.Room)
	}
	return UserStream(user)
}

// Read is what a store holds of one stream after a position.
type Read struct {
	Entries []Entry // after the position asked for, oldest first
	Last    Pos     // the stream's last position: that of the last entry, or the position asked for
	Floor   Pos     // messages up to Floor may be gone
	Err     error   // the store could not be read: nothing above is known
}

// Result is what a resuming client is sent for one stream: the messages it
// missed; and, when some of them may be gone, first a gap notice that tells
// it to re-sync with the backend and go on from From, then the messages
// kept after From.
type Result struct {
	Room    string
	Entries []Entry
	Last    Pos  // the stream's last position: what the replay covers
	Gap     bool // messages may be missing before Entries
	From    Pos  // on a gap: the position the re-sync covers up to
}

// Store is where a resume reads the history: in memory on a single node
// (Memory), in Redis streams in a cluster.
type Store interface {
	// Read reads the streams that want names for user and calls done
	// once with a Result per stream to replay (a room asked for with no
	// position is only joined, and has none). done may run on the
	// caller's goroutine before Read returns, or later on another.
	Read(user string, want []Want, done func([]Result))
}

// Recover is the recovery algorithm, the same for every Store: given what
// a store read for w, it decides what the client is sent. A client that
// saw a position before the stream's floor may have missed messages that
// are gone: it gets a gap from the floor, which its re-sync covers, then
// every message kept after the floor, so that the hole is no wider than
// what was lost (after a Redis restart, what was published since is
// delivered, not folded into the gap). A store that could not be read is
// a gap too: nothing can be promised, and the gap names no position.
func Recover(w Want, rd Read) Result {
	r := Result{Room: w.Room, Last: max(rd.Last, w.After)}
	if rd.Err != nil {
		r.Gap = true
		return r
	}
	r.Entries = rd.Entries
	if r.Gap = w.After < rd.Floor; r.Gap {
		r.From = rd.Floor
		i := 0
		for i < len(r.Entries) && r.Entries[i].Pos <= rd.Floor {
			i++
		}
		r.Entries = r.Entries[i:]
		r.Last = max(r.Last, r.From)
	}
	return r
}
