package webhook

import "github.com/wspush/wspush/server/internal/auth"

// Warnings are what an operator should know about c's trust, one sentence
// each with secrets redacted: an unsigned webhook.
func (c Config) Warnings() []string {
	if c.URL != "" && c.Secret == "" {
		return []string{"the webhook " + auth.RedactURL(c.URL) + " has no --webhook-secret: the backend cannot tell wspush's events from forged ones"}
	}
	return nil
}
