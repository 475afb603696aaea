package main

import "testing"

func TestExampleConfigChecks(t *testing.T) {
	out, err := command(t, "serve", "--config", "docs/deploy/wspush.yaml", "--check-config").CombinedOutput()
	if err != nil {
		t.Fatalf("docs/deploy/wspush.yaml: %v\n%s", err, out)
	}
}
