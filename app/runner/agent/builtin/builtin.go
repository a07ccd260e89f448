// Package builtin assembles the registry of the adapters that ship with
// agentops.
package builtin

import (
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/app/runner/agent/opencode"
	"github.com/agentops/agentops/app/runner/agent/script"
)

// Registry returns a new registry of every built-in adapter, the real
// CLIs first in the order a default is picked (claude-code, codex,
// opencode), then script.
func Registry() *agent.Registry {
	r := agent.NewRegistry()
	r.Register(claudecode.Info, claudecode.Factory)
	r.Register(codex.Info, codex.Factory)
	r.Register(opencode.Info, opencode.Factory)
	r.Register(script.Info, script.Factory)
	return r
}
