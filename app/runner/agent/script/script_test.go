package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

func TestParseScript(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want script
	}{{
		in:   "  hello there  \n",
		want: script{quote: "hello there", chunks: 3},
	}, {
		in: "line one\n/tool bash completed {\"command\": \"ls -la\"}\n/tool write error\n\t/tool  read   [1, 2]\nline two",
		want: script{quote: "line one\nline two", chunks: 3, tools: []scriptTool{
			{name: "bash", status: "completed", args: []byte(`{"command": "ls -la"}`)},
			{name: "write", status: "error"},
			{name: "read", status: "completed", args: []byte(`[1, 2]`)},
		}},
	}, {
		in: "/tool grep not json\r\n/TOOL\nx",
		want: script{quote: "x", chunks: 3, tools: []scriptTool{
			{name: "grep", status: "completed", args: []byte(`"not json"`)},
		}},
	}, {
		in:   "/slow 25\n/sleep 7\n/chunks 12\n/chunks 0\n/slow -1\n/sleep x",
		want: script{chunks: 12, slow: 25 * time.Millisecond, sleep: 7 * time.Millisecond},
	}, {
		in:   "/chunks 999999999\n/slow 99999999999999999",
		want: script{chunks: MaxChunks, slow: scriptMaxWait},
	}, {
		in: "/ask Which one? | a | b |  | c\n/ask   \n/ask Sure?",
		want: script{chunks: 3, asks: []agent.Question{
			{Text: "Which one?", Options: []string{"a", "b", "c"}},
			{Text: "Sure?"},
		}},
	}, {
		in:   "/fail\nq",
		want: script{quote: "q", chunks: 3, fail: ptr("script failure")},
	}, {
		in:   "/fail  disk full \n/unknown thing\n/tmp/file.txt",
		want: script{chunks: 3, fail: ptr("disk full")},
	}} {
		got := parseScript(tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseScript(%q)\n got  %+v\n want %+v", tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestSplitChunks(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want []string
	}{
		{"You said: hi", 3, []string{"You ", "said", ": hi"}},
		{"abcdefghij", 4, []string{"ab", "cde", "fg", "hij"}},
		{"ab", 3, []string{"a", "b", "."}},
		{"", 2, []string{".", "."}},
		{"", 5, []string{".", ".", "."}},
		{"héé", 3, []string{"h", "é", "é"}},
		{"You said: shared", 20, strings.Split("You said: shared", "")},
		{"whole", 1, []string{"whole"}},
		{"x", 0, []string{"x"}},
	} {
		got := splitChunks(tc.s, tc.n)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitChunks(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	long := strings.Repeat("dé", 5000)
	for _, n := range []int{3, 7, 10000, MaxChunks} {
		got := splitChunks(long, n)
		if want := min(n, 10000); len(got) != want {
			t.Fatalf("%d chunks, want %d", len(got), want)
		}
		minLen, maxLen := len(long), 0
		for _, c := range got {
			l := utf8.RuneCountInString(c)
			minLen, maxLen = min(minLen, l), max(maxLen, l)
		}
		if minLen < 1 || maxLen-minLen > 1 {
			t.Errorf("n=%d: chunk lengths %d..%d", n, minLen, maxLen)
		}
		if joined := strings.Join(got, ""); joined != long {
			t.Errorf("n=%d: chunks do not rebuild the reply", n)
		}
	}
}

// recTurn records what an agent emits, without a runner.
type recTurn struct {
	mu      sync.Mutex
	events  []string
	text    strings.Builder
	final   *string
	asked   chan agent.Question
	started bool
	call    func(protocol.RunnerFrame) (map[string]json.RawMessage, error)
}

func (r *recTurn) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}
func (r *recTurn) Start() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started = true
		r.events = append(r.events, "start")
	}
	return "t", nil
}
func (r *recTurn) Text(d string) error {
	r.add("text")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text.WriteString(d)
	return nil
}
func (r *recTurn) Tool(c agent.ToolCall) error {
	r.add("tool:" + c.CallID + ":" + c.Status)
	return nil
}
func (r *recTurn) Ask(q agent.Question) (string, error) {
	r.add("ask")
	r.asked <- q
	return q.QuestionID, nil
}
func (r *recTurn) SetFinalText(s string)        { r.final = &s }
func (r *recTurn) Usage(protocol.Usage)         {}
func (r *recTurn) SetAgentSession(string) error { return nil }
func (r *recTurn) Call(ctx context.Context, req protocol.RunnerFrame) (map[string]json.RawMessage, error) {
	r.add("call:" + req.Type)
	if r.call == nil {
		return nil, errors.New("no server")
	}
	return r.call(req)
}

func TestScriptAgentDirect(t *testing.T) {
	a := New()
	if a.Name() != "script" || a.Models()[0].Models[0].ID != "script/echo" || a.Models()[0].Provider != "script" {
		t.Fatalf("name %q, models %+v", a.Name(), a.Models())
	}

	rt := &recTurn{asked: make(chan agent.Question, 1)}
	if err := a.Run(t.Context(), agent.Prompt{Content: "/tool a\n/tool b error\nhi"}, rt); err != nil {
		t.Fatal(err)
	}
	want := "tool:call_1:pending tool:call_1:running tool:call_1:completed tool:call_2:pending tool:call_2:running tool:call_2:error text text text"
	if got := strings.Join(rt.events, " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if rt.final == nil || *rt.final != rt.text.String() || rt.text.String() != "You said: hi" {
		t.Errorf("final %v, text %q", rt.final, rt.text.String())
	}

	rt = &recTurn{asked: make(chan agent.Question, 1)}
	err := a.Run(t.Context(), agent.Prompt{Content: "/fail nope"}, rt)
	if err == nil || err.Error() != "nope" || strings.Join(rt.events, " ") != "start" {
		t.Errorf("fail: err %v, events %v", err, rt.events)
	}

	// Answers are routed by question id; a canceled ask returns.
	rt = &recTurn{asked: make(chan agent.Question, 2)}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, agent.Prompt{Content: "/ask one?\n/ask two?"}, rt) }()
	q1 := <-rt.asked
	a.Answer("unknown", "ignored")
	a.Answer(q1.QuestionID, map[string]any{"k": 1})
	q2 := <-rt.asked
	if q1.QuestionID == q2.QuestionID {
		t.Fatal("two questions share an id")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ask: %v", err)
	}
	a.Answer(q2.QuestionID, "too late") // must not block or panic
}

func TestScriptMemAndPersonaDirectives(t *testing.T) {
	a := New()
	var reqs []protocol.RunnerFrame
	rt := &recTurn{asked: make(chan agent.Question, 1), call: func(req protocol.RunnerFrame) (map[string]json.RawMessage, error) {
		reqs = append(reqs, req)
		if req.Type == protocol.RMemRm {
			return nil, fmt.Errorf("%w: mem-rm: path is required", agent.ErrRPC)
		}
		return map[string]json.RawMessage{"deleted": json.RawMessage("1")}, nil
	}}
	content := "/mem write notes/a.md line one\\nline two\n/mem append notes/a.md more\n/mem search hello world\n/mem rm x\n/mem bogus\n/persona"
	persona := []protocol.PersonaFile{{Filename: "a.md", Content: "Be brief."}}
	if err := a.Run(t.Context(), agent.Prompt{Content: content, Persona: persona}, rt); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 4 || reqs[0].Type != protocol.RMemWrite || reqs[0].Content != "line one\nline two" ||
		reqs[1].Type != protocol.RMemPatch || string(reqs[1].Operations) != `[{"content":"more","op":"append"}]` ||
		reqs[2].Query != "hello world" || reqs[3].Path != "x" {
		t.Fatalf("requests: %+v", reqs)
	}
	want := "tool:mem_1:running call:mem-write tool:mem_1:completed tool:mem_2:running call:mem-patch tool:mem_2:completed " +
		"tool:mem_3:running call:mem-search tool:mem_3:completed tool:mem_4:running call:mem-rm tool:mem_4:error"
	if got := strings.Join(rt.events[:12], " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if rt.text.String() != "Persona file a.md:\nBe brief." {
		t.Errorf("reply %q", rt.text.String())
	}
	// A transport failure (not a refusal) fails the turn.
	rt = &recTurn{asked: make(chan agent.Question, 1)}
	if err := a.Run(t.Context(), agent.Prompt{Content: "/mem read"}, rt); err == nil {
		t.Fatal("a failed call must fail the turn")
	}
}
