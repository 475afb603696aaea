package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wspush/wspush/server"
)

// --check-config: validate the configuration (serve runs Validate first)
// and print it, as a file that --config reads back.

// secretFlags are printed redacted by --check-config.
var secretFlags = map[string]bool{"api-key": true, "jwt-secret": true, "webhook-secret": true, "cluster-secret": true,
	"redis-password": true, "redis-sentinel-password": true, "console-key": true, "console-readonly-key": true}

// printConfig writes the configuration in force, as a YAML file that
// --config accepts (secrets redacted), with the connection cap the server
// derives from the open-files limit filled in, then the trust warnings and
// warnings, as comments. It builds no server: every other default is
// already in f.cfg, from server.Defaults.
func printConfig(w io.Writer, f *serveFlags, warnings []string) error {
	var b bytes.Buffer
	b.WriteString("# wspush serve: the effective configuration (file, environment, flags)\n")
	f.fs.VisitAll(func(fl *flag.Flag) {
		name := fl.Name
		var v string
		switch name {
		case "config", "check-config":
			return
		case "max-conns":
			n := f.cfg.MaxConns
			if n <= 0 {
				n = f.cfg.DerivedMaxConns()
			}
			v = strconv.Itoa(n)
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
		default:
			v = yamlScalar(fl.Value.String())
			if secretFlags[name] && fl.Value.String() != "" {
				v = `"<redacted>"`
			}
		}
		fmt.Fprintf(&b, "%s: %s\n", name, v)
	})
	for _, w := range append(f.cfg.TrustWarnings(), warnings...) {
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

// redactURL hides the password and query values of a URL such as
// redis://user:pass@host/0 or https://host/hook?token=T; empty stays empty.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	return server.RedactURL(s)
}
