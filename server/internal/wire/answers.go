package wire

// The JSON answers of the HTTP API that the server's parts share
// (docs/api.md).

// PushResult is the answer of POST /v1/push: how many connections the push
// was written to (in a cluster: how many nodes it reached), and which users
// are online and offline. In a cluster, Unknown lists the users the
// cluster cannot tell about (Redis has just restarted and not every node
// has said what it holds); with history on they get the push when they
// are connected. Duplicate says the message's id was pushed before, and
// this call sent nothing.
type PushResult struct {
	Delivered int      `json:"delivered"`
	Online    []string `json:"online"`
	Offline   []string `json:"offline"`
	Unknown   []string `json:"unknown,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
}

// Presence is what the server knows of a user, as GET /v1/users/{user}
// answers it.
type Presence struct {
	User        string `json:"user"`
	Online      bool   `json:"online"`
	Connections int    `json:"connections"` // open now, on every node
}
