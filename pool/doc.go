// Package pool is the registry of a push server: connections by id, users
// to their connections (a user may have several: phone and PC), and rooms
// to their members. It knows nothing of sockets, gnet or HTTP.
//
// Connections live in shards, one per event loop of the server. A shard's
// lists (all its members, each room's members) are touched only by the
// goroutine that owns the shard, so a fan-out walks them without a lock.
// The directories that any goroutine may consult (users, rooms, ids) are
// split into hash shards, each with its own mutex, held only for a map
// operation and never across a write to a connection.
//
//	p := pool.New(pool.Config{Shards: loops})
//	m := &pool.Member{Conn: c, User: "alice"}
//	p.Add(m, loopIndex)            // on loop loopIndex
//	p.Join(m, "chat:1")            // on m's loop
//	r := p.Room("chat:1")          // on any goroutine
//	for i := range p.Shards() {
//		if r.On(i) > 0 { /* on loop i: */ p.Shard(i).EachInRoom("chat:1", send) }
//	}
//
// An idle connection that is in no room costs its Member (about 100 bytes
// with the user name) plus one entry in the id and the user directories.
package pool
