package cluster

import (
	"context"
	"encoding/json"
	"fmt"
)

// Control messages: the API calls that change connections rather than send
// to them (room membership, kicks) act on this node's connections at once
// and reach the other nodes on one channel that every node subscribes to.

// chControl carries control messages, JSON.
const chControl = "wspush:c"

// control is one control message. Op is what the engine's PostControl
// takes: "join", "leave" or "kick".
type control struct {
	Op    string   `json:"op"`
	Room  string   `json:"room,omitempty"`
	Users []string `json:"users"`
	Node  string   `json:"node"` // the node it came from, which has applied it already
}

// Control publishes a control message to the other nodes: op ("join",
// "leave" or "kick", as the engine's PostControl takes) on the connections
// of users (in room). The caller applies it to this node. When Redis is
// down it is counted and reaches this node only.
func (cl *Cluster) Control(ctx context.Context, op, room string, users []string) error {
	b, _ := json.Marshal(control{Op: op, Room: room, Users: users, Node: cl.node})
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	if !cl.up.Load() {
		cl.unavailable.Add(1)
		return ErrUnavailable
	}
	if err := cl.rdb.Publish(ctx, chControl, b).Err(); err != nil {
		cl.failed(err)
		cl.unavailable.Add(1)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// applyControl acts on a control message from another node. It runs on
// the receiver and does not wait for the loops.
func (cl *Cluster) applyControl(payload string) {
	var m control
	if json.Unmarshal([]byte(payload), &m) != nil || m.Node == cl.node {
		return
	}
	if err := cl.eng.PostControl(m.Op, m.Room, m.Users); err != nil {
		cl.dropped.Add(1)
	}
}
