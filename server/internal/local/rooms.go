package local

import (
	"context"

	"github.com/wspush/wspush/server/internal/wire"
)

// Member needs nothing: the engine's roster is the single node's record
// of who is in which room.
func (b *Broker) Member(string, string) {}

// RoomMembers pages through room's users on this node (the engine's
// roster): up to limit after after, in name order.
func (b *Broker) RoomMembers(_ context.Context, room, after string, limit int) (wire.RoomPage, error) {
	users, n, more := b.eng.Roster().Members(room, after, limit)
	pg := wire.RoomPage{Room: room, Users: n, Members: users}
	if more {
		pg.Next = users[len(users)-1]
	}
	return pg, nil
}

// RoomList pages through the rooms with users on this node.
func (b *Broker) RoomList(_ context.Context, after string, limit int) (wire.RoomsPage, error) {
	rooms, _, more := b.eng.Roster().Rooms(after, limit)
	pg := wire.RoomsPage{Rooms: make([]wire.RoomCount, len(rooms))}
	for i, rc := range rooms {
		pg.Rooms[i] = wire.RoomCount{Room: rc.Room, Users: rc.Users}
	}
	if more {
		pg.Next = rooms[len(rooms)-1].Room
	}
	return pg, nil
}
