package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Control messages: the API calls that change connections rather than send
// to them (room membership, kicks) act on this node's connections at once
// and reach the other nodes on one channel that every node subscribes to.
//
// Whoever can write to Redis could publish on that channel too, and kick
// any user. With Config.Secret set, a node signs each control message,
// "HEXMAC JSON" with HMAC-SHA256 over the JSON, and the others act only on
// messages whose signature checks; anything else is dropped and counted
// (wspush_cluster_rejected_total).

// chControl carries control messages, JSON.
const chControl = "wspush:c"

// control is one control message. Op is what the engine's PostControl
// takes: "join", "leave" or "kick".
type control struct {
	Op    string   `json:"op"`
	Room  string   `json:"room,omitempty"` // for a kick, the reason the clients read ("" for the table's)
	Users []string `json:"users"`
	Node  string   `json:"node"`          // the node it came from, which has applied it already
	Ask   *ask     `json:"ask,omitempty"` // for "inspect" (inspect.go)
}

// Control publishes a control message to the other nodes: op ("join",
// "leave" or "kick", as the engine's PostControl takes) on the connections
// of users (in room). The caller applies it to this node. When Redis is
// down it is counted and reaches this node only.
func (cl *Cluster) Control(ctx context.Context, op, room string, users []string) error {
	b, _ := json.Marshal(control{Op: op, Room: room, Users: users, Node: cl.node})
	if cl.cfg.Secret != "" {
		b = append([]byte(cl.mac(b)+" "), b...)
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	if !cl.up.Load() {
		cl.unavailable.Add(1)
		return ErrUnavailable
	}
	publish := cl.rdb.Publish
	if cl.lay.sharded() {
		publish = cl.rdb.SPublish
	}
	if err := publish(ctx, cl.lay.controlCh(), b).Err(); err != nil {
		cl.failed(err)
		cl.unavailable.Add(1)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// applyControl acts on a control message from another node. It runs on
// the receiver and does not wait for the loops.
func (cl *Cluster) applyControl(payload string) {
	if cl.cfg.Secret != "" {
		mac, body, ok := strings.Cut(payload, " ")
		if !ok || !hmac.Equal([]byte(mac), []byte(cl.mac([]byte(body)))) {
			cl.reject("control message with a bad signature")
			return
		}
		payload = body
	}
	var m control
	if json.Unmarshal([]byte(payload), &m) != nil {
		cl.reject("control message that is not JSON")
		return
	}
	if m.Node == cl.node {
		return
	}
	switch m.Op {
	case "inspect":
		cl.answerAsk(m.Ask)
		return
	case "join", "leave", "kick":
	default:
		cl.reject("control message with an unknown op")
		return
	}
	if err := cl.eng.PostControl(m.Op, m.Room, m.Users); err != nil {
		cl.dropped.Add(1)
	}
}

// mac is the hex HMAC-SHA256 of b under the cluster's secret.
func (cl *Cluster) mac(b []byte) string {
	m := hmac.New(sha256.New, []byte(cl.cfg.Secret))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// reject counts a message from Redis that is not what a node sends, and
// logs at most one every 10 s.
func (cl *Cluster) reject(what string) {
	n := cl.rejected.Add(1)
	if cl.logDue() {
		cl.log.Warn("cluster: dropped a message from Redis: "+what+"; is something other than wspush writing there? (docs/security.md)",
			"rejected_total", n)
	}
}
