package importer

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentops/agentops/store"
)

// batch is how many rows one transaction writes.
const batch = 200

// inBatches writes n items in transactions of batch items, reporting
// progress for table.
func (im *importer) inBatches(ctx context.Context, table string, n int, fn func(ctx context.Context, tx *store.Store, i int) error) error {
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		err := im.deps.Store.InTx(ctx, func(tx *store.Store) error {
			for i := start; i < end; i++ {
				if err := fn(ctx, tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("import %s (rows %d to %d; those before are written, run the import again to continue): %w", table, start+1, end, err)
		}
		im.progress(table, end, n)
	}
	return nil
}

// progress rewrites a table's progress line on a terminal.
func (im *importer) progress(table string, done, n int) {
	if im.opts.Progress == nil {
		return
	}
	fmt.Fprintf(im.opts.Progress, "\r%-28s %d/%d", table, done, n)
	if done == n {
		fmt.Fprintln(im.opts.Progress)
	}
}

func (im *importer) write(ctx context.Context) error {
	p := &im.p
	base := strings.TrimRight(im.opts.PublicURL, "/")
	err := im.inBatches(ctx, "users", len(p.users), func(ctx context.Context, tx *store.Store, i int) error {
		u := p.users[i]
		if err := tx.Users().Create(ctx, u); err != nil {
			return err
		}
		if p.links[u.ID] && im.deps.LoginLink != nil {
			tok, err := im.deps.LoginLink(ctx, tx, u.ID)
			if err != nil {
				return err
			}
			im.rep.Links = append(im.rep.Links, Link{Email: u.Email, URL: base + "/login/link/" + tok})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := im.inBatches(ctx, "personas", len(p.personas), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Personas().Create(ctx, p.personas[i].p, p.personas[i].files)
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "sessions", len(p.sessions), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Sessions().Create(ctx, p.sessions[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "session_git_state", len(p.gitStates), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.GitStates().Create(ctx, p.gitStates[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "session_files_changed", len(p.fileChanges), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.GitStates().InsertFile(ctx, p.fileChanges[i])
	}); err != nil {
		return err
	}
	// Messages go in multi-row inserts, a batch per transaction, with
	// seq continuing each session's transcript.
	seqs := map[string]int64{}
	for start := 0; start < len(p.messages); start += batch {
		end := min(start+batch, len(p.messages))
		err := im.deps.Store.InTx(ctx, func(tx *store.Store) error {
			part := make([]store.Message, 0, end-start)
			for _, m := range p.messages[start:end] {
				if _, ok := seqs[m.SessionID]; !ok {
					n, err := tx.Messages().MaxSeq(ctx, m.SessionID)
					if err != nil {
						return err
					}
					seqs[m.SessionID] = n
				}
				seqs[m.SessionID]++
				m.Seq = seqs[m.SessionID]
				part = append(part, *m)
			}
			return tx.Messages().InsertMany(ctx, part)
		})
		if err != nil {
			return fmt.Errorf("import messages (rows %d to %d; those before are written, run the import again to continue): %w", start+1, end, err)
		}
		im.progress("messages", end, len(p.messages))
	}
	for start := 0; start < len(p.memories); start += batch {
		part := p.memories[start:min(start+batch, len(p.memories))]
		if err := im.deps.Store.MemoryFiles().InsertMany(ctx, part); err != nil {
			return fmt.Errorf("import memories: %w", err)
		}
	}
	if err := im.inBatches(ctx, "credentials", len(p.creds), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Credentials().Upsert(ctx, p.creds[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "workflows", len(p.wfs), func(ctx context.Context, tx *store.Store, i int) error {
		w := p.wfs[i]
		if err := tx.Workflows().Insert(ctx, w); err != nil {
			return err
		}
		vs := p.versions[w.UID]
		for _, v := range vs {
			if err := tx.WorkflowVersions().Append(ctx, v); err != nil {
				return err
			}
		}
		if len(vs) > 0 && vs[len(vs)-1].Hash == w.Hash {
			return nil
		}
		return tx.WorkflowVersions().Append(ctx, &store.WorkflowVersion{ID: "import:" + w.UID, WorkflowUID: w.UID, Version: w.Version,
			Name: w.Name, Hash: w.Hash, Data: w.Data, Source: "sync", Notes: "imported from upstream", CreatedBy: w.UserID, CreatedAt: w.UpdatedAt})
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "triggers", len(p.triggers), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Triggers().Insert(ctx, p.triggers[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "workflow_executions", len(p.execs), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Executions().Insert(ctx, p.execs[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "workflow_execution_steps", len(p.steps), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.ExecutionSteps().Insert(ctx, p.steps[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "invites", len(p.invites), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.Invites().Create(ctx, p.invites[i])
	}); err != nil {
		return err
	}
	if err := im.inBatches(ctx, "api_tokens", len(p.tokens), func(ctx context.Context, tx *store.Store, i int) error {
		return tx.APITokens().Create(ctx, p.tokens[i])
	}); err != nil {
		return err
	}
	return im.writeR2(ctx)
}
