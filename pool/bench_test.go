package pool_test

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/wspush/wspush/pool"
)

// benchShards is the number of shards of the benchmarks' pools, a
// typical count of event loops.
const benchShards = 4

// populated returns a pool with n members on benchShards shards, each of
// a user of its own, in no room.
func populated(n int) *pool.Pool {
	p := pool.New(pool.Config{Shards: benchShards})
	for i := range n {
		p.Add(member("bg"+strconv.Itoa(i)), i%benchShards)
	}
	return p
}

func BenchmarkAddRemove(b *testing.B) {
	// Members are allocated up front and reused, so that what is measured
	// is the pool's work; a ring of them keeps the user names fresh.
	const ring = 1 << 14
	b.Run("new-user", func(b *testing.B) {
		p := populated(10000)
		ms := make([]pool.Member, ring)
		for i := range ms {
			ms[i] = pool.Member{Conn: nopConn{}, User: "anon:" + strconv.Itoa(i)}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m := &ms[i%ring]
			p.Add(m, i%benchShards)
			p.Remove(m)
			i++
		}
	})
	b.Run("second-conn", func(b *testing.B) {
		p := populated(10000)
		p.Add(member("alice"), 0)
		m := member("alice")
		b.ReportAllocs()
		for b.Loop() {
			p.Add(m, 1)
			p.Remove(m)
		}
	})
}

func BenchmarkJoinLeave(b *testing.B) {
	b.Run("populated-room", func(b *testing.B) {
		p := populated(10000)
		p.Shard(0).Each(func(m *pool.Member) { p.Join(m, "chat") })
		m := member("alice")
		p.Add(m, 0)
		b.ReportAllocs()
		for b.Loop() {
			p.Join(m, "chat")
			p.Leave(m, "chat")
		}
	})
	// The member is alone in the room: each Join makes the room's entries
	// on the shard and in the directory, and each Leave deletes them.
	b.Run("new-room", func(b *testing.B) {
		p := populated(10000)
		m := member("alice")
		p.Add(m, 0)
		b.ReportAllocs()
		for b.Loop() {
			p.Join(m, "chat")
			p.Leave(m, "chat")
		}
	})
	// The member is in 8 rooms already, so Join and Leave walk its list.
	b.Run("ninth-room", func(b *testing.B) {
		p := populated(10000)
		p.Shard(0).Each(func(m *pool.Member) { p.Join(m, "chat") })
		m := member("alice")
		p.Add(m, 0)
		for i := range 8 {
			p.Join(m, "r"+strconv.Itoa(i))
		}
		b.ReportAllocs()
		for b.Loop() {
			p.Join(m, "chat")
			p.Leave(m, "chat")
		}
	})
}

func BenchmarkEachInRoom(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			// All in one shard, as seen from the loop that walks it, among
			// as many members that are not in the room.
			p := pool.New(pool.Config{})
			for i := range 2 * n {
				m := member("u" + strconv.Itoa(i))
				p.Add(m, 0)
				if i%2 == 0 {
					p.Join(m, "chat")
				}
			}
			s := p.Shard(0)
			frame := []byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}
			visited := 0
			b.ReportAllocs()
			for b.Loop() {
				s.EachInRoom("chat", func(m *pool.Member) {
					m.Conn.Send(frame)
					visited++
				})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(visited), "ns/member")
		})
	}
}

func BenchmarkUserLookup(b *testing.B) {
	p := populated(100000)
	p.Add(member("alice"), 0)
	p.Add(member("alice"), 1)
	p.Add(member("bob"), 2)
	p.Shard(0).Each(func(m *pool.Member) { p.Join(m, "chat") })

	b.Run("User", func(b *testing.B) {
		buf := make([]*pool.Member, 0, 4)
		b.ReportAllocs()
		for b.Loop() {
			buf = p.User("alice", buf[:0])
		}
	})
	b.Run("UserConns", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.UserConns("alice")
		}
	})
	b.Run("Room", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Room("chat")
		}
	})
	// Every goroutine asks for users of its own, as the push API's
	// handlers would: the directory's hash shards keep them apart.
	b.Run("User-parallel", func(b *testing.B) {
		names := make([]string, 1024)
		for i := range names {
			names[i] = "bg" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]*pool.Member, 0, 4)
			i := 0
			for pb.Next() {
				buf = p.User(names[i%len(names)], buf[:0])
				i++
			}
		})
	})
}

// heapAlloc returns the bytes of live heap after a full collection.
func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memoryPerMember adds n members to a new pool, each with a user of its
// own as anonymous connections have, then, if room is not empty, puts
// every one in it. It returns the heap bytes per member before the Joins
// and per membership that the Joins added. The Member, its user name and
// the directory entries count; nothing of the test's does, since it keeps
// no reference to the members but the pool's.
func memoryPerMember(n int, room string) (perMember, perMembership float64) {
	base := heapAlloc()
	p := pool.New(pool.Config{Shards: benchShards})
	for i := range n {
		p.Add(&pool.Member{Conn: nopConn{}, User: "anon:" + strconv.Itoa(i)}, i%benchShards)
	}
	added := heapAlloc()
	perMember = float64(added-base) / float64(n)
	if room != "" {
		for i := range benchShards {
			p.Shard(i).Each(func(m *pool.Member) { p.Join(m, room) })
		}
		perMembership = float64(heapAlloc()-added) / float64(n)
	}
	runtime.KeepAlive(p)
	return perMember, perMembership
}

// BenchmarkMemoryPerMember reports the heap an idle connection costs the
// pool, and what being in a room adds. Its ns/op is that of building the
// pool and is not the figure to quote.
func BenchmarkMemoryPerMember(b *testing.B) {
	const n = 100000
	b.Run("idle", func(b *testing.B) {
		var per float64
		for b.Loop() {
			per, _ = memoryPerMember(n, "")
		}
		b.ReportMetric(per, "heap-B/member")
	})
	b.Run("one-room", func(b *testing.B) {
		var per, room float64
		for b.Loop() {
			per, room = memoryPerMember(n, "chat")
		}
		b.ReportMetric(per, "heap-B/member")
		b.ReportMetric(room, "heap-B/membership")
	})
}

// The idle cost measured with Go 1.26 on amd64 is 170 B: the Member (88
// B, in the 96 B size class), its user name (16 B), its id directory
// entry (22 B: 16 B slots and a control byte each, at 100,000 members
// over 64 maps of 2,048 slots) and its user directory entry (33 B, 24 B
// slots). A membership is 48 B, one allocation of exactly its size. The budget leaves room for the maps' load factor at other
// counts, and fails if a Member or a membership grows a size class.
func TestMemoryPerMemberWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("adds 100,000 members")
	}
	const (
		memberBudget     = 200
		membershipBudget = 64
	)
	perMember, perMembership := memoryPerMember(100000, "chat")
	t.Logf("%.1f heap-B/member idle, %.1f heap-B/membership", perMember, perMembership)
	if perMember > memberBudget {
		t.Errorf("an idle member costs %.1f heap bytes, budget %d", perMember, memberBudget)
	}
	if perMembership > membershipBudget {
		t.Errorf("a membership costs %.1f heap bytes, budget %d", perMembership, membershipBudget)
	}
}
