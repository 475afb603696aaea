package server

import (
	"context"
	"encoding/json"
)

// Control messages: the API calls that change connections rather than send
// to them (room membership, kicks) act on this node's connections at once
// and reach the other nodes on one channel that every node subscribes to.

// chControl carries control messages, JSON.
const chControl = "wspush:c"

// Control operations.
const (
	ctlJoin  = "join"
	ctlLeave = "leave"
	ctlKick  = "kick"
)

// control is one control message.
type control struct {
	Op    string   `json:"op"`
	Room  string   `json:"room,omitempty"`
	Users []string `json:"users"`
	Node  string   `json:"node"` // the node it came from, which has applied it already
}

// control publishes m to the other nodes. When Redis is down it is counted
// and reaches this node only.
func (cl *cluster) control(ctx context.Context, m control) {
	m.Node = cl.node
	b, _ := json.Marshal(m)
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	if !cl.up.Load() {
		cl.localOnly.Add(1)
		return
	}
	if err := cl.rdb.Publish(ctx, chControl, b).Err(); err != nil {
		cl.failed(err)
		cl.localOnly.Add(1)
	}
}

// applyControl acts on a control message from another node. It runs on
// the cluster's goroutine and does not wait for the loops.
func (cl *cluster) applyControl(payload string) {
	var m control
	if json.Unmarshal([]byte(payload), &m) != nil || m.Node == cl.node {
		return
	}
	s := cl.s
	switch m.Op {
	case ctlJoin:
		_, _ = s.addToRoom(m.Room, m.Users, noWait)
	case ctlLeave:
		_, _ = s.removeFromRoom(m.Room, m.Users, noWait)
	case ctlKick:
		for _, u := range m.Users {
			_, _ = s.kick(u, noWait)
		}
	}
}
