// Package fakemodel is a scripted model server for tests of the agent
// adapters: it speaks the Anthropic Messages API, OpenAI Chat Completions
// and the OpenAI Responses API (streaming, as the CLIs call them) on
// loopback, and picks each reply from the request alone.
//
// The reply depends on the latest user prompt in the request:
//
//	WRITE <absolute path> <content>  call the API's file tool (Claude Code's Write,
//	                                 OpenCode's write, Codex's exec_command with printf),
//	                                 then, once the tool result comes back, answer "done"
//	CALL <tool> <JSON arguments>     call the offered tool whose name is <tool> or ends in
//	                                 "_<tool>" (an MCP tool: Claude Code's mcp__srv__tool,
//	                                 OpenCode's srv_tool, or <tool> in a Codex namespace),
//	                                 then answer "done"
//	SLEEPTOOL                        call the API's shell tool with `sleep 60` (abort tests)
//	RECALL                           answer "history: " and every user prompt in the request,
//	                                 joined by " | " (proves the request carries earlier turns)
//	SLOW                             stream a word every 100 ms for 30 seconds
//	FAIL500                          answer HTTP 500
//	GARBAGE                          answer 200 with an event stream of invalid JSON
//	TRUNCATED                        answer 200 application/json with a cut-off body
//	anything else                    answer "ok"
//
// Every request is recorded; tests read them with Requests.
package fakemodel

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is one model request as the server saw it.
type Request struct {
	API     string   // "anthropic", "chat", "responses"
	Prompts []string // the user prompts it carried, oldest first
	Tools   []string // tool names offered
	Body    json.RawMessage
	Header  http.Header
}

// Server is a running fake model.
type Server struct {
	URL string // http://127.0.0.1:PORT (no /v1)
	srv *httptest.Server

	mu   sync.Mutex
	reqs []Request
	// issued maps the prompts of a request that got a tool call to how
	// many tool results that request held (see settle).
	issued map[string]int
}

// Start serves on loopback until Close.
func Start() *Server {
	s := &Server{issued: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.anthropic)
	mux.HandleFunc("POST /v1/messages/count_tokens", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"input_tokens": 10})
	})
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/responses", s.responses)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "list", "data": []any{}, "models": []any{}})
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server; requests in flight are cut off.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Requests returns the requests so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// RequestsWith returns the requests whose latest prompt contains substr.
func (s *Server) RequestsWith(substr string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if len(r.Prompts) > 0 && strings.Contains(r.Prompts[len(r.Prompts)-1], substr) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
}

// plan is what to answer.
type plan struct {
	kind    string // text, tool, call, sleep, slow, fail500, garbage, truncated
	text    string
	tool    string          // call: the tool's name (suffix)
	args    json.RawMessage // call
	path    string          // tool
	content string          // tool
}

// decide picks the reply from the latest prompt and whether the last
// message is a tool result.
func decide(prompts []string, toolDone bool) plan {
	if toolDone {
		return plan{kind: "text", text: "done"}
	}
	last := ""
	if len(prompts) > 0 {
		last = prompts[len(prompts)-1]
	}
	switch {
	case strings.Contains(last, "FAIL500"):
		return plan{kind: "fail500"}
	case strings.Contains(last, "GARBAGE"):
		return plan{kind: "garbage"}
	case strings.Contains(last, "TRUNCATED"):
		return plan{kind: "truncated"}
	case strings.Contains(last, "SLEEPTOOL"):
		return plan{kind: "sleep"}
	case strings.Contains(last, "SLOW"):
		return plan{kind: "slow"}
	case strings.Contains(last, "RECALL"):
		return plan{kind: "text", text: "history: " + strings.Join(prompts, " | ")}
	}
	if i := strings.Index(last, "CALL "); i >= 0 {
		name, args, _ := strings.Cut(strings.TrimSpace(last[i+len("CALL "):]), " ")
		args = strings.TrimSpace(args)
		if args == "" {
			args = "{}"
		}
		if json.Valid([]byte(args)) {
			return plan{kind: "call", tool: name, args: json.RawMessage(args)}
		}
	}
	if i := strings.Index(last, "WRITE "); i >= 0 {
		f := strings.Fields(last[i+len("WRITE "):])
		if len(f) >= 2 {
			return plan{kind: "tool", path: f[0], content: f[1]}
		}
	}
	return plan{kind: "text", text: "ok"}
}

// findTool picks the offered tool for a CALL: the name itself, or one
// that ends in "_"+name (MCP prefixes). Codex's namespaced tools are
// recorded as namespace+"__"+name; the namespace is returned apart.
func findTool(offered []string, name string) (full, namespace, short string) {
	for _, t := range offered {
		if ns, n, ok := strings.Cut(t, "\x00"); ok {
			if n == name {
				return ns + "__" + n, ns, n
			}
			continue
		}
		if t == name || strings.HasSuffix(t, "_"+name) {
			return t, "", t
		}
	}
	return "", "", ""
}

// settle turns a tool or CALL plan into the final "done" once a tool
// result came back for the call this server made for these prompts: the
// CLIs merge and reorder history (Claude Code puts a later prompt beside
// an earlier tool result), so the position of a result says too little;
// its count does.
func (s *Server) settle(p plan, prompts []string, body json.RawMessage) plan {
	if p.kind != "tool" && p.kind != "call" {
		return p
	}
	key := strings.Join(prompts, "\x00")
	n := countResults(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if before, ok := s.issued[key]; ok && n > before {
		return plan{kind: "text", text: "done"}
	}
	s.issued[key] = n
	return p
}

// countResults counts the tool results in a request of any of the three
// APIs.
func countResults(body json.RawMessage) int {
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Input []struct {
			Type string `json:"type"`
		} `json:"input"`
	}
	_ = json.Unmarshal(body, &req)
	n := 0
	for _, m := range req.Messages {
		if m.Role == "tool" {
			n++
			continue
		}
		var blocks []struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(m.Content, &blocks) == nil {
			for _, b := range blocks {
				if b.Type == "tool_result" {
					n++
				}
			}
		}
	}
	for _, it := range req.Input {
		if it.Type == "function_call_output" {
			n++
		}
	}
	return n
}

// isPrompt tells a person's prompt from text the CLIs add to user
// messages (reminders, environment blocks).
func isPrompt(text string) bool {
	t := strings.TrimSpace(text)
	return t != "" && !strings.HasPrefix(t, "<")
}

// failModes answers the plans that are not a stream; true when done.
func failModes(w http.ResponseWriter, p plan) bool {
	switch p.kind {
	case "fail500":
		http.Error(w, "scripted failure", http.StatusInternalServerError)
	case "garbage":
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {this is not json\n\n")
	case "truncated":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","ty`)
	default:
		return false
	}
	return true
}

// sse writes server-sent events and flushes each.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

func (s *sse) send(event string, v any) {
	data, _ := json.Marshal(v)
	if event != "" {
		fmt.Fprintf(s.w, "event: %s\n", event)
	}
	fmt.Fprintf(s.w, "data: %s\n\n", data)
	if s.f != nil {
		s.f.Flush()
	}
}

func (s *sse) raw(line string) {
	fmt.Fprintf(s.w, "data: %s\n\n", line)
	if s.f != nil {
		s.f.Flush()
	}
}

// slowWords streams words until 30 seconds pass or the client goes.
func slowWords(r *http.Request, emit func(string)) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	end := time.After(30 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-r.Context().Done():
			return
		case <-end:
			return
		case <-t.C:
			emit(fmt.Sprintf("word%d ", i))
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func readBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		http.Error(w, "bad body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// ---- Anthropic Messages ----

type anthropicReq struct {
	Stream   bool `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

type block struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *Server) anthropic(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req anthropicReq
	_ = json.Unmarshal(body, &req)
	var prompts, tools []string
	toolDone := false
	// The tool is done when a tool result came after the latest prompt.
	for _, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		for _, b := range contentBlocks(m.Content) {
			if b.Type == "tool_result" {
				toolDone = true
			}
			if b.Type == "text" && isPrompt(b.Text) {
				prompts = append(prompts, b.Text)
				toolDone = false
			}
		}
	}
	for _, t := range req.Tools {
		tools = append(tools, t.Name)
	}
	s.record(Request{API: "anthropic", Prompts: prompts, Tools: tools, Body: body, Header: r.Header.Clone()})
	p := s.settle(decide(prompts, toolDone), prompts, body)
	if len(tools) == 0 && (p.kind == "tool" || p.kind == "call") { // a side request (a title, say)
		p = plan{kind: "text", text: "ok"}
	}
	if failModes(w, p) {
		return
	}
	msg := map[string]any{"id": "msg_fake", "type": "message", "role": "assistant", "model": "fake-model",
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0}}
	if !req.Stream {
		switch p.kind {
		case "tool":
			msg["content"] = []any{map[string]any{"type": "tool_use", "id": "toolu_fake1", "name": "Write",
				"input": map[string]any{"file_path": p.path, "content": p.content}}}
			msg["stop_reason"] = "tool_use"
		default:
			msg["content"] = []any{map[string]any{"type": "text", "text": p.text}}
			msg["stop_reason"] = "end_turn"
		}
		writeJSON(w, msg)
		return
	}
	e := newSSE(w)
	e.send("message_start", map[string]any{"type": "message_start", "message": msg})
	stop := "end_turn"
	switch p.kind {
	case "tool":
		input, _ := json.Marshal(map[string]any{"file_path": p.path, "content": p.content})
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_fake%d", time.Now().UnixNano()), "name": "Write", "input": map[string]any{}}})
		e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
		stop = "tool_use"
	case "call":
		name, _, _ := findTool(tools, p.tool)
		if name == "" {
			name = p.tool
		}
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_call%d", time.Now().UnixNano()), "name": name, "input": map[string]any{}}})
		e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": string(p.args)}})
		stop = "tool_use"
	case "sleep":
		input, _ := json.Marshal(map[string]any{"command": "python3 -c \"import time; time.sleep(60)\"", "description": "wait"})
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_sleep%d", time.Now().UnixNano()), "name": "Bash", "input": map[string]any{}}})
		e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
		stop = "tool_use"
	case "slow":
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		slowWords(r, func(word string) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": word}})
		})
	default:
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		for _, piece := range split(p.text) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": piece}})
		}
	}
	e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	e.send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": 7}})
	e.send("message_stop", map[string]any{"type": "message_stop"})
}

// split cuts a text into two pieces so that clients see more than one
// delta.
func split(text string) []string {
	if len(text) < 2 {
		return []string{text}
	}
	h := len(text) / 2
	for h > 0 && !utf8Start(text[h]) {
		h--
	}
	return []string{text[:h], text[h:]}
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// ---- OpenAI Chat Completions ----

type chatReq struct {
	Stream   bool `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req chatReq
	_ = json.Unmarshal(body, &req)
	var prompts, tools []string
	for _, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		for _, b := range contentBlocks(m.Content) {
			if b.Type == "text" && isPrompt(b.Text) {
				prompts = append(prompts, b.Text)
			}
		}
	}
	for _, t := range req.Tools {
		tools = append(tools, t.Function.Name)
	}
	toolDone := len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "tool"
	s.record(Request{API: "chat", Prompts: prompts, Tools: tools, Body: body, Header: r.Header.Clone()})
	p := s.settle(decide(prompts, toolDone), prompts, body)
	if len(tools) == 0 && p.kind != "fail500" && p.kind != "garbage" && p.kind != "truncated" {
		p = plan{kind: "text", text: "ok"} // a title request
	}
	if failModes(w, p) {
		return
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": "m",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	e := newSSE(w)
	e.send("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	finish := "stop"
	switch p.kind {
	case "tool":
		args, _ := json.Marshal(map[string]any{"filePath": p.path, "content": p.content})
		e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": fmt.Sprintf("call_fake%d", time.Now().UnixNano()),
			"type": "function", "function": map[string]any{"name": "write", "arguments": string(args)}}}}, nil))
		finish = "tool_calls"
	case "call":
		name, _, _ := findTool(tools, p.tool)
		if name == "" {
			name = p.tool
		}
		e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": fmt.Sprintf("call_mcp%d", time.Now().UnixNano()),
			"type": "function", "function": map[string]any{"name": name, "arguments": string(p.args)}}}}, nil))
		finish = "tool_calls"
	case "sleep":
		args, _ := json.Marshal(map[string]any{"command": "sleep 60", "description": "wait"})
		e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": fmt.Sprintf("call_sleep%d", time.Now().UnixNano()),
			"type": "function", "function": map[string]any{"name": "bash", "arguments": string(args)}}}}, nil))
		finish = "tool_calls"
	case "slow":
		slowWords(r, func(word string) { e.send("", chunk(map[string]any{"content": word}, nil)) })
	default:
		for _, piece := range split(p.text) {
			e.send("", chunk(map[string]any{"content": piece}, nil))
		}
	}
	e.send("", chunk(map[string]any{}, finish))
	e.send("", map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": "m",
		"choices": []any{}, "usage": map[string]any{"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}})
	e.raw("[DONE]")
}

// ---- OpenAI Responses ----

type responsesReq struct {
	Input []struct {
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"input"`
	Tools []struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"` // a namespace's
	} `json:"tools"`
}

func (s *Server) responses(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req responsesReq
	_ = json.Unmarshal(body, &req)
	var prompts, tools []string
	for _, it := range req.Input {
		if it.Role != "user" || (it.Type != "" && it.Type != "message") {
			continue
		}
		var str string
		var blocks []block
		if json.Unmarshal(it.Content, &str) == nil {
			blocks = []block{{Type: "input_text", Text: str}}
		} else {
			_ = json.Unmarshal(it.Content, &blocks)
		}
		for _, b := range blocks {
			if (b.Type == "input_text" || b.Type == "text") && isPrompt(b.Text) {
				prompts = append(prompts, b.Text)
			}
		}
	}
	var lookup []string // namespace tools as namespace NUL name
	for _, t := range req.Tools {
		if t.Type == "namespace" {
			for _, sub := range t.Tools {
				tools = append(tools, t.Name+"__"+sub.Name)
				lookup = append(lookup, t.Name+"\x00"+sub.Name)
			}
			continue
		}
		tools = append(tools, t.Name)
		lookup = append(lookup, t.Name)
	}
	toolDone := len(req.Input) > 0 && req.Input[len(req.Input)-1].Type == "function_call_output"
	s.record(Request{API: "responses", Prompts: prompts, Tools: tools, Body: body, Header: r.Header.Clone()})
	p := s.settle(decide(prompts, toolDone), prompts, body)
	if failModes(w, p) {
		return
	}
	id := fmt.Sprintf("resp_fake%d", time.Now().UnixNano())
	e := newSSE(w)
	e.send("response.created", map[string]any{"type": "response.created", "response": map[string]any{"id": id, "object": "response", "status": "in_progress", "output": []any{}}})
	var item map[string]any
	switch p.kind {
	case "tool":
		cmd := fmt.Sprintf("printf %%s %s > %s", shellQuote(p.content), shellQuote(p.path))
		args, _ := json.Marshal(map[string]any{"cmd": cmd})
		item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": "call_" + id, "name": "exec_command",
			"arguments": string(args), "status": "completed"}
	case "call":
		_, ns, name := findTool(lookup, p.tool)
		if name == "" {
			name = p.tool
		}
		item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": "call_" + id, "name": name,
			"arguments": string(p.args), "status": "completed"}
		if ns != "" {
			item["namespace"] = ns
		}
	case "sleep":
		args, _ := json.Marshal(map[string]any{"cmd": "sleep 60"})
		item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": "call_" + id, "name": "exec_command",
			"arguments": string(args), "status": "completed"}
	case "slow":
		msgItem := map[string]any{"type": "message", "id": "msg_" + id, "role": "assistant", "status": "in_progress", "content": []any{}}
		e.send("response.output_item.added", map[string]any{"type": "response.output_item.added", "output_index": 0, "item": msgItem})
		slowWords(r, func(word string) {
			e.send("response.output_text.delta", map[string]any{"type": "response.output_text.delta", "item_id": "msg_" + id,
				"output_index": 0, "content_index": 0, "delta": word})
		})
		return
	default:
		item = map[string]any{"type": "message", "id": "msg_" + id, "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": p.text, "annotations": []any{}}}}
	}
	e.send("response.output_item.added", map[string]any{"type": "response.output_item.added", "output_index": 0, "item": item})
	e.send("response.output_item.done", map[string]any{"type": "response.output_item.done", "output_index": 0, "item": item})
	e.send("response.completed", map[string]any{"type": "response.completed", "response": map[string]any{"id": id, "object": "response",
		"status": "completed", "output": []any{item},
		"usage": map[string]any{"input_tokens": 20, "input_tokens_details": map[string]any{"cached_tokens": 3},
			"output_tokens": 7, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": 27}}})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// contentBlocks reads a message's content, which both APIs send either as
// a plain string or as a list of typed blocks.
func contentBlocks(raw json.RawMessage) []block {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return []block{{Type: "text", Text: str}}
	}
	var blocks []block
	_ = json.Unmarshal(raw, &blocks)
	return blocks
}
