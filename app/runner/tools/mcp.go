package tools

import (
	"context"
	"encoding/json"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServeMCP serves the tools as an MCP server over in/out (the CLI's pipes
// to `agentops runner mcp`) until the client closes them or ctx ends. Each
// call goes to the runner's socket at socketPath; a runner that cannot be
// reached makes the call a tool error, at once. Malformed JSON-RPC gets a
// JSON-RPC error and the server goes on.
func ServeMCP(ctx context.Context, in io.ReadCloser, out io.WriteCloser, socketPath, version string) error {
	cl := &Client{Path: socketPath}
	defer func() { _ = cl.Close() }()
	s := NewMCPServer(cl, version)
	return s.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
}

// NewMCPServer builds the MCP server for the tools, forwarding calls to
// cl.
func NewMCPServer(cl *Client, version string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "agentops", Version: version}, nil)
	for _, sp := range Specs {
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
