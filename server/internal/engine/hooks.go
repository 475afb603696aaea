package engine

import "net"

// Conn names a client connection to the rest of the server: its id (the
// "c1" of its welcome) and its user. It is a value: nothing outside the
// engine ever holds a connection.
type Conn struct {
	ID   uint64
	User string
}

// Hooks is what the engine tells the rest of the server about its clients,
// and the work it hands on: presence, the webhook's events, the cluster's
// subscriptions, client publishes and sends. Every method is called on an
// event loop and must return at once: queue, never wait. Byte slices alias
// the loop's inbound buffer and are valid only during the call.
type Hooks interface {
	// Connected: c has just been upgraded and is in the pool. remote is
	// its peer, ip the X-Real-IP a proxy in front set, if any.
	Connected(c Conn, remote net.Addr, ip string)
	// Joined: a connection joined room, maybe as its first member here.
	Joined(room string)
	// Member: user's membership of room here changed: its first
	// connection joined room, or its last left it (Roster says which).
	Member(room, user string)
	// Leaving: a connection of user is about to leave the pool. It comes
	// while the connection is still in it, so that nothing ever sees the
	// user neither connected nor told of as leaving (the history keeps a
	// user's messages on either).
	Leaving(user string)
	// Left: a connection of user left the pool; last when it was the
	// user's last connection here.
	Left(user string, last bool)
	// Disconnected: c has closed, for reason (a wire.CloseReason's name).
	Disconnected(c Conn, reason string, last bool)
	// Publish: c publishes data (JSON) to room. An error refuses it: the
	// client gets an error reply saying so.
	Publish(c Conn, room string, data []byte) error
	// Send: c sends data (JSON) to the connections of user to; with
	// webhookOnly, to the webhook alone (ClientSends is SendsWebhook).
	Send(c Conn, to string, data []byte, webhookOnly bool) error
	// Binary: c sent a binary message, opaque to the protocol.
	Binary(c Conn, data []byte)
	// Received: c acknowledges the pushes whose receipt keys are keys
	// (receipts.go); keys are valid only during the call.
	Received(c Conn, keys []string)
}

// nopHooks is the Hooks of an engine nobody listens to: client publishes
// and sends go nowhere.
type nopHooks struct{}

func (nopHooks) Connected(Conn, net.Addr, string)      {}
func (nopHooks) Joined(string)                         {}
func (nopHooks) Member(string, string)                 {}
func (nopHooks) Leaving(string)                        {}
func (nopHooks) Left(string, bool)                     {}
func (nopHooks) Disconnected(Conn, string, bool)       {}
func (nopHooks) Publish(Conn, string, []byte) error    { return nil }
func (nopHooks) Send(Conn, string, []byte, bool) error { return nil }
func (nopHooks) Binary(Conn, []byte)                   {}
func (nopHooks) Received(Conn, []string)               {}
