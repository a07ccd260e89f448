package session

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
)

// AgentStatus is one agent as a user sees it in available-models.
type AgentStatus struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Installed is null when the server cannot see the runner's machine
	// (--sandbox external).
	Installed *bool  `json:"installed"`
	Version   string `json:"version,omitempty"`
	Path      string `json:"-"`
	// Usable: installed (or unknown) and the user (or the org) has a
	// credential for one of its providers.
	Usable            bool                  `json:"usable"`
	MissingCredential string                `json:"missingCredential,omitempty"`
	Models            []protocol.ModelGroup `json:"models"`
	// Providers are the providers the agent can use with the caller's
	// credentials, in the order its adapter picks them (the first is used
	// unless the model names another as provider/model), each with the
	// credential's models list (nil: any model).
	Providers []ProviderModels `json:"-"`
}

// ProviderModels is one usable provider and what its credential allows.
type ProviderModels struct {
	Provider string
	Models   []string // nil: any
}

// CheckModel says whether the caller may pick model for this agent: a
// credential with a models list allows only those (a self-hosted server
// has no other way to say what it serves). An empty model is the agent's
// default and always allowed.
func (s AgentStatus) CheckModel(model string) error {
	if model == "" || len(s.Providers) == 0 {
		return nil
	}
	pick, name := s.Providers[0], model
	if p, n, ok := strings.Cut(model, "/"); ok {
		for _, pm := range s.Providers {
			if pm.Provider == p {
				pick, name = pm, n
				break
			}
		}
	}
	if pick.Models == nil || slices.Contains(pick.Models, name) || slices.Contains(pick.Models, model) {
		return nil
	}
	return apperr.Invalid("model", "model %q is not allowed for %s: the %s credential allows only %s", model, s.ID, pick.Provider, strings.Join(pick.Models, ", "))
}

// checkModel checks a model the owner of a session of agentName picks
// (initialModel, a prompt's model) against the owner's credentials.
func (m *Manager) checkModel(ctx context.Context, ownerID, agentName, model string) error {
	if model == "" || m.cfg.Catalog == nil {
		return nil
	}
	list, err := m.cfg.Catalog.Agents(ctx, ownerID)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.ID == agentName {
			return s.CheckModel(model)
		}
	}
	return nil
}

// AgentCatalog tells which agents a user can run: installed (probed on
// this machine) and with a usable credential.
type AgentCatalog interface {
	Agents(ctx context.Context, userID string) ([]AgentStatus, error)
}

// DefaultOrder is the order in which an installed and usable agent is
// picked when neither the request nor --default-agent names one.
var defaultOrder = []string{"claude-code", "codex", "opencode"}

// Agents lists the agents for a user; without a catalog, every known agent
// is listed as usable with unknown installation.
func (m *Manager) Agents(ctx context.Context, userID string) ([]AgentStatus, error) {
	if m.cfg.Catalog != nil {
		return m.cfg.Catalog.Agents(ctx, userID)
	}
	var out []AgentStatus
	for name, models := range m.cfg.Agents {
		out = append(out, AgentStatus{ID: name, Name: name, Usable: true, Models: models})
	}
	slices.SortFunc(out, func(a, b AgentStatus) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out, nil
}

// chooseAgent resolves and checks the agent of a new session: the one
// named, else --default-agent, else the first of claude-code, codex,
// opencode that is installed and usable for the user, else script. A
// named agent that is not installed or has no usable credential is a 400.
func (m *Manager) chooseAgent(ctx context.Context, userID, name string) (string, error) {
	if name == "" {
		name = m.cfg.DefaultAgent
	}
	if m.cfg.Catalog == nil {
		if name == "" {
			name = "script"
		}
		return name, nil
	}
	list, err := m.cfg.Catalog.Agents(ctx, userID)
	if err != nil {
		return "", err
	}
	if name == "" {
		for _, id := range defaultOrder {
			for _, s := range list {
				if s.ID == id && s.Usable && (s.Installed == nil || *s.Installed) {
					return id, nil
				}
			}
		}
		return "script", nil
	}
	for _, s := range list {
		if s.ID != name {
			continue
		}
		if s.Installed != nil && !*s.Installed {
			return "", apperr.Invalid("agent", "agent %s is not installed on this server (agentops agents install %s)", name, name)
		}
		if !s.Usable {
			return "", apperr.Invalid("agent", "agent %s has no usable credential: add a %s key (yours or the org's) under credentials", name, s.MissingCredential)
		}
		return name, nil
	}
	return "", apperr.Invalid("agent", "%s", fmt.Sprintf("unknown agent %q", name))
}

// UsableModels is upstream's `models` of available-models: the model
// groups of the agents the caller can use, each provider once, in the
// agents' order.
func UsableModels(agents []AgentStatus) []protocol.ModelGroup {
	out := []protocol.ModelGroup{}
	seen := map[string]bool{}
	for _, a := range agents {
		if !a.Usable {
			continue
		}
		for _, g := range a.Models {
			if !seen[g.Provider] {
				seen[g.Provider] = true
				out = append(out, g)
			}
		}
	}
	return out
}
