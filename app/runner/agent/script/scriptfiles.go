package script

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// scriptFileOp is one of the script agent's workspace directives:
// /write, /write-base64, /delete, /rename, /commit.
type scriptFileOp struct {
	op      string // write | delete | rename | commit
	path    string
	to      string // rename
	content []byte // write
	message string // commit
}

// parseFileOp reads the arguments of a workspace directive.
func parseFileOp(name, rest string) (scriptFileOp, bool) {
	switch name {
	case "write":
		p, text := cutSpace(rest)
		return scriptFileOp{op: "write", path: p, content: []byte(strings.ReplaceAll(text, `\n`, "\n"))}, p != ""
	case "write-base64":
		p, data := cutSpace(rest)
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		return scriptFileOp{op: "write", path: p, content: b}, p != "" && err == nil
	case "delete":
		p := strings.TrimSpace(rest)
		return scriptFileOp{op: "delete", path: p}, p != ""
	case "rename":
		from, to := cutSpace(rest)
		to = strings.TrimSpace(to)
		return scriptFileOp{op: "rename", path: from, to: to}, from != "" && to != "" && !strings.ContainsAny(to, " \t")
	case "commit":
		msg := strings.TrimSpace(rest)
		if msg == "" {
			msg = "script agent commit"
		}
		return scriptFileOp{op: "commit", message: msg}, true
	}
	return scriptFileOp{}, false
}

// cleanRel checks that p is a relative path inside the workspace.
func cleanRel(p string) (string, error) {
	c := path.Clean(filepath.ToSlash(p))
	if path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") || c == ".git" || strings.HasPrefix(c, ".git/") {
		return "", fmt.Errorf("%q is not a path inside the workspace", p)
	}
	return c, nil
}

// apply runs the operation in the workspace. Every path goes through
// os.Root, so neither ".." nor a symbolic link reaches outside it.
func (o scriptFileOp) apply(ctx context.Context, p agent.Prompt) (json.RawMessage, error) {
	if p.Workspace == "" {
		return nil, errors.New("the runner has no workspace")
	}
	if o.op == "commit" {
		return o.commit(ctx, p)
	}
	root, err := os.OpenRoot(p.Workspace)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rel, err := cleanRel(o.path)
	if err != nil {
		return nil, err
	}
	switch o.op {
	case "write":
		if dir := path.Dir(rel); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		if err := root.WriteFile(rel, o.content, 0o644); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"path": rel, "bytes": len(o.content)})
	case "delete":
		if err := root.Remove(rel); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"path": rel})
	case "rename":
		to, err := cleanRel(o.to)
		if err != nil {
			return nil, err
		}
		if dir := path.Dir(to); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		if err := root.Rename(rel, to); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"path": to, "oldPath": rel})
	}
	return nil, fmt.Errorf("unknown operation %s", o.op)
}

// commit commits everything in the workspace as the prompt's author.
func (o scriptFileOp) commit(ctx context.Context, p agent.Prompt) (json.RawMessage, error) {
	name, email := p.GitName, p.GitEmail
	if name == "" {
		name = "script agent"
	}
	if email == "" {
		email = "script@agentops.invalid"
	}
	git := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=" + name, "-c", "user.email=" + email}, args...)...)
		c.Dir = p.Workspace
		out, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := git("add", "--all"); err != nil {
		return nil, err
	}
	if _, err := git("commit", "--quiet", "--no-verify", "-m", o.message); err != nil {
		return nil, err
	}
	sha, err := git("rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"commit": sha})
}

// runFileOps applies the workspace directives in order, each reported as
// a tool call named after it (call ids file_1, file_2, …).
func runFileOps(ctx context.Context, p agent.Prompt, out agent.Turn, ops []scriptFileOp) error {
	for i, o := range ops {
		args, _ := json.Marshal(map[string]any{"path": o.path, "to": o.to, "message": o.message})
		call := agent.ToolCall{CallID: fmt.Sprintf("file_%d", i+1), ToolName: o.op, Args: args, Status: protocol.ToolRunning}
		if err := out.Tool(call); err != nil {
			return err
		}
		res, err := o.apply(ctx, p)
		if err != nil {
			call.Status, call.Error = protocol.ToolError, err.Error()
		} else {
			call.Status, call.Result = protocol.ToolCompleted, res
		}
		if err := out.Tool(call); err != nil {
			return err
		}
	}
	return nil
}
