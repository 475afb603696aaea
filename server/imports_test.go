package server

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The rooms of the server and what each may import of this module
// (docs/design.md): the cluster, the webhook and the HTTP API never import
// the engine, the leaves import nothing of ours but frame and history, and
// nothing imports upward (no internal package imports the facade, so no
// room can call back into it). Imports of test files are not checked:
// tests may reach wherever they need.
var allowedImports = map[string][]string{
	"frame":                     {},
	"pool":                      {},
	"bench":                     {"frame", "server/procfs", "server/webui"},
	"bench/bare":                {"frame"},
	"client":                    {},
	"server/procfs":             {},
	"server/webui":              {},
	"server/internal/history":   {},
	"server/internal/roster":    {},
	"server/internal/auth":      {},
	"server/internal/budget":    {},
	"server/internal/presence":  {},
	"server/internal/receipt":   {"server/internal/wire"},
	"server/internal/redistest": {},
	"server/internal/wstest":    {"frame"},
	"server/internal/wire":      {"frame", "server/internal/history"},
	"server/internal/engine":    {"frame", "pool", "server/internal/auth", "server/internal/budget", "server/internal/history", "server/internal/roster", "server/internal/wire"},
	"server/internal/local":     {"server/internal/engine", "server/internal/history", "server/internal/presence", "server/internal/wire"},
	"server/internal/webhook":   {"server/internal/auth", "server/internal/wire"},
	"server/internal/cluster":   {"server/internal/auth", "server/internal/history", "server/internal/receipt", "server/internal/roster", "server/internal/wire"},
	"server/internal/api":       {"pool", "server/internal/auth", "server/internal/history", "server/internal/wire"},
	"server/internal/console":   {"server/internal/auth", "server/internal/wire", "server/webui"},
	"server": {"frame", "pool", "server/procfs", "server/internal/api", "server/internal/auth", "server/internal/budget",
		"server/internal/cluster", "server/internal/console", "server/internal/engine", "server/internal/history", "server/internal/local",
		"server/internal/presence", "server/internal/receipt", "server/internal/webhook", "server/internal/wire"},
	".": {"bench", "client", "server"},
}

const module = "github.com/wspush/wspush"

func TestImportGraphKeepsTheRoomsApart(t *testing.T) {
	root := ".."
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		allowed, known := allowedImports[rel]
		if !known {
			t.Errorf("%s: package %s has no entry in allowedImports: decide which room it is", path, rel)
			return nil
		}
		seen[rel] = true
		f, err := parser.ParseFile(gotoken.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
			if dep == "" {
				dep = "."
			}
			if !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s: package %s may import only %v", path, dep, rel, allowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"server/internal/engine", "server/internal/cluster", "server/internal/webhook", "server/internal/api", "server/internal/console"} {
		if !seen[must] {
			t.Errorf("no Go files found for %s: the test is not looking where the code is", must)
		}
	}
}
