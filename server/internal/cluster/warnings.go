package cluster

import (
	"github.com/wspush/wspush/server/internal/auth"
)

// Warnings are what an operator should know about the trust of a cluster
// on the Redis at redisURL with secret, one sentence each with secrets
// redacted: control messages nobody signs, a Redis without a password
// (in the URL or pw).
func Warnings(redisURL string, pw Passwords, secret string) []string {
	var ws []string
	if secret == "" {
		ws = append(ws, "no --cluster-secret: control messages between nodes (kicks, room changes) are believed from whoever can publish to Redis")
	}
	if t, err := ParseRedis(redisURL, pw); err == nil && !t.HasPassword() {
		ws = append(ws, "--redis "+auth.RedactURL(redisURL)+" has no password (neither in the URL nor --redis-password): whoever reaches that Redis can push to every client and kick any user (docs/security.md)")
	}
	return ws
}
