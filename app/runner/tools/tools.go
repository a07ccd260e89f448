// Package tools is the bridge between a coding agent's MCP client and its
// runner: `agentops runner mcp` is a stdio MCP server (ServeMCP) that each
// agent CLI is configured with; every tool call it gets goes over a local
// unix socket to the runner (Bridge), which answers it with the session
// owner's memory (the runner's mem-* RPCs) or a question to the session's
// browsers.
//
// The socket speaks JSON lines: a Request per line from the MCP server, a
// Response per line from the runner, matched by id; calls may overlap.
//
// Like the runner, this package imports app/protocol and nothing of the
// server.
package tools

import (
	"encoding/json"
	"sync"
	"time"
)

// ServerName is the MCP server's name in each CLI's configuration; the
// CLIs show its tools as mcp__agentops__memory_read (Claude Code),
// agentops_memory_read (OpenCode) or memory_read in the mcp__agentops
// namespace (Codex).
const ServerName = "agentops"

// Tool names, exactly as the agents are offered them (before each CLI's
// prefix).
const (
	MemoryRead   = "memory_read"
	MemoryWrite  = "memory_write"
	MemoryPatch  = "memory_patch"
	MemoryDelete = "memory_delete"
	MemorySearch = "memory_search"
	AskUser      = "ask_user"
	// PermissionPrompt is Claude Code's permission-prompt tool
	// (--permission-prompt-tool mcp__agentops__permission_prompt): it
	// asks the session's owner to approve an edit or command.
	PermissionPrompt = "permission_prompt"
)

// NoAnswer starts the result of an ask_user whose question expired.
const NoAnswer = "No answer: nobody answered the question before it expired."

// CallTimeout is how long a CLI is told to wait for one tool call: longer
// than a question's expiry (5 minutes) or an approval's (10), so that ask_user ends
// with an answer or NoAnswer, not with the CLI's own timeout.
const CallTimeout = 30 * time.Minute

// Spec is one tool as the MCP server lists it.
type Spec struct {
	Name        string
	Description string
	Schema      json.RawMessage // JSON Schema of the arguments (draft 2020-12)
}

// Specs are the tools every agent is offered.
var Specs = []Spec{
	{MemoryRead, "Read a file of your person's memory (it persists across sessions), or list a directory of it when path ends with /. An empty path lists everything.",
		obj(`"path":{"type":"string","description":"memory path, e.g. notes/project.md or notes/"}`)},
	{MemoryWrite, "Create or replace a file in your person's memory (it persists across sessions).",
		obj(`"path":{"type":"string","description":"memory path, e.g. notes/project.md"},"content":{"type":"string","description":"the whole new content"}`, "path", "content")},
	{MemoryPatch, "Edit a file of your person's memory with operations: {op:\"append\",content}, {op:\"prepend\",content}, {op:\"replace\",old,new}, {op:\"insert_after\",anchor,content}, {op:\"delete_section\",heading}.",
		obj(`"path":{"type":"string"},"operations":{"type":"array","items":{"type":"object"},"description":"edit operations, applied in order"}`, "path", "operations")},
	{MemoryDelete, "Delete a file of your person's memory (or every file under a directory path ending with /).",
		obj(`"path":{"type":"string"}`, "path")},
	{MemorySearch, "Full-text search of your person's memory; returns matching files with snippets, best first.",
		obj(`"query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":50,"description":"at most this many results (default 10)"}`, "query")},
	{AskUser, "Ask your person a question and wait for the answer (use it when you are stuck or need a decision). With options, they pick one.",
		obj(`"question":{"type":"string"},"options":{"type":"array","items":{"type":"string"},"description":"choices to offer, optional"}`, "question")},
}

// PermissionSpec is the permission-prompt tool; it is served only to the
// CLI that uses it (agentops runner mcp --permission-prompt).
var PermissionSpec = Spec{PermissionPrompt, "Internal: asks the session's owner to approve a tool call. Not for the model.",
	json.RawMessage(`{"type":"object","properties":{"tool_name":{"type":"string"},"input":{"type":"object"},"tool_use_id":{"type":"string"}},"required":["tool_name","input"]}`)}

func obj(props string, required ...string) json.RawMessage {
	req, _ := json.Marshal(required)
	if required == nil {
		req = []byte("[]")
	}
	return json.RawMessage(`{"type":"object","properties":{` + props + `},"required":` + string(req) + `,"additionalProperties":false}`)
}

// Request is one tool call on the socket.
type Request struct {
	ID   int64           `json:"id"`
	Tool string          `json:"tool"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response answers a Request. IsError marks a result the agent should
// read as the tool failing (bad arguments, the server refused).
type Response struct {
	ID      int64  `json:"id"`
	Text    string `json:"text"`
	IsError bool   `json:"isError,omitempty"`
}

// Result is what a Handler returns for one call.
type Result struct {
	Text    string
	IsError bool
}

// Errorf is a tool error result.
func Errorf(text string) Result { return Result{Text: text, IsError: true} }

// Waits tracks the tool calls that wait for a person, for the agent's
// no-progress deadline (agent.Deadlines.LastWait).
type Waits struct {
	mu      sync.Mutex
	waiting int
	last    time.Time
}

// Begin marks a wait's start; call End when it is over.
func (w *Waits) Begin() {
	w.mu.Lock()
	w.waiting++
	w.mu.Unlock()
}

// End marks a wait's end.
func (w *Waits) End() {
	w.mu.Lock()
	w.waiting--
	w.last = time.Now()
	w.mu.Unlock()
}

// Last is when a call last waited: now while one waits.
func (w *Waits) Last() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting > 0 {
		return time.Now()
	}
	return w.last
}
