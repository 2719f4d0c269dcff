// Package tools finds, and builds once, the pinned external programs the project runs: the
// Temporal CLI (dev server and Web UI). It is built from the Go module proxy because no other
// download works on the project's machines, and cached outside the work tree so fresh clones
// and CI runs on the same machine reuse it.
package tools

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// TemporalCLIModule and TemporalCLIVersion pin the Temporal CLI (server 1.29.1, Web UI 2.42.1).
// Later versions cannot be built with the machines' Go (see shared/reference/toolchain.md).
const (
	TemporalCLIModule  = "github.com/temporalio/cli/cmd/temporal"
	TemporalCLIVersion = "v1.5.1"
)

// Dir is where pinned tools are cached: $DUALHOOK_TOOLS_DIR, else the user cache directory.
func Dir() string {
	if d := os.Getenv("DUALHOOK_TOOLS_DIR"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "dualhook", "tools")
}

// TemporalCLIPath is where the pinned Temporal CLI lives; $DUALHOOK_TEMPORAL_CLI overrides it.
func TemporalCLIPath() string {
	if p := os.Getenv("DUALHOOK_TEMPORAL_CLI"); p != "" {
		return p
	}
	return filepath.Join(Dir(), "temporal-"+TemporalCLIVersion, "temporal")
}

// EnsureTemporalCLI returns the CLI's path, building it first when it is missing (a few
// minutes, once per machine). Build output goes to progress.
func EnsureTemporalCLI(ctx context.Context, progress io.Writer) (string, error) {
	path := TemporalCLIPath()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if os.Getenv("DUALHOOK_TEMPORAL_CLI") != "" {
		return "", fmt.Errorf("DUALHOOK_TEMPORAL_CLI=%s does not exist", path)
	}
	fmt.Fprintf(progress, "building the Temporal CLI %s once (a few minutes; cached in %s)\n", TemporalCLIVersion, filepath.Dir(path))
	// Build into a temporary folder and rename, so an interrupted build never leaves a
	// half-written binary that later runs would trust.
	tmp, err := os.MkdirTemp(Dir(), ".build-")
	if err != nil {
		if err := os.MkdirAll(Dir(), 0o755); err != nil {
			return "", err
		}
		if tmp, err = os.MkdirTemp(Dir(), ".build-"); err != nil {
			return "", err
		}
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install", TemporalCLIModule+"@"+TemporalCLIVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the Temporal CLI: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "temporal"), path); err != nil {
		return "", err
	}
	return path, nil
}
