package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/session"
)

// probeMaxAge is how old a probe of the installed agents may be before a
// create or available-models probes again (a newly installed agent shows
// up without a restart).
const probeMaxAge = 30 * time.Second

// agentCatalog is session.AgentCatalog over the agent registry, a probe
// of PATH and the agents dir, and the users' credentials.
type agentCatalog struct {
	reg      *agent.Registry
	models   map[string][]protocol.ModelGroup // each adapter's own list
	dir      string
	external bool // the server cannot see the runners' machine
	creds    *credentials.Service
	now      func() time.Time

	mu     sync.Mutex
	probed time.Time
	found  map[string]agent.Installed // installed agents only
}

// probe returns what is installed, probing again when the last probe is
// older than probeMaxAge.
func (c *agentCatalog) probe(ctx context.Context) map[string]agent.Installed {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.found != nil && c.now().Sub(c.probed) < probeMaxAge {
		return c.found
	}
	found := map[string]agent.Installed{}
	for _, name := range c.reg.Names() {
		info, _ := c.reg.Info(name)
		if in, err := agent.Locate(ctx, info, c.dir, os.Getenv("PATH")); err == nil {
			found[name] = in
		}
	}
	c.found, c.probed = found, c.now()
	return found
}

// usable reports whether one of the agent's providers has a credential;
// it returns the models the credential limits the choice to, if any.
func usable(info agent.Info, res []credentials.Resolved) (ok bool, limited []protocol.ModelGroup) {
	if info.BuiltIn() {
		return true, nil
	}
	for _, want := range info.Providers {
		for _, r := range res {
			if r.Provider == want || want == "custom" && credentials.IsCustom(r.Provider) {
				if len(r.Models) > 0 {
					g := protocol.ModelGroup{Provider: r.Provider}
					for _, m := range r.Models {
						g.Models = append(g.Models, protocol.Model{ID: r.Provider + "/" + m, Name: m})
					}
					limited = append(limited, g)
				}
				ok = true
			}
		}
	}
	return ok, limited
}

// providerChoices lists the providers the agent can use with the
// caller's credentials, in the order the adapter picks them, each with its
// credential's models list.
func providerChoices(info agent.Info, res []credentials.Resolved) []session.ProviderModels {
	if info.BuiltIn() {
		return nil
	}
	var out []session.ProviderModels
	seen := map[string]bool{}
	for _, want := range info.Providers {
		for _, r := range res {
			if seen[r.Provider] || !(r.Provider == want || want == "custom" && credentials.IsCustom(r.Provider)) {
				continue
			}
			seen[r.Provider] = true
			out = append(out, session.ProviderModels{Provider: r.Provider, Models: r.Models})
		}
	}
	return out
}

func (c *agentCatalog) Agents(ctx context.Context, userID string) ([]session.AgentStatus, error) {
	var res []credentials.Resolved
	if c.creds != nil {
		var err error
		if res, err = c.creds.Resolve(ctx, userID); err != nil {
			return nil, err
		}
	}
	var found map[string]agent.Installed
	if !c.external {
		found = c.probe(ctx)
	}
	out := make([]session.AgentStatus, 0, len(c.reg.Names()))
	for _, name := range c.reg.Names() {
		info, _ := c.reg.Info(name)
		st := session.AgentStatus{ID: name, Name: info.Name, Models: c.models[name]}
		if !c.external || info.BuiltIn() {
			in, ok := found[name]
			if info.BuiltIn() {
				ok, in = true, agent.Installed{Version: "built-in"}
			}
			st.Installed, st.Version, st.Path = &ok, in.Version, in.Path
		}
		ok, limited := usable(info, res)
		st.Usable = ok && (st.Installed == nil || *st.Installed)
		if !ok {
			st.MissingCredential = strings.Join(info.Providers, " or ")
		}
		if len(limited) > 0 {
			st.Models = limited
		}
		st.Providers = providerChoices(info, res)
		if st.Models == nil {
			st.Models = []protocol.ModelGroup{}
		}
		out = append(out, st)
	}
	return out, nil
}

// warnSharedLocalRunners warns when local runners (and their agents) run
// with the server's own rights while more than one person can use the
// server: an agent can then read the data dir, the instance key and so
// every user's credentials (docs/agents.md, "Whose rights an agent has").
func (a *App) warnSharedLocalRunners(ctx context.Context) {
	if a.cfg.Sandbox != "local" || a.cfg.RunnerUser != "" {
		return
	}
	n, err := a.Store.Users().Count(ctx)
	if err != nil || (n <= 1 && !a.cfg.OpenSignup) {
		return
	}
	a.log.Warn("local runners run agents with the server's own rights: any user's agent can read the data dir, the instance key and every stored credential; use local sandboxes only among users who trust each other (docs/agents.md)",
		"users", n, "open_signup", a.cfg.OpenSignup)
}

// runnerUser resolves --runner-user for local runners (nil without one)
// and checks what that user must reach: the workspaces (an error when a
// folder on the way is closed to it), the runner program (an error) and
// the agents dir (a warning: CLIs on PATH still work).
func (a *App) runnerUser() (*sandbox.RunAs, error) {
	if a.cfg.RunnerUser == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("--runner-user %s needs serve to run as root (it starts runners as that user)", a.cfg.RunnerUser)
	}
	ru, err := sandbox.LookupRunAs(a.cfg.RunnerUser)
	if err != nil {
		return nil, fmt.Errorf("--runner-user: %w", err)
	}
	if ok, blocker, err := ru.CanReach(a.cfg.WorkspacesDir); err != nil {
		return nil, fmt.Errorf("--workspaces-dir: %w", err)
	} else if !ok {
		return nil, fmt.Errorf("--runner-user %s cannot enter %s on the way to the workspaces %s: set --workspaces-dir to a folder it can reach (say /var/lib/agentops-workspaces)", ru.Name, blocker, a.cfg.WorkspacesDir)
	}
	prog := ""
	if len(a.cfg.RunnerCommand) > 0 {
		prog = a.cfg.RunnerCommand[0]
	} else if prog, err = os.Executable(); err != nil {
		return nil, err
	}
	if filepath.IsAbs(prog) {
		if ok, blocker, err := ru.CanReach(filepath.Dir(prog)); err == nil && !ok {
			return nil, fmt.Errorf("--runner-user %s cannot enter %s to start the runner %s: install agentops where every user can run it (say /usr/local/bin)", ru.Name, blocker, prog)
		}
	}
	if ok, blocker, err := ru.CanReach(a.cfg.AgentsDir); err == nil && !ok {
		a.log.Warn("the runner user cannot reach the agents dir: agents installed there will not start; set --agents-dir to a folder it can reach, or install the CLIs on PATH",
			"runner_user", ru.Name, "agents_dir", a.cfg.AgentsDir, "blocked_at", blocker)
	}
	a.log.Info("local runners run as an unprivileged user", "runner_user", ru.Name, "uid", ru.UID, "workspaces_dir", a.cfg.WorkspacesDir)
	return ru, nil
}
