package engine

import (
	"sync/atomic"
	"time"
)

// tick is the resolution of every connection deadline: handshake, ping,
// idle and close timeouts.
const tick = 100 * time.Millisecond

// wheelSlots is the number of slots in a loop's timing wheel, a power of
// two. Deadlines further out than the wheel spans are parked in the last
// reachable slot and placed again when it comes round.
const wheelSlots = 1024

// wheel is one event loop's timing wheel: a slot per tick, each a doubly
// linked list threaded through the conns themselves, so that scheduling a
// conn allocates nothing. Only the loop's goroutine touches it.
type wheel struct {
	slots [wheelSlots]*conn
	done  uint32 // the last tick whose slot has been run
	// next is a tick at or before the first non-empty slot: the wheel
	// has nothing to run before it. The loop writes it; gnet's ticker
	// reads it to leave a loop with nothing due asleep.
	next atomic.Uint32
}

// ticks converts d to a whole number of ticks, at least one.
func ticks(d time.Duration) uint32 {
	return uint32(max((d+tick-1)/tick, 1))
}

// add places c in the slot for tick at, which must be after w.done.
func (w *wheel) add(c *conn, at uint32) {
	if at-w.done >= wheelSlots {
		at = w.done + wheelSlots - 1
	}
	if at <= w.done {
		at = w.done + 1
	}
	c.at = at
	if at < w.next.Load() {
		w.next.Store(at)
	}
	i := at & (wheelSlots - 1)
	c.prev, c.next = nil, w.slots[i]
	if c.next != nil {
		c.next.prev = c
	}
	w.slots[i] = c
	c.queued = true
}

// remove takes c out of the wheel, if it is in.
func (w *wheel) remove(c *conn) {
	if !c.queued {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		w.slots[c.at&(wheelSlots-1)] = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.queued = nil, nil, false
}

// move reschedules c at tick at.
func (w *wheel) move(c *conn, at uint32) {
	w.remove(c)
	w.add(c, at)
}

// advance runs every slot up to tick now, calling fire for each conn whose
// slot came round. The conn is out of the wheel when fire runs; fire puts it
// back when it still has a deadline.
func (w *wheel) advance(now uint32, fire func(*conn)) {
	for w.done != now {
		w.done++
		i := w.done & (wheelSlots - 1)
		head := w.slots[i]
		w.slots[i] = nil
		for c := head; c != nil; {
			next := c.next
			c.prev, c.next, c.queued = nil, nil, false
			if c.at == w.done {
				fire(c)
			} else {
				w.add(c, c.at)
			}
			c = next
		}
	}
	w.next.Store(w.firstDue())
}

// firstDue is the tick of the first non-empty slot after done, or the
// tick one turn of the wheel away when every slot is empty.
func (w *wheel) firstDue() uint32 {
	for t := w.done + 1; t != w.done+wheelSlots; t++ {
		if w.slots[t&(wheelSlots-1)] != nil {
			return t
		}
	}
	return w.done + wheelSlots
}

// each calls f for every conn in the wheel. f may reschedule or close the
// conn it is given, but no other.
func (w *wheel) each(f func(*conn)) {
	var all []*conn
	for _, head := range w.slots {
		for c := head; c != nil; c = c.next {
			all = append(all, c)
		}
	}
	for _, c := range all {
		f(c)
	}
}
