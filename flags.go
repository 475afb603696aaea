package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wspush/wspush/server"
)

// serveFlags holds the serve command's settings and the flags that set
// them, in the groups the help shows.
type serveFlags struct {
	cfg       server.Config
	logFormat string
	logLevel  string

	config      string // --config: the YAML file applied before env and flags (config.go)
	checkConfig bool   // --check-config: validate, print the effective configuration, exit

	fs     *flag.FlagSet
	groups []flagGroup
}

// flagGroup is one heading of serve's help and the flags under it.
type flagGroup struct {
	title string
	names []string
}

// group starts a heading: the flags defined next go under it.
func (f *serveFlags) group(title string) {
	f.groups = append(f.groups, flagGroup{title: title})
}

// def defines a flag under the current heading. Its default is what v
// holds now: the field's value in server.Defaults().
func (f *serveFlags) def(v flag.Value, name, usage string) {
	f.fs.Var(v, name, usage)
	g := &f.groups[len(f.groups)-1]
	g.names = append(g.names, name)
}

// newServeFlags defines serve's flags over server.Defaults(). A usage may
// begin with its value's placeholder in backquotes; the others get one
// from their type (help.go).
func newServeFlags() *serveFlags {
	f := &serveFlags{cfg: server.Defaults(), logFormat: defaultLogFormat, logLevel: defaultLogLevel}
	f.cfg.APIAddr = server.DefaultAPIAddr
	f.fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	// The help and the one-line errors are ours (help.go).
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	c := &f.cfg

	f.group("Listeners")
	f.def(stringValue{&c.Addr}, "addr", "`HOST:PORT` WebSocket listener, endpoint "+server.Path+"; off loopback it needs --jwt-secret or --insecure")
	f.def(stringValue{&c.APIAddr}, "api-addr", "`HOST:PORT` HTTP API for the backend, /metrics, /healthz; empty: none")
	f.def(boolValue{&c.Echo}, "echo", "echo every data message back; no client protocol")
	f.def(intValue{&c.Loops}, "loops", "event loops; by default one per CPU this process may use")

	f.group("Authentication and trust")
	f.def(stringValue{&c.JWTSecret}, "jwt-secret", "`SECRET` HS256 key, 32 bytes or more: connections need a token (sub = user). None: development mode, ?user= is trusted")
	f.def(stringValue{&c.JWTAudience}, "jwt-audience", "`AUD` when set, a token's aud must include it")
	f.def(stringValue{&c.JWTIssuer}, "jwt-issuer", "`ISS` when set, a token's iss must be it")
	f.def(boolValue{&c.JWTRequireExp}, "jwt-require-exp", "refuse tokens without an exp claim")
	f.def(boolValue{&c.Insecure}, "insecure", "allow development mode on a non-loopback --addr")
	f.def(stringValue{&c.APIKey}, "api-key", "`KEY` bearer key the HTTP API requires; needed off loopback")
	f.def(listValue{&c.Origins}, "origins", "`PATTERNS` Origins allowed for browsers, e.g. https://*.example.com; empty: any")
	f.def(proxiesValue{&c.TrustedProxies}, "trusted-proxies", "`CIDRS` proxies whose X-Forwarded-For and X-Real-IP are believed; empty: none")
	f.def(stringValue{&c.ClientSends}, "client-sends", "`on|off|webhook` a client's send to another user: delivered (as its token allows), refused, or to the webhook only")

	cc := &c.Console
	f.group("Operator console (/console/ on --api-addr)")
	f.def(notFlag{&cc.Off}, "console", "serve the operator console on the API listener; --console=false: none")
	f.def(stringValue{&cc.Key}, "console-key", "`KEY` logs in to the console as an admin, besides --api-key")
	f.def(stringValue{&cc.ReadonlyKey}, "console-readonly-key", "`KEY` logs in as a viewer: no push, publish, kick, nor payloads")
	f.def(stringValue{&cc.UsersFile}, "console-users", "`FILE` named operators, NAME ROLE BCRYPT-HASH a line (wspush hash-password)")

	f.group("Limits")
	f.def(intValue{&c.MaxConns}, "max-conns", "upgraded connections; past it, 503; 0: from the open-files limit")
	f.def(intValue{&c.MaxUserConns}, "max-user-conns", "connections per user on this node; one more replaces the oldest (4504); -1: no cap")
	f.def(sizeValue[int]{&c.MaxMessage}, "max-message", "largest inbound message, inflated; larger closes with 1009")
	f.def(intValue{&c.MaxRate}, "max-rate", "messages a second per client (burst: twice); past it, disconnected; -1: no cap")
	f.def(sizeValue[int]{&c.MaxPending}, "max-pending", "outbound bytes queued per connection; past it, closed as too slow")
	f.def(intValue{&c.MaxQueue}, "max-queue", "fan-out jobs waiting per event loop; past it, refused (API: 503 busy)")
	f.def(sizeValue[int]{&c.SendBuffer}, "send-buffer", "kernel send buffer (SO_SNDBUF) per connection; -1: autotuning, up to 4MiB")
	f.def(intValue{&c.APIBatchMessages}, "api-batch-messages", "messages in one POST /v1/push/batch; past it, 413")
	f.def(sizeValue[int]{&c.APIBatchBytes}, "api-batch-bytes", "body of one POST /v1/push/batch; past it, 413")
	f.def(intValue{&c.MaxReceipts}, "max-receipts", "delivery receipts pending at once (one per user of a push); past it the push is refused, 503")
	f.def(durationValue{&c.ReceiptMaxTimeout}, "receipt-max-timeout", "longest receipt timeout a push may ask for; longer: 400")
	f.def(intValue{&c.APIMaxConns}, "api-max-conns", "open API connections; past it the oldest idle one closes, or 503; 0: from the open-files limit")

	f.group("Timeouts")
	f.def(durationValue{&c.HandshakeTimeout}, "handshake-timeout", "close a connection whose upgrade is not done by then")
	f.def(durationValue{&c.PingInterval}, "ping-interval", "ping a connection silent this long")
	f.def(durationValue{&c.IdleTimeout}, "idle-timeout", "close a connection that sent no frame for this long")
	f.def(durationValue{&c.APIReadTimeout}, "api-read-timeout", "time to read one API request, head and body")
	f.def(durationValue{&c.DrainSpread}, "drain-spread", "at shutdown, clients wait a random delay below it to reconnect; 0: none")

	f.group("Compression")
	f.def(notFlag{&c.NoCompression}, "compression", "offer permessage-deflate (RFC 7692); --compression=false: off")
	f.def(sizeValue[int]{&c.CompressionThreshold}, "compression-threshold", "smallest payload sent compressed; smaller ones go plain")

	f.group("Cluster")
	f.def(stringValue{&c.Redis}, "redis", "`URL` redis://host:port/db, redis+sentinel://HOST:PORT,.../MASTER for Sentinel, or redis+cluster://HOST:PORT,... for Redis Cluster: join the nodes sharing that Redis; empty: one node")
	f.def(stringValue{&c.RedisPassword}, "redis-password", "`PASSWORD` the Redis primary's password, when not in the --redis URL")
	f.def(stringValue{&c.RedisSentinelPassword}, "redis-sentinel-password", "`PASSWORD` the Sentinels' password (redis+sentinel://)")
	f.def(intValue{&c.RedisReplicas}, "redis-replicas", "API pushes wait until this many replicas have them (WAIT) before a 200; fewer: 503; 0: no wait")
	f.def(stringValue{&c.ClusterSecret}, "cluster-secret", "`SECRET` signs control messages between nodes, the same on each")

	f.group("History and presence")
	f.def(intValue{&c.HistorySize}, "history-size", "messages kept per user and per room, for clients that resume; 0: none")
	f.def(durationValue{&c.HistoryTTL}, "history-ttl", "how long a kept message stays; 0: none kept")
	f.def(sizeValue[int64]{&c.HistoryMaxBytes}, "history-max-bytes", "memory one node's history may hold; past it the oldest go first")
	f.def(durationValue{&c.OfflineGrace}, "offline-grace", "a user is offline only this long after its last connection closed")

	w := &c.Webhook
	f.group("Webhook (events to the backend)")
	f.def(stringValue{&w.URL}, "webhook", "`URL` receives client events as signed JSON batches; empty: none")
	f.def(stringValue{&w.Secret}, "webhook-secret", "`KEY` HMAC-SHA256 key of the X-Wspush-Signature header")
	f.def(listValue{&w.Events}, "webhook-events", "`KINDS` events to send: connect, disconnect, offline, publish, send, binary, message.received (message.undelivered always)")
	f.def(intValue{&w.Queue}, "webhook-queue", "events waiting for the backend; past it, new ones dropped")
	f.def(sizeValue[int]{&w.QueueBytes}, "webhook-queue-bytes", "bytes those events may hold; past it, new ones dropped")
	f.def(intValue{&w.Batch}, "webhook-batch", "most events in one request")
	f.def(durationValue{&w.Delay}, "webhook-delay", "how long a batch's first event waits for others")
	f.def(durationValue{&w.Timeout}, "webhook-timeout", "timeout of one request")
	f.def(intValue{&w.Retries}, "webhook-retries", "times a failed batch is sent again (backoff); -1: never")

	f.group("Connect hook (the backend admits connections)")
	f.def(stringValue{&c.ConnectHook}, "connect-hook", "`URL` asked, signed, who each connection is before its welcome; empty: none")
	f.def(durationValue{&c.AdmitTimeout}, "connect-hook-timeout", "longest wait for the hook's verdict; past it the client is told to retry")
	f.def(intValue{&c.AdmitMaxPending}, "connect-hook-max-pending", "connections waiting for a verdict at once; past it new ones are told to retry")
	f.def(listValue{&c.AdmitHeaders}, "connect-hook-headers", "`NAMES` request headers the hook is told of (User-Agent, ...)")
	f.def(boolValue{&c.AdmitFailOpen}, "connect-hook-fail-open", "admit as the token says when the hook is down or slow; default: refuse")

	f.group("Logging")
	f.def(stringValue{&f.logFormat}, "log-format", "`text|json|auto` auto: text on a terminal, json otherwise")
	f.def(stringValue{&f.logLevel}, "log-level", "`LEVEL` debug, info, warn or error")

	f.group("Configuration")
	f.def(stringValue{&f.config}, "config", "`FILE` YAML file of these settings, keyed by flag name")
	f.def(boolValue{&f.checkConfig}, "check-config", "validate, print what is in effect, exit: 0 if valid, 2 if not")
	return f
}

// parseServe sets serve's flags from, in order, the defaults, the
// --config file, the environment (WSPUSH_NAME) and args, each over the
// one before. It returns flag.ErrHelp for -h or --help, with f set for
// its help; any other error is one line.
func parseServe(args []string, getenv func(string) string) (*serveFlags, error) {
	f := newServeFlags()
	// Help is there even when the file or the environment is wrong.
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			return f, flag.ErrHelp
		}
	}
	if err := applyConfigFile(f.fs, configPath(args, getenv)); err != nil {
		return nil, err
	}

	// The environment fills in what the command line leaves unset.
	var envErr error
	f.fs.VisitAll(func(fl *flag.Flag) {
		name := envName(fl.Name)
		if v := getenv(name); v != "" {
			if err := fl.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return nil, f.parseError(err)
	}
	if f.fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q (flags come as --name value or --name=value; wspush serve -h lists them)", f.fs.Arg(0))
	}
	return f, nil
}

// envName is the environment variable of a flag: WSPUSH_MAX_CONNS for
// max-conns.
func envName(flagName string) string {
	return "WSPUSH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envTypos are warnings, one sentence each, about the WSPUSH_ variables
// of environ that set no flag but are one letter from a flag's variable:
// WSPUSH_MAX_CONN for WSPUSH_MAX_CONNS. Others are left alone, as the
// tests and tools have WSPUSH_ variables of their own (WSPUSH_MEM_CONNS is
// two letters from WSPUSH_MAX_CONNS).
func (f *serveFlags) envTypos(environ []string) []string {
	vars := map[string]bool{"WSPUSH_CONFIG": true}
	var names []string
	for _, n := range f.names() {
		vars[envName(n)] = true
		names = append(names, envName(n))
	}
	var ws []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "WSPUSH_") || vars[k] {
			continue
		}
		near := ""
		for _, n := range names {
			if editDistance(k, n) == 1 {
				near = n
				break
			}
		}
		if near != "" {
			ws = append(ws, fmt.Sprintf("%s sets no flag: did you mean %s? (wspush serve -h)", k, near))
		}
	}
	return ws
}
