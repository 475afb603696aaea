// Package presence decides when a user counts as offline: not when its
// last connection closes, but Config.Grace later, so that an app switch
// (a mini-program loses its socket about 5 s after it goes to the
// background) does not flap presence or fire offline events.
//
// A Tracker keeps the users within their grace on one due-ordered list;
// its lock is held for one list operation, and expiry looks only at users
// whose grace has passed, never at all of them. The caller brings the
// time: the history's "recent users" is a Tracker.
//
// A Grace is a Tracker with its own clock: one goroutine that ticks every
// Config.Tick and hands the users whose grace passed to Config.Expired in
// one call (the webhook's offline events). It serves every reader of the
// offline grace: GET /v1/users/{user} (Within), the webhook and, in a
// cluster, the node's answer while Redis is down. Tests pass Config.Now
// and call Expire by hand instead of Start.
//
//	g := presence.NewGrace(presence.Config{Grace: 30 * time.Second,
//		Expired: func(users []string, due []time.Time) { /* offline */ }})
//	g.Start()
//	defer g.Close()
//	g.Left("alice") // her last connection closed
//	g.Back("alice") // she is back within the grace: no offline
package presence
