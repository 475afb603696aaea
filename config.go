package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wspush/wspush/server"
)

// The configuration file (--config wspush.yaml, or WSPUSH_CONFIG): a flat
// YAML map whose keys are serve's flag names without the dashes in front,
//
//	addr: ":8080"
//	ping-interval: 25s
//	origins: ["https://*.example.com"]
//
// It sets the flags' values before the environment and the command line,
// which both override it. docs/deploy/wspush.yaml is an example.

// secretFlags are printed redacted by --check-config.
var secretFlags = map[string]bool{"api-key": true, "jwt-secret": true, "webhook-secret": true, "cluster-secret": true}

// configPath finds the configuration file named on the command line
// (--config PATH or --config=PATH, one or two dashes) or, failing that, in
// WSPUSH_CONFIG. It runs before the flags are parsed, since the file must
// be applied first.
func configPath(args []string, getenv func(string) string) string {
	path := getenv("WSPUSH_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			path = value
		} else if i+1 < len(args) {
			path = args[i+1]
			i++
		}
	}
	return path
}

// applyConfigFile sets the flags of fs from the YAML file at path. An
// unknown key or a bad value is an error naming the file and the key.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fl := fs.Lookup(k)
		if fl == nil || k == "config" || k == "check-config" {
			return fmt.Errorf("--config %s: unknown key %q: the keys are serve's flag names (wspush serve -h)", path, k)
		}
		v, err := yamlFlagValue(m[k])
		if err != nil {
			return fmt.Errorf("--config %s: %s: %w", path, k, err)
		}
		if err := fl.Value.Set(v); err != nil {
			return fmt.Errorf("--config %s: %s: %q: %w", path, k, v, err)
		}
	}
	return nil
}

// yamlFlagValue turns a YAML scalar or list of scalars into a flag's text:
// lists become comma-separated.
func yamlFlagValue(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, err := yamlFlagValue(e)
			if err != nil {
				return "", err
			}
			if _, isList := e.([]any); isList {
				return "", fmt.Errorf("nested lists are not allowed")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a value or a list of values, got %T", v)
}

// printConfig writes the configuration in force, as a YAML file that
// --config accepts (secrets redacted), with the server's derived defaults
// (max-conns, loops) filled in.
func printConfig(w io.Writer, f *serveFlags) error {
	eff := server.New(f.cfg).Config()
	var b bytes.Buffer
	b.WriteString("# wspush serve: the effective configuration (file, environment, flags)\n")
	f.fs.VisitAll(func(fl *flag.Flag) {
		name := fl.Name
		var v string
		switch name {
		case "config", "check-config":
			return
		case "max-conns":
			v = strconv.Itoa(eff.MaxConns)
		case "loops":
			v = strconv.Itoa(eff.Loops)
		case "origins":
			v = yamlList(f.cfg.Origins)
		case "webhook-events":
			events := f.cfg.Webhook.Events
			if len(events) == 0 {
				events = server.DefaultWebhookEvents
			}
			v = yamlList(events)
		case "redis", "webhook":
			v = yamlScalar(redactURL(fl.Value.String()))
		case "trusted-proxies":
			if f.cfg.TrustedProxies == nil {
				v = `"127.0.0.0/8,::1/128"`
			} else {
				v = yamlScalar(proxiesString(f.cfg.TrustedProxies))
			}
		default:
			v = yamlScalar(fl.Value.String())
			if secretFlags[name] && fl.Value.String() != "" {
				v = `"<redacted>"`
			}
		}
		fmt.Fprintf(&b, "%s: %s\n", name, v)
	})
	for _, w := range f.cfg.TrustWarnings() {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// yamlScalar quotes s unless it reads back as the same number or boolean.
func yamlScalar(s string) string {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s
	}
	if s == "true" || s == "false" {
		return s
	}
	return strconv.Quote(s)
}

func yamlList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// addDeployFlags defines the flags of production deployments: the
// --webhook flags (docs/webhook.md) and --drain-spread.
func addDeployFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.DurationVar(&cfg.DrainSpread, "drain-spread", 0, "at shutdown, ask each client to wait a random delay below this before reconnecting (retry_after in the going_away disconnect); 0: no hint")
	c := &cfg.Webhook
	fs.StringVar(&c.URL, "webhook", "", "URL the backend receives client events at, POSTed as signed JSON batches (docs/webhook.md)")
	fs.StringVar(&c.Secret, "webhook-secret", "", "HMAC-SHA256 key of the X-Wspush-Signature header (WSPUSH_WEBHOOK_SECRET keeps it out of ps)")
	fs.Func("webhook-events", "comma-separated event kinds to send: connect, disconnect, offline, publish, send, binary (default publish,send,connect,disconnect,offline)", func(v string) error {
		c.Events = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.Events = append(c.Events, e)
			}
		}
		return nil
	})
	fs.IntVar(&c.Queue, "webhook-queue", server.DefaultWebhookQueue, "events waiting for the backend before new ones are dropped")
	fs.IntVar(&c.QueueBytes, "webhook-queue-bytes", server.DefaultWebhookQueueBytes, "bytes those waiting events may hold before new ones are dropped")
	fs.IntVar(&c.Batch, "webhook-batch", server.DefaultWebhookBatch, "most events in one request")
	fs.DurationVar(&c.Delay, "webhook-delay", server.DefaultWebhookDelay, "how long a batch's first event waits for others")
	fs.DurationVar(&c.Timeout, "webhook-timeout", server.DefaultWebhookTimeout, "timeout of one webhook request")
	fs.IntVar(&c.Retries, "webhook-retries", server.DefaultWebhookRetries, "times a failed batch is sent again, with backoff (-1: never)")
}

// redactURL hides the password and query values of a URL such as
// redis://user:pass@host/0 or https://host/hook?token=T; empty stays empty.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	return server.RedactURL(s)
}

// addTrustFlags defines the flags of trust boundaries (docs/security.md).
func addTrustFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow development mode (no --jwt-secret: ?user= is trusted) on a non-loopback --addr")
	fs.StringVar(&cfg.JWTAudience, "jwt-audience", "", "when set, a token's aud must include it")
	fs.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "when set, a token's iss must be it")
	fs.BoolVar(&cfg.JWTRequireExp, "jwt-require-exp", false, "refuse tokens without an exp claim")
	fs.Func("trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For and X-Real-IP are believed (default 127.0.0.0/8,::1/128; empty: none)", func(v string) error {
		p, err := server.ParseProxies(v)
		cfg.TrustedProxies = p
		return err
	})
	fs.IntVar(&cfg.APIMaxConns, "api-max-conns", 0, "open HTTP API connections; past it the oldest idle one is closed, or the new one gets 503 (0: from the open-files limit, 16 to 1024)")
	fs.DurationVar(&cfg.APIReadTimeout, "api-read-timeout", server.DefaultAPIReadTimeout, "time to read one API request, head and body")
}

func proxiesString(l []netip.Prefix) string {
	s := make([]string, len(l))
	for i, p := range l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// addCompressionFlags adds the permessage-deflate flags. --compression is
// on by default and sets server.Config.NoCompression when turned off.
func addCompressionFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.Var(notFlag{&cfg.NoCompression}, "compression", "offer permessage-deflate (RFC 7692) and compress messages to clients that accept it; --compression=false turns it off")
	fs.IntVar(&cfg.CompressionThreshold, "compression-threshold", server.DefaultCompressionThreshold, "smallest message payload in bytes sent compressed; smaller ones go plain")
}

// notFlag is a boolean flag stored inverted, for a Config field whose zero
// value means on.
type notFlag struct{ p *bool }

func (f notFlag) IsBoolFlag() bool { return true }

func (f notFlag) String() string {
	if f.p == nil {
		return "true"
	}
	return strconv.FormatBool(!*f.p)
}

func (f notFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*f.p = !b
	return nil
}

// compressionInForce is the start line's word on compression.
func compressionInForce(cfg server.Config) string {
	if cfg.NoCompression {
		return "off"
	}
	return "permessage-deflate, no context takeover, from " + strconv.Itoa(cfg.CompressionThreshold) + " bytes"
}
