package wire

// The JSON answers of the HTTP API that the server's parts share
// (docs/api.md).

// PushResult is the answer of POST /v1/push: how many connections the push
// was written to (in a cluster: how many nodes it reached), and which users
// are online and offline.
type PushResult struct {
	Delivered int      `json:"delivered"`
	Online    []string `json:"online"`
	Offline   []string `json:"offline"`
}

// Presence is what the server knows of a user, as GET /v1/users/{user}
// answers it.
type Presence struct {
	User        string `json:"user"`
	Online      bool   `json:"online"`
	Connections int    `json:"connections"` // open now, on every node
}
