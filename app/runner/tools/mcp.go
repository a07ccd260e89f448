package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServeMCP serves the tools as an MCP server over in/out (the CLI's pipes
// to `agentops runner mcp`) until the client closes them or ctx ends. Each
// call goes to the runner's socket at socketPath; a runner that cannot be
// reached makes the call a tool error, at once. Malformed JSON-RPC gets a
// JSON-RPC error and the server goes on.
func ServeMCP(ctx context.Context, in io.ReadCloser, out io.WriteCloser, socketPath, version string, extra ...Spec) error {
	cl := &Client{Path: socketPath}
	defer func() { _ = cl.Close() }()
	s := NewMCPServer(cl, version, extra...)
	w := &lockedWriter{w: out}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() { // ends when in does; closing in on return ends it
		defer close(done)
		_ = pw.CloseWithError(filterLines(in, pw, w))
	}()
	err := s.Run(ctx, &mcp.IOTransport{Reader: pr, Writer: w})
	_ = in.Close()
	_ = pr.Close()
	<-done
	return err
}

// filterLines copies in's lines to pw, answering each line that is not
// JSON with a JSON-RPC parse error itself (the SDK would end the
// session on it).
func filterLines(in io.Reader, pw io.Writer, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !json.Valid(line) {
			if _, err := out.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: the request is not JSON"}}` + "\n")); err != nil {
				return err
			}
			continue
		}
		if _, err := pw.Write(append(append([]byte(nil), line...), '\n')); err != nil {
			return err
		}
	}
	return sc.Err()
}

// lockedWriter serializes whole-line writes from the SDK and the filter.
type lockedWriter struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return l.w.Close() }

// NewMCPServer builds the MCP server for the tools, forwarding calls to
// cl.
func NewMCPServer(cl *Client, version string, extra ...Spec) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "agentops", Version: version}, nil)
	for _, sp := range append(append([]Spec(nil), Specs...), extra...) {
		name := sp.Name
		s.AddTool(&mcp.Tool{Name: name, Description: sp.Description, InputSchema: sp.Schema},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				args := req.Params.Arguments
				if len(args) == 0 {
					args = json.RawMessage("{}")
				}
				res, err := cl.Call(ctx, name, args)
				if err != nil {
					res = Errorf(err.Error())
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Text}}, IsError: res.IsError}, nil
			})
	}
	return s
}
