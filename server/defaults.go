package server

import (
	"slices"

	"github.com/wspush/wspush/server/internal/engine"
)

// DefaultAPIAddr is serve's HTTP API listener: loopback, where the API
// needs no key. A zero Config.APIAddr means no API at all; New leaves it so.
const DefaultAPIAddr = "127.0.0.1:8081"

// Defaults returns the Config that New runs a zero Config with: every
// field that has a default holds it, as New and the parts it starts fill
// it in (the engine, the HTTP API, the webhook). Commands take their
// flags' defaults from it, so that the defaults live in one place.
//
// Three fields stay zero, because New derives them from the rest of the
// configuration when it starts: MaxConns and APIMaxConns (from the
// open-files limit and what else holds descriptors: DerivedMaxConns,
// DefaultAPIMaxConns) and MaxData (half of MaxMessage). APIAddr stays
// empty (no API; serve's default is DefaultAPIAddr), and so does every
// field whose zero means "none" or "off". Logger stays nil.
//
// Each call returns a new Config: its slices are the caller's.
func Defaults() Config {
	c := Config{}.withDefaults()
	// Derived by New from the rest, or set by New from other fields.
	c.MaxConns, c.MaxData, c.Logger, c.Auth = 0, 0, nil, nil
	// A nil list means loopback; Defaults spells it out so that it prints.
	c.TrustedProxies = engine.LoopbackProxies()
	// The webhook fills its own when it starts; an empty list of events
	// means the default ones.
	c.Webhook = c.Webhook.WithDefaults()
	c.Webhook.Events = slices.Clone(DefaultWebhookEvents)
	return c
}
