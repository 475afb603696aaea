package engine

import (
	"context"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// UsersMessage is one message of DeliverUsersBatch: DeliverUsers's
// arguments.
type UsersMessage struct {
	Users []string
	Frame []byte
	Pos   history.Pos
	Keep  func(online, offline []string)
}

// DeliverUsersBatch is DeliverUsers for n messages, msg(i) being the i-th:
// every message is handed to the loops before the first is waited for, so
// that the batch costs one wait, not one per message. Each message is
// looked up and kept (Keep) before its jobs are posted, and its jobs go
// behind those of the messages before it, in every loop's FIFO outbox:
// messages to one user arrive in the order of the batch. msg is called in
// order, once per message. Each message has its own delivery and error: a
// full outbox refuses the message it met (ErrBusy), not the others; when
// ctx ends, the messages not yet written get its error.
func (s *Engine) DeliverUsersBatch(ctx context.Context, n int, msg func(i int) UsersMessage) ([]wire.Delivery, []error) {
	loops := s.loopList()
	ds, errs := make([]wire.Delivery, n), make([]error, n)
	done, pending := make([]chan int, n), make([]int, n)
	for i := range n {
		m := msg(i)
		byShard, online, offline := s.membersOf(m.Users)
		if m.Keep != nil {
			m.Keep(online, offline)
		}
		ds[i] = wire.Delivery{Online: online, Offline: offline}
		if len(online) == 0 {
			continue
		}
		done[i] = make(chan int, len(loops))
		var z *shared
		for _, l := range loops {
			if len(byShard[l.idx]) == 0 {
				continue
			}
			z = s.share(m.Frame, z)
			if l.post(job{frame: m.Frame, members: byShard[l.idx], pos: m.Pos, z: z, done: done[i]}) {
				pending[i]++
			} else if !s.draining.Load() {
				errs[i] = ErrBusy
			}
		}
	}
	for i := range n {
		for ; pending[i] > 0; pending[i]-- {
			select {
			case k := <-done[i]:
				ds[i].Delivered += k
			case <-ctx.Done():
				for ; i < n; i++ {
					if pending[i] > 0 && errs[i] == nil {
						errs[i] = ctx.Err()
					}
				}
				return ds, errs
			}
		}
	}
	return ds, errs
}
