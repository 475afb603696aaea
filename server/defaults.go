package server

import "slices"

// Defaults of settings that New leaves as they are, because their zero
// value means something of its own, but that wspush serve sets.
const (
	// DefaultAPIAddr is serve's HTTP API listener: loopback, where the API
	// needs no key. A zero Config.APIAddr means no API at all.
	DefaultAPIAddr = "127.0.0.1:8081"
	// DefaultTrustedProxies are the proxies a nil Config.TrustedProxies
	// trusts, as --trusted-proxies writes them: one on the same host.
	DefaultTrustedProxies = "127.0.0.0/8,::1/128"
)

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
	c.TrustedProxies, _ = ParseProxies(DefaultTrustedProxies)
	w := &c.Webhook
	w.Events = slices.Clone(DefaultWebhookEvents)
	w.Queue, w.QueueBytes, w.Batch = DefaultWebhookQueue, DefaultWebhookQueueBytes, DefaultWebhookBatch
	w.Delay, w.Timeout, w.Retries = DefaultWebhookDelay, DefaultWebhookTimeout, DefaultWebhookRetries
	return c
}
