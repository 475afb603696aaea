package server

import (
	"net/netip"

	"github.com/wspush/wspush/server/internal/api"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/webhook"
	"github.com/wspush/wspush/server/internal/wire"
)

// Names of the server's parts that its users (main, embedders, the SDK's
// tests) rely on, kept under package server.

// Disconnect is why the server closes a connection on purpose: the one
// table that docs/protocol.md and the JavaScript SDK mirror.
type Disconnect = wire.Disconnect

// Disconnects lists every Disconnect, in code order.
var Disconnects = wire.Disconnects

// CloseReason records why a connection ended.
type CloseReason = wire.CloseReason

// WebhookConfig configures the events sent to the backend
// (docs/webhook.md). The zero value sends none.
type WebhookConfig = webhook.Config

// Webhook names and defaults (docs/webhook.md).
const (
	EventConnect             = webhook.EventConnect
	EventDisconnect          = webhook.EventDisconnect
	EventPublish             = webhook.EventPublish
	EventSend                = webhook.EventSend
	EventBinary              = webhook.EventBinary
	EventOffline             = webhook.EventOffline
	WebhookSignatureHeader   = webhook.SignatureHeader
	DefaultWebhookQueue      = webhook.DefaultQueue
	DefaultWebhookQueueBytes = webhook.DefaultQueueBytes
	DefaultWebhookBatch      = webhook.DefaultBatch
	DefaultWebhookDelay      = webhook.DefaultDelay
	DefaultWebhookTimeout    = webhook.DefaultTimeout
	DefaultWebhookRetries    = webhook.DefaultRetries
)

// DefaultWebhookEvents are the kinds sent when WebhookConfig.Events is empty.
var DefaultWebhookEvents = webhook.DefaultEvents

// WebhookTimestampHeader carries the Unix time in seconds at which a
// signed request was sent; it is part of what is signed.
const WebhookTimestampHeader = webhook.TimestampHeader

// Sign returns the lowercase hex HMAC-SHA256 under secret of timestamp, a
// dot and body: what a backend compares, in constant time, with the
// WebhookSignatureHeader after its "sha256=" prefix (docs/webhook.md).
func Sign(secret []byte, timestamp string, body []byte) string {
	return webhook.Sign(secret, timestamp, body)
}

// RedactURL hides what a URL may carry as a secret: the password of its
// userinfo and the values of its query.
func RedactURL(s string) string { return auth.RedactURL(s) }

// ParseProxies parses a comma-separated list of CIDRs or addresses, for
// --trusted-proxies. An empty string is an empty, non-nil list: no proxy
// is trusted.
func ParseProxies(v string) ([]netip.Prefix, error) { return auth.ParseProxies(v) }

// Auth modes, as Stats.Auth and /healthz report them.
const (
	AuthJWT         = auth.ModeJWT         // every connection proves its user with a token
	AuthDevelopment = auth.ModeDevelopment // connections name their user with ?user=
	AuthEcho        = auth.ModeEcho        // echo mode: no users at all
)

// Claims are the JWT claims wspush reads (docs/protocol.md): sub is the
// user id; rooms, publish and send say what the user may do.
type Claims = auth.Claims

// Limits of the HTTP API (docs/api.md).
const (
	// MaxAPIBody caps a request body; a larger one gets 413.
	MaxAPIBody = api.MaxAPIBody
	// MaxPushUsers caps the users of one push or room membership call.
	MaxPushUsers = api.MaxPushUsers
	// APITimeout bounds how long a call waits for the event loops.
	APITimeout = api.APITimeout
)
