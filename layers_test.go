package dualhook_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The package layers, bottom first. A package may import packages of its own layer or below,
// never above; testkit/ (test harnesses) and e2e/ are for tests only. This list is the one place
// the order is written down; README's Architecture section draws it.
var layers = []struct {
	name     string
	packages []string // import paths below the module, with "/..." for a subtree
}{
	{"libraries: no domain knowledge, usable on their own", []string{
		"db", "db/dbq", "egress", "signature", "metagraph", "sandbox", "preflight", "onboardpage",
	}},
	{"internal: the domain vocabulary, the data layer and the shared services", []string{"internal/..."}},
	{"activities: every piece of I/O the workflows do", []string{"activities"}},
	{"workflows: deterministic orchestration, calling activities by method value", []string{"workflows"}},
	{"worker: registers workflows and activities, owns the schedules", []string{"worker"}},
	{"api: the HTTP layer", []string{"api"}},
	{"app: wiring from configuration, and the dev stack", []string{"app/..."}},
	{"cmd: the binaries", []string{"cmd/..."}},
}

// testOnly packages may import anything but cmd; no production package may import them.
var testOnly = []string{"testkit/...", "e2e"}

const module = "github.com/dualhook/dualhook"

func TestPackageLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if name == "" { // this test's own directory
			continue
		}
		seen++
		from, fromTestOnly := layerOf(name), matchesAny(name, testOnly)
		if from < 0 && !fromTestOnly {
			t.Errorf("%s belongs to no layer: add it to layers in layers_test.go", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			switch {
			case matchesAny(dep, testOnly) && !fromTestOnly:
				t.Errorf("%s imports the test-only package %s", name, dep)
			case fromTestOnly:
				if strings.HasPrefix(dep, "cmd/") {
					t.Errorf("%s imports %s: nothing imports a binary", name, dep)
				}
			case layerOf(dep) > from:
				t.Errorf("%s (%s) imports %s (%s), a layer above it", name, layers[from].name, dep, layers[layerOf(dep)].name)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list found only %d packages", seen)
	}
}

func layerOf(pkg string) int {
	return slices.IndexFunc(layers, func(l struct {
		name     string
		packages []string
	}) bool {
		return matchesAny(pkg, l.packages)
	})
}

func matchesAny(pkg string, patterns []string) bool {
	for _, p := range patterns {
		if tree, ok := strings.CutSuffix(p, "/..."); ok {
			if pkg == tree || strings.HasPrefix(pkg, tree+"/") {
				return true
			}
		} else if pkg == p {
			return true
		}
	}
	return false
}
