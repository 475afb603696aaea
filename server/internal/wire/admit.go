package wire

import (
	"encoding/json"
	"net/url"
)

// ConnectFacts are what the connect hook (--connect-hook, docs/webhook.md)
// is told of a connection before its welcome: where it comes from, what
// its upgrade request carried, and who it claims to be.
type ConnectFacts struct {
	Type string `json:"type"` // always "connect.request"
	Node string `json:"node,omitempty"`
	Time int64  `json:"time"` // Unix milliseconds
	// Remote is the TCP peer; IP the client's address as the trusted
	// proxies in front report it (X-Real-IP, X-Forwarded-For), when any.
	Remote string `json:"remote"`
	IP     string `json:"ip,omitempty"`
	// Query is the upgrade's query string, less its token: a credential
	// the hook has no use for, since Claims say what it proved.
	Query url.Values `json:"query"`
	// Headers are the request headers the operator listed
	// (--connect-hook-headers), by their canonical names.
	Headers map[string]string `json:"headers,omitempty"`
	// User is who the connection is before the hook decides: the token's
	// sub, the ?user= of development mode, or empty (no token).
	User string `json:"user,omitempty"`
	// Claims are the verified token's claims, as it carried them.
	Claims json.RawMessage `json:"claims,omitempty"`
}

// Admission is the connect hook's verdict on a connection.
type Admission struct {
	// Refused, with Reason, ends the connection with DisconnectRefused.
	Refused bool
	Reason  string
	// User, when not empty, is who the connection is, over the token's
	// sub or the ?user= of development mode.
	User string
	// Rooms are joined before the welcome, whatever the token allows.
	Rooms []string
	// Meta, a JSON object, goes to the client in its welcome.
	Meta json.RawMessage
	// Perms, when set, replace what the token allows.
	Perms *AdmitPerms
}

// AdmitPerms are what a connection admitted by the hook may do, in the
// form of a token's claims (docs/protocol.md).
type AdmitPerms struct {
	Rooms   []string `json:"rooms"`
	Publish []string `json:"publish"`
	Send    bool     `json:"send"`
	SendTo  []string `json:"send_to"`
}
