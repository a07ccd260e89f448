package importer

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/store"
)

// The satellites of sessions and executions: git state, changed files and
// execution steps. They are imported with the rows they belong to (not
// for sessions or executions imported by an earlier run).

func (im *importer) planGitState(ctx context.Context) error {
	newSessions := map[string]bool{}
	for _, s := range im.p.sessions {
		newSessions[s.ID] = true
	}
	if _, ok := im.cols["session_git_state"]; ok {
		rows, err := im.readTable(ctx, "session_git_state")
		if err != nil {
			return err
		}
		tr := im.rep.table("session_git_state")
		now := im.opts.Now().UTC()
		for _, r := range rows {
			fixed := false
			sid := im.p.sessID[r.str("session_id", nil)]
			if !newSessions[sid] {
				tr.skip("session not imported by this run")
				continue
			}
			created := orTime(r.time("created_at"), now)
			g := &store.SessionGitState{SessionID: sid, SourceType: r.str("source_type", nil), SourcePRNumber: int(r.int("source_pr_number")),
				SourceIssueNumber: int(r.int("source_issue_number")), SourceRepoFullName: r.str("source_repo_full_name", &fixed),
				SourceRepoURL: r.str("source_repo_url", &fixed), Ref: r.str("ref", &fixed), Branch: r.str("branch", &fixed),
				BaseBranch: r.str("base_branch", &fixed), CommitCount: int(r.int("commit_count")), PRNumber: int(r.int("pr_number")),
				PRTitle: r.str("pr_title", &fixed), PRState: r.str("pr_state", nil), PRURL: r.str("pr_url", &fixed),
				PRCreatedAt: r.time("pr_created_at"), PRMergedAt: r.time("pr_merged_at"),
				AgentAuthored: r.null("agent_authored") || r.bool("agent_authored"), CreatedAt: created, UpdatedAt: orTime(r.time("updated_at"), created)}
			if fixed {
				im.rep.problem("git state of session %s: NUL characters or invalid UTF-8 removed", sid)
			}
			newSessions[sid] = false // one per session
			im.p.gitStates = append(im.p.gitStates, g)
			tr.ToImport++
		}
		for _, s := range im.p.sessions {
			newSessions[s.ID] = true
		}
	}
	if _, ok := im.cols["session_files_changed"]; ok {
		rows, err := im.readTable(ctx, "session_files_changed")
		if err != nil {
			return err
		}
		tr := im.rep.table("session_files_changed")
		now := im.opts.Now().UTC()
		seen := map[string]bool{}
		for _, r := range rows {
			fixed := false
			sid := im.p.sessID[r.str("session_id", nil)]
			path := r.str("file_path", &fixed)
			switch {
			case !newSessions[sid]:
				tr.skip("session not imported by this run")
				continue
			case path == "" || seen[sid+"\x00"+path]:
				tr.skip("empty or duplicate path")
				continue
			}
			seen[sid+"\x00"+path] = true
			status := r.str("status", nil)
			switch status {
			case "added", "modified", "deleted", "renamed":
			default:
				status = "modified"
			}
			created := orTime(r.time("created_at"), now)
			im.p.fileChanges = append(im.p.fileChanges, &store.SessionFileChange{SessionID: sid, FilePath: path, Status: status,
				Additions: int(max(0, r.int("additions"))), Deletions: int(max(0, r.int("deletions"))),
				CreatedAt: created, UpdatedAt: orTime(r.time("updated_at"), created)})
			tr.ToImport++
		}
	}
	return nil
}

func (im *importer) planSteps(ctx context.Context) error {
	if _, ok := im.cols["workflow_execution_steps"]; !ok {
		return nil
	}
	rows, err := im.readTable(ctx, "workflow_execution_steps")
	if err != nil {
		return err
	}
	tr := im.rep.table("workflow_execution_steps")
	newExecs := map[string]bool{}
	for _, e := range im.p.execs {
		newExecs[e.ID] = true
	}
	now := im.opts.Now().UTC()
	// Upstream orders steps by attempt, then insertion (rowid; the rows
	// are read in rowid order): agentops keeps that order in seq.
	sort.SliceStable(rows, func(a, b int) bool {
		return rows[a].int("attempt") < rows[b].int("attempt")
	})
	seq := map[string]int64{}
	seen := map[string]bool{}
	for _, r := range rows {
		fixed := false
		eid := r.str("execution_id", nil)
		key := eid + "\x00" + r.str("step_id", nil) + "\x00" + r.str("attempt", nil)
		switch {
		case !newExecs[eid]:
			tr.skip("execution not imported by this run")
			continue
		case r.str("id", nil) == "" || r.str("step_id", nil) == "" || seen[key]:
			tr.skip("without an id or duplicate")
			continue
		}
		seen[key] = true
		seq[eid]++
		status := r.str("status", nil)
		switch status {
		case store.ExecCompleted, store.ExecFailed, store.ExecCancelled, store.ExecSkipped:
		default:
			status = store.ExecCancelled
		}
		js := func(col string) json.RawMessage {
			b := jsonnul.Replace([]byte(r.str(col, nil)))
			if len(b) == 0 || !json.Valid(b) {
				return nil
			}
			return b
		}
		im.p.steps = append(im.p.steps, &store.ExecutionStep{ID: r.str("id", nil), ExecutionID: eid, Seq: seq[eid],
			StepID: r.str("step_id", &fixed), Attempt: int(max(1, r.int("attempt"))), Status: status, Input: js("input_json"),
			Output: js("output_json"), Error: r.str("error", &fixed), StartedAt: r.time("started_at"), CompletedAt: r.time("completed_at"),
			CreatedAt: orTime(r.time("created_at"), now)})
		tr.ToImport++
	}
	return nil
}
