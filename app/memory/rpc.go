package memory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// RPCs serves the runner's mem-* frames for a session's owner (it
// satisfies session.RPCs). The results carry upstream's fields:
// mem-read {file|files}, mem-write {file}, mem-patch {result},
// mem-rm {deleted}, mem-search {results}.
type RPCs struct{ svc *Service }

// RPCs returns the runner RPC handler of the service.
func (s *Service) RPCs() *RPCs { return &RPCs{svc: s} }

// Handles reports whether frameType is a mem-* RPC.
func (*RPCs) Handles(frameType string) bool {
	switch frameType {
	case protocol.RMemRead, protocol.RMemWrite, protocol.RMemPatch, protocol.RMemRm, protocol.RMemSearch:
		return true
	}
	return false
}

// Handle runs one mem-* RPC on tx.
func (h *RPCs) Handle(ctx context.Context, tx *store.Store, userID string, f *protocol.RunnerFrame) (map[string]any, error) {
	svc := h.svc.In(tx)
	switch f.Type {
	case protocol.RMemRead:
		file, list, err := svc.Read(ctx, userID, f.Path)
		if err != nil {
			return nil, err
		}
		if list != nil || isDir(f.Path) {
			return map[string]any{"files": Listings(list)}, nil
		}
		return map[string]any{"file": View(file)}, nil
	case protocol.RMemWrite:
		file, err := svc.Write(ctx, userID, f.Path, f.Content)
		if err != nil {
			return nil, err
		}
		return map[string]any{"file": View(file)}, nil
	case protocol.RMemPatch:
		var ops []Op
		if len(f.Operations) == 0 {
			return nil, apperr.Invalid("operations", "operations is required")
		}
		if err := json.Unmarshal(f.Operations, &ops); err != nil {
			return nil, apperr.Invalid("operations", "operations must be an array of {op, …}: %v", err)
		}
		res, err := svc.Patch(ctx, userID, f.Path, ops)
		if err != nil {
			return nil, err
		}
		return map[string]any{"result": res}, nil
	case protocol.RMemRm:
		n, err := svc.Delete(ctx, userID, f.Path)
		if err != nil {
			return nil, err
		}
		return map[string]any{"deleted": n}, nil
	case protocol.RMemSearch:
		res, err := svc.Search(ctx, userID, f.Query, f.Path, f.Limit)
		if err != nil {
			return nil, err
		}
		return map[string]any{"results": res}, nil
	}
	return nil, fmt.Errorf("memory: %s is not a memory RPC", f.Type)
}
