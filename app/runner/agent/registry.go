package agent

import (
	"fmt"
	"strings"
)

// Info describes an adapter: what the server shows and checks, and what
// `agentops agents install` installs.
type Info struct {
	ID   string // registry name, as in `agent` on POST /api/sessions
	Name string // for people
	// Package and Version are the npm package and the known-good version
	// (empty for built-in agents).
	Package, Version string
	// Bin is the CLI's executable name ("" for built-in agents).
	Bin string
	// Providers are the credential providers the agent can use, in the
	// order it prefers them ("custom" is any OpenAI-compatible provider).
	Providers []string
	// DefaultModels is the model used when a prompt names none, by
	// provider.
	DefaultModels map[string]string
	// Deltas, Resume and Usage say what the adapter supports (docs and
	// the agents list).
	Deltas, Resume, Usage bool
}

// BuiltIn reports whether the agent needs no CLI.
func (i Info) BuiltIn() bool { return i.Bin == "" }

// Factory builds an agent for one runner.
type Factory func(Options) (Agent, error)

// Registry maps names to adapters. It is built once (builtin.Registry)
// and only read afterwards.
type Registry struct {
	order   []string
	entries map[string]regEntry
}

type regEntry struct {
	info Info
	new  Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]regEntry{}} }

// Register adds an adapter; a second registration of a name panics (a
// programming error).
func (r *Registry) Register(info Info, f Factory) {
	if _, dup := r.entries[info.ID]; dup {
		panic("agent: " + info.ID + " registered twice")
	}
	r.order = append(r.order, info.ID)
	r.entries[info.ID] = regEntry{info: info, new: f}
}

// Names lists the registered agents in registration order.
func (r *Registry) Names() []string { return append([]string(nil), r.order...) }

// Info returns an agent's description.
func (r *Registry) Info(name string) (Info, bool) {
	e, ok := r.entries[name]
	return e.info, ok
}

// New builds an agent by name.
func (r *Registry) New(name string, opts Options) (Agent, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, fmt.Errorf("unknown agent %q (known agents: %s)", name, strings.Join(r.order, ", "))
	}
	return e.new(opts)
}
