package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
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
			return unknownKey(fs, path, k)
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

// unknownKey is the error of a key of the file at path that is no flag
// of fs, naming the flag it is nearest to.
func unknownKey(fs *flag.FlagSet, path, k string) error {
	var names []string
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "config" && fl.Name != "check-config" {
			names = append(names, fl.Name)
		}
	})
	if near := nearest(k, names); near != "" && near != k {
		return fmt.Errorf("--config %s: unknown key %q: did you mean %s? (the keys are serve's flag names: wspush serve -h)", path, k, near)
	}
	return fmt.Errorf("--config %s: unknown key %q: the keys are serve's flag names (wspush serve -h)", path, k)
}
