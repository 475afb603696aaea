// Package auth decides who a connection is and what it may do: JWT
// connection tokens (HS256, sub = user id, rooms/publish/send claims),
// development mode's ?user=, Origin patterns for browsers, and the rules
// for user and room names. It knows no connection and no goroutine.
//
//	a := &auth.Authenticator{Secret: secret}
//	id, err := a.Authenticate(rawQuery, bearer) // err carries the HTTP status
//	if id.Perms.CanJoin("chat:1") { ... }
package auth
