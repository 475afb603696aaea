package roster

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
)

func TestAddRemoveCountsUsersNotConnections(t *testing.T) {
	r := New()
	if !r.Add("chat", "alice") || r.Add("chat", "alice") || !r.Add("chat", "bob") {
		t.Fatal("Add: first connections of a user are firsts, the second is not")
	}
	if n := r.Count("chat"); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
	if r.Remove("chat", "alice") || !r.Has("chat", "alice") {
		t.Fatal("alice's second connection is still there")
	}
	if !r.Remove("chat", "alice") || r.Has("chat", "alice") || r.Remove("chat", "alice") {
		t.Fatal("alice's last connection left")
	}
	if !r.Remove("chat", "bob") || r.Count("chat") != 0 {
		t.Fatal("bob left")
	}
	if rooms, total, _ := r.Rooms("", 10); len(rooms) != 0 || total != 0 {
		t.Fatalf("an empty room is listed: %v %d", rooms, total)
	}
	if r.Remove("nowhere", "x") {
		t.Fatal("removed from a room that does not exist")
	}
	if rooms, m := r.Stats(); rooms != 0 || m != 0 {
		t.Fatalf("stats %d %d", rooms, m)
	}
}

// Paging goes through every user once, in name order, whatever the page
// size, and a user who joins or leaves behind the cursor changes nothing
// for those still to come.
func TestMembersPagesThroughEveryUserOnce(t *testing.T) {
	r := New()
	var want []string
	for i := range 1000 {
		u := fmt.Sprintf("u%04d", (i*7919)%1000) // joined out of order
		r.Add("big", u)
		want = append(want, u)
	}
	slices.Sort(want)
	for _, limit := range []int{1, 7, 100, 1000, 5000} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			users, count, more := r.Members("big", after, limit)
			if count != 1000 || len(users) > limit {
				t.Fatalf("limit %d: count %d, page of %d", limit, count, len(users))
			}
			got = append(got, users...)
			if !more {
				break
			}
			after = users[len(users)-1]
			if pages == 0 {
				// Churn behind the cursor.
				r.Remove("big", users[0])
				r.Add("big", "a-new-one")
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: %d users, first %v, want %d", limit, len(got), got[:min(3, len(got))], len(want))
		}
		// Undo the churn for the next page size.
		r.Add("big", want[0])
		r.Remove("big", "a-new-one")
	}
	if users, _, more := r.Members("none", "", 10); len(users) != 0 || more {
		t.Fatal("a room that does not exist has members")
	}
}

func TestRoomsPagesWithCounts(t *testing.T) {
	r := New()
	for i := range 50 {
		room := "room" + strconv.Itoa(100+i)
		for j := range i + 1 {
			r.Add(room, "u"+strconv.Itoa(j))
		}
	}
	var got []RoomCount
	after := ""
	for {
		rooms, total, more := r.Rooms(after, 8)
		if total != 50 {
			t.Fatalf("total %d", total)
		}
		got = append(got, rooms...)
		if !more {
			break
		}
		after = rooms[len(rooms)-1].Room
	}
	if len(got) != 50 {
		t.Fatalf("%d rooms", len(got))
	}
	for i, rc := range got {
		if rc.Room != "room"+strconv.Itoa(100+i) || rc.Users != i+1 {
			t.Fatalf("room %d: %+v", i, rc)
		}
	}
	n := 0
	r.Each(func(room string, users []string) { n += len(users) })
	if _, m := r.Stats(); n != 50*51/2 || m != int64(n) {
		t.Fatalf("Each saw %d memberships, stats %d", n, m)
	}
}

// Loops add and remove at once while readers page: run with -race.
func TestConcurrentAddRemoveAndPages(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for l := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				u := "u" + strconv.Itoa(l*10000+i)
				r.Add("chat", u)
				r.Add("room"+strconv.Itoa(i%10), u)
				if i%2 == 0 {
					r.Remove("chat", u)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			r.Members("chat", "u1", 50)
			r.Rooms("", 5)
		}
	}()
	wg.Wait()
	if n := r.Count("chat"); n != 4000 {
		t.Fatalf("chat has %d users, want 4000", n)
	}
}

// BenchmarkMembersPage reads a page of 100 of a room of 100,000 users, in
// the middle of the room: a descent and the page, whatever the room's
// size.
func BenchmarkMembersPage(b *testing.B) {
	for _, size := range []int{1000, 100000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			r := New()
			for i := range size {
				r.Add("big", "user-"+strconv.Itoa(i))
			}
			after := "user-" + strconv.Itoa(size/2)
			b.ReportAllocs()
			for b.Loop() {
				if users, _, _ := r.Members("big", after, 100); len(users) != 100 {
					b.Fatal(len(users))
				}
			}
		})
	}
}

// BenchmarkAddRemove is what a join and a leave cost a loop in a room of
// 100,000 users.
func BenchmarkAddRemove(b *testing.B) {
	r := New()
	for i := range 100000 {
		r.Add("big", "user-"+strconv.Itoa(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Add("big", "newcomer")
		r.Remove("big", "newcomer")
	}
}

// BenchmarkMemoryPerMembership reports the heap one (room, user) entry
// costs: 100,000 users in one room, their names included (the roster
// keeps its own copies).
func BenchmarkMemoryPerMembership(b *testing.B) {
	const n = 100000
	names := make([]string, n)
	for i := range names {
		names[i] = "user-" + strconv.Itoa(i)
	}
	var per float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := New()
		for _, u := range names {
			r.Add("big", u)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(r)
	}
	b.ReportMetric(per, "heap-B/membership")
}
