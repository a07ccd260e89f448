package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// InstallDir is where Install puts an agent under an agents dir.
func InstallDir(agentsDir string, info Info) string { return filepath.Join(agentsDir, info.ID) }

// Installed is what Locate found.
type Installed struct {
	Path    string // the executable
	Version string // as the CLI reports it ("" when it would not say)
	// InAgentsDir: found under the agents dir (else on PATH).
	InAgentsDir bool
}

// ErrNotInstalled is returned by Locate when the CLI is nowhere.
var ErrNotInstalled = errors.New("not installed")

// Locate finds an agent's CLI: under agentsDir first, then on path (a
// PATH-style list; empty: this process's PATH). Built-in agents are
// always installed.
func Locate(ctx context.Context, info Info, agentsDir, path string) (Installed, error) {
	if info.BuiltIn() {
		return Installed{Version: "built-in"}, nil
	}
	if agentsDir != "" {
		p := filepath.Join(InstallDir(agentsDir, info), "node_modules", ".bin", info.Bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return Installed{Path: p, Version: version(ctx, p), InAgentsDir: true}, nil
		}
	}
	if path == "" {
		path = os.Getenv("PATH")
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, info.Bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return Installed{Path: p, Version: version(ctx, p)}, nil
		}
	}
	return Installed{}, fmt.Errorf("%s: %w (agentops agents install %s)", info.ID, ErrNotInstalled, info.ID)
}

// version runs `BIN --version` and keeps the first word that starts with
// a digit ("2.1.332 (Claude Code)", "codex-cli 0.171.0", "1.18.33").
func version(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Stdin = nil
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	for _, w := range strings.Fields(string(out)) {
		if w[0] >= '0' && w[0] <= '9' {
			return w
		}
	}
	return strings.TrimSpace(string(out))
}

// InstalledPackageVersion reads the version of the npm package installed
// under agentsDir, or "".
func InstalledPackageVersion(agentsDir string, info Info) string {
	data, err := os.ReadFile(filepath.Join(InstallDir(agentsDir, info), "node_modules", filepath.FromSlash(info.Package), "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(data, &pkg)
	return pkg.Version
}

// Install installs the agent's npm package (version; empty: the
// known-good one) under agentsDir with npm, writing npm's progress to
// progress, and returns the installed CLI.
func Install(ctx context.Context, info Info, agentsDir, version string, progress io.Writer) (Installed, error) {
	if info.BuiltIn() {
		return Installed{}, fmt.Errorf("%s is built in: nothing to install", info.ID)
	}
	if version == "" {
		version = info.Version
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return Installed{}, errors.New("npm is not installed: install Node.js 20 or newer with npm (for example `apt-get install nodejs npm`), then try again")
	}
	dir := InstallDir(agentsDir, info)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Installed{}, err
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel", "http",
		info.Package+"@"+version)
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return Installed{}, fmt.Errorf("npm install %s@%s: %w", info.Package, version, err)
	}
	return Locate(ctx, info, agentsDir, os.Getenv("PATH"))
}
