// Package presence decides when a user counts as offline: not when its
// last connection closes, but Config.OfflineGrace later, so that an app
// switch (a mini-program loses its socket about 5 s after it goes to the
// background) does not flap presence or fire offline events.
//
// One Tracker, on one due-ordered list, serves every reader of that
// grace: GET /v1/users/{user} (Within), the webhook's offline events
// (the expiry callback) and, in a cluster, the node's answer while Redis
// is down. Its lock is held for one list operation; expiry looks only at
// users whose grace has passed, never at all of them.
//
//	t := presence.New(30*time.Second, func(user string, due time.Time) { /* offline */ })
//	t.Left("alice", time.Now()) // her last connection closed
//	t.Back("alice")             // she is back within the grace: no offline
package presence
