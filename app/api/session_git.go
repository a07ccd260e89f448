package api

import (
	"net/http"

	"github.com/agentops/agentops/store"
)

// gitStateJSON is upstream's session git state, with agentops' additions
// (repoPath, baseCommit, headCommit, dirtyFiles, reportedAt).
type gitStateJSON struct {
	SessionID          string  `json:"sessionId"`
	SourceType         *string `json:"sourceType"`
	SourcePRNumber     *int    `json:"sourcePrNumber"`
	SourceIssueNumber  *int    `json:"sourceIssueNumber"`
	SourceRepoFullName *string `json:"sourceRepoFullName"`
	SourceRepoURL      *string `json:"sourceRepoUrl"`
	RepoPath           *string `json:"repoPath"`
	Branch             *string `json:"branch"`
	Ref                *string `json:"ref"`
	BaseBranch         *string `json:"baseBranch"`
	BaseCommit         *string `json:"baseCommit"`
	HeadCommit         *string `json:"headCommit"`
	CommitCount        int     `json:"commitCount"`
	DirtyFiles         int     `json:"dirtyFiles"`
	PRNumber           *int    `json:"prNumber"`
	PRTitle            *string `json:"prTitle"`
	PRState            *string `json:"prState"`
	PRURL              *string `json:"prUrl"`
	PRCreatedAt        *string `json:"prCreatedAt"`
	PRMergedAt         *string `json:"prMergedAt"`
	AgentAuthored      bool    `json:"agentAuthored"`
	ReportedAt         *string `json:"reportedAt"`
	CreatedAt          string  `json:"createdAt"`
	UpdatedAt          string  `json:"updatedAt"`
}

func intPtr(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func toGitStateJSON(g *store.SessionGitState) gitStateJSON {
	return gitStateJSON{SessionID: g.SessionID, SourceType: strPtr(g.SourceType), SourcePRNumber: intPtr(g.SourcePRNumber),
		SourceIssueNumber: intPtr(g.SourceIssueNumber), SourceRepoFullName: strPtr(g.SourceRepoFullName),
		SourceRepoURL: strPtr(g.SourceRepoURL), RepoPath: strPtr(g.RepoPath), Branch: strPtr(g.Branch), Ref: strPtr(g.Ref),
		BaseBranch: strPtr(g.BaseBranch), BaseCommit: strPtr(g.BaseCommit), HeadCommit: strPtr(g.HeadCommit),
		CommitCount: g.CommitCount, DirtyFiles: g.DirtyFiles, PRNumber: intPtr(g.PRNumber), PRTitle: strPtr(g.PRTitle),
		PRState: strPtr(g.PRState), PRURL: strPtr(g.PRURL), PRCreatedAt: isoTimePtr(g.PRCreatedAt),
		PRMergedAt: isoTimePtr(g.PRMergedAt), AgentAuthored: g.AgentAuthored, ReportedAt: isoTimePtr(g.ReportedAt),
		CreatedAt: isoTime(g.CreatedAt), UpdatedAt: isoTime(g.UpdatedAt)}
}

// GET /api/sessions/{id}/git-state → {gitState|null}.
func (s *Server) sessionGitState(w http.ResponseWriter, r *http.Request) {
	g, err := s.sessions.GitState(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	var out any
	if g != nil {
		out = toGitStateJSON(g)
	}
	writeJSON(w, http.StatusOK, map[string]any{"gitState": out})
}

// fileChangedJSON is upstream's changed file, with oldPath and binary.
type fileChangedJSON struct {
	ID        string  `json:"id"`
	SessionID string  `json:"sessionId"`
	FilePath  string  `json:"filePath"`
	OldPath   *string `json:"oldPath,omitempty"`
	Status    string  `json:"status"`
	Additions int     `json:"additions"`
	Deletions int     `json:"deletions"`
	Binary    bool    `json:"binary,omitempty"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

// GET /api/sessions/{id}/files-changed → {files}.
func (s *Server) sessionFilesChanged(w http.ResponseWriter, r *http.Request) {
	files, err := s.sessions.FilesChanged(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]fileChangedJSON, 0, len(files))
	for _, f := range files {
		out = append(out, fileChangedJSON{ID: f.SessionID + ":" + f.FilePath, SessionID: f.SessionID, FilePath: f.FilePath,
			OldPath: strPtr(f.OldPath), Status: f.Status, Additions: f.Additions, Deletions: f.Deletions, Binary: f.Binary,
			CreatedAt: isoTime(f.CreatedAt), UpdatedAt: isoTime(f.UpdatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": out})
}

// GET /api/sessions/{id}/diff[?path=] → {files, truncated}, computed by
// the session's runner.
func (s *Server) sessionDiff(w http.ResponseWriter, r *http.Request) {
	data, err := s.sessions.Diff(r.Context(), principal(r).User.ID, r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
