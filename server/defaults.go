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
	var c Config
	e := c.engine().WithDefaults()
	c = c.withDefaults()
	c.MaxConns, c.MaxData, c.Logger = 0, 0, nil
	// What the engine fills in but the facade does not keep in its Config.
	c.SendBuffer, c.MaxUserConns, c.ClientSends = e.SendBuffer, e.MaxUserConns, e.ClientSends
	c.APIReadTimeout = DefaultAPIReadTimeout
	// A nil list means loopback; Defaults spells it out so that it prints.
	c.TrustedProxies, _ = ParseProxies(DefaultTrustedProxies)
	w := &c.Webhook
	w.Events = slices.Clone(DefaultWebhookEvents)
	w.Queue, w.QueueBytes, w.Batch = DefaultWebhookQueue, DefaultWebhookQueueBytes, DefaultWebhookBatch
	w.Delay, w.Timeout, w.Retries = DefaultWebhookDelay, DefaultWebhookTimeout, DefaultWebhookRetries
	return c
}

// DerivedMaxConns is the connection cap New derives for c when
// c.MaxConns is zero: the open-files limit less a reserve, within the
// WebSocket share of the descriptor budget (fdbudget.go) that c's API,
// webhook and Redis leave. It builds nothing, so --check-config can print
// it without starting a server.
func (c Config) DerivedMaxConns() int { return c.defaultMaxConns() }
