// Package protocol holds the wire types of the session sockets: the runner
// socket (server ↔ runner) and the browser socket (server ↔ browser). Both
// sides import it; it imports nothing of the server.
//
// Frames are JSON text with a "type" discriminant. Field names follow the
// upstream gateway, so that its runner and browser client could speak to
// agentops. Additions: runner frames may carry "seq" (a sequence number that
// grows for the life of the session, across reconnects and runner
// restarts), and the server answers persisted frames with "ack"; the
// server's "init" tells a (re)connecting runner the last sequence it
// persisted ("lastSeq"). Browser "chunk" frames carry "offset", the length
// of the message's text before the chunk, so a reconnecting browser can
// merge without gaps or duplicates.
package protocol

import "encoding/json"

// MaxFrameBytes bounds one frame in either direction.
const MaxFrameBytes = 1 << 20

// Roles on the session socket URL (?role=).
const (
	RoleRunner = "runner"
	RoleClient = "client"
)

// WebSocket subprotocols: browsers send "valet" and "bearer.<token>"; the
// server answers "valet". A browser that also offers SubprotocolV2 is
// answered with it and gets message.part.updated frames (see
// CMessagePartUpdated).
const (
	Subprotocol   = "valet"
	SubprotocolV2 = "agentops.v2"
)

// WebSocket close codes the server uses (4000–4999 are application codes).
const (
	CloseNormal        = 1000 // session terminated, or replaced runner
	CloseGoingAway     = 1001 // server shutting down; reconnect
	ClosePolicy        = 1008 // bad token
	CloseTooBig        = 1009 // frame over MaxFrameBytes
	CloseSlowConsumer  = 4008 // the browser did not read fast enough: reload from REST, then reconnect
	CloseReplaced      = 4001 // a newer runner connected (runner side; upstream used 1000)
	CloseSessionEnded  = 4004 // the session is terminated, archived or gone
	CloseReasonReplace = "Replaced by new runner connection"
	// CloseRestart tells a runner that the server runs another agentops
	// version (an upgrade, or a rollback): the runner exits, and is started
	// again from the current binary (by the local sandbox, or by whatever
	// supervises an external runner). Sent only while the runner is idle.
	CloseRestart = 4010
)

// VersionHeader is the runner's handshake header that carries its agentops
// version (an agentops addition; upstream's runner sends none, and is never
// asked to restart).
const VersionHeader = "X-Agentops-Runner-Version"

// Runner → server frame types.
const (
	RMessageCreate   = "message.create"
	RTextDelta       = "message.part.text-delta"
	RToolUpdate      = "message.part.tool-update"
	RMessageFinalize = "message.finalize"
	RAgentStatus     = "agentStatus"
	RComplete        = "complete"
	RAborted         = "aborted"
	RError           = "error"
	RModels          = "models"
	RGitState        = "git-state"
	RFilesChanged    = "files-changed"
	RPing            = "ping"
	RQuestion        = "question"
	RConfigApplied   = "opencode-config-applied"
	RSelfTerminate   = "self-terminate"
	RRunnerHealth    = "runner-health"
	RUsageReport     = "usage-report"
	RAnalyticsEmit   = "analytics:emit"
	RReverted        = "reverted"
	RTitle           = "title"
	RTunnels         = "tunnels"
	RScreenshot      = "screenshot"
	RModelSwitched   = "model-switched"
	RRepoCloneDone   = "repo:clone-complete"
	// RRepoProgress reports the workspace set-up's progress (an agentops
	// addition): {phase:"cloning", progress: 0–100}.
	RRepoProgress = "repo:clone-progress"
	// RDiff answers the server's diff request: {requestId, data: DiffData}.
	RDiff             = "diff"
	RAudioTranscript  = "audio-transcript"
	RChannelSession   = "channel-session-created"
	RCommandResult    = "command-result"
	RWaitSubscription = "wait-subscription"
	// RAgentSession reports the agent's own session or thread id
	// (agentSessionId), which the server stores with the session and
	// sends back in init (agentops addition).
	RAgentSession = "agent-session"

	// RPCs on the user's memory (upstream-runtime.md §2.3–2.4), each
	// answered with "<type>-result" and the same requestId.
	RMemRead   = "mem-read"   // {path?} → {file} | {files}
	RMemWrite  = "mem-write"  // {path, content} → {file}
	RMemPatch  = "mem-patch"  // {path, operations} → {result}
	RMemRm     = "mem-rm"     // {path} → {deleted}
	RMemSearch = "mem-search" // {query, path?, limit?} → {results}

	// RGitOp answers the server's git-op request (agentops addition):
	// {requestId, data: GitOpResult}.
	RGitOp = "git-op-result"
	// RTranscript asks for the session's transcript before a message
	// (agentops addition): {requestId, messageId} → {messages:
	// [{role, content}], omitted}. An adapter seeds a new agent session
	// with it when the agent's own state is gone.
	RTranscript = "transcript-read"
)

// ResultType is the type of the answer to an RPC frame.
func ResultType(requestType string) string { return requestType + "-result" }

// Server → runner frame types.
const (
	SInit          = "init"
	SOpencodeConf  = "opencode-config"
	SPluginContent = "plugin-content"
	SRepoConfig    = "repo-config"
	SPrompt        = "prompt"
	SAbort         = "abort"
	SStop          = "stop"
	SPong          = "pong"
	SAck           = "ack"
	SError         = "error"
	SAnswer        = "answer"
	SRevert        = "revert"
	// SDiff asks the runner for the workspace's diff against the session's
	// base commit: {requestId, path?}; answered with RDiff.
	SDiff = "diff"
	// SGitOp asks the runner to commit or push in the workspace (agentops
	// addition): {requestId, op, commitMessage?, gitName, gitEmail,
	// token?}; answered with RGitOp.
	SGitOp = "git-op"
)

// Git operations of SGitOp.
const (
	GitOpCommit = "commit"
	GitOpPush   = "push"
)

// Codes of a failed git operation (GitOpResult.Code).
const (
	GitOpNothingToCommit = "NOTHING_TO_COMMIT"
	GitOpNoRemote        = "NO_REMOTE"
	GitOpRejected        = "PUSH_REJECTED" // the remote refused: its words are in Error
	GitOpFailed          = "GIT_FAILED"
	GitOpNotRepository   = "NOT_A_REPOSITORY"
)

// GitOpResult is the data of a git-op answer: the commit made, or the
// push done, or an error (git's words, without any token) with a code.
type GitOpResult struct {
	Commit *GitCommit `json:"commit,omitempty"`
	Push   *GitPush   `json:"push,omitempty"`
	Error  string     `json:"error,omitempty"`
	Code   string     `json:"code,omitempty"`
}

// GitCommit is a commit a git-op made.
type GitCommit struct {
	SHA     string `json:"sha"`
	Message string `json:"message"`
}

// GitPush is a push a git-op made: the branch, the remote's URL, the
// commits the remote did not have, and the commit pushed.
type GitPush struct {
	Branch  string `json:"branch"`
	Remote  string `json:"remote"`
	Commits int    `json:"commits"`
	Head    string `json:"head"`
}

// RepoConfig is what the repo-config frame tells a runner about the
// session's workspace (upstream's frame, with agentops' fields): where the
// code comes from, the base to start from and the session's own branch.
// It comes before init, so that the runner sets the workspace up before
// it reports ready.
type RepoConfig struct {
	RepoURL       string `json:"repoUrl,omitempty"`
	RepoPath      string `json:"repoPath,omitempty"`
	Branch        string `json:"branch,omitempty"` // the base branch or ref
	SessionBranch string `json:"sessionBranch,omitempty"`
}

// ChangedFile is one entry of a files-changed frame.
type ChangedFile struct {
	Path      string `json:"path"`
	OldPath   string `json:"oldPath,omitempty"`
	Status    string `json:"status"` // added | modified | deleted | renamed
	Additions int    `json:"additions"`
	Deletions int    `json:"deletions"`
	Binary    bool   `json:"binary,omitempty"`
}

// DiffFile is one file of a diff answer.
type DiffFile struct {
	Path      string `json:"path"`
	OldPath   string `json:"oldPath,omitempty"`
	Status    string `json:"status"`
	Binary    bool   `json:"binary,omitempty"`
	Diff      string `json:"diff,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// DiffData is the data of a diff answer (and of GET /api/sessions/:id/diff).
type DiffData struct {
	Files     []DiffFile `json:"files"`
	Truncated bool       `json:"truncated"`
	Error     string     `json:"error,omitempty"`
}

// PersonaFile is one instruction file of a session's persona, sent in
// plugin-content's personas (upstream's field), ordered by SortOrder.
type PersonaFile struct {
	Filename  string `json:"filename"`
	Content   string `json:"content"`
	SortOrder int    `json:"sortOrder"`
}

// PluginContent is the plugin-content frame's payload. agentops fills
// personas; the other fields are upstream's and stay empty.
type PluginContent struct {
	Personas         []PersonaFile `json:"personas"`
	Skills           []any         `json:"skills"`
	Tools            []any         `json:"tools"`
	AllowRepoContent bool          `json:"allowRepoContent"`
	ToolWhitelist    any           `json:"toolWhitelist"`
}

// Browser-facing frame types (server → browser).
const (
	CInit           = "init"
	CStatus         = "status"
	CMessage        = "message"
	CMessageUpdated = "message.updated"
	// CMessagePartUpdated {messageId, index, part} (agentops.v2 sockets
	// only) replaces one part of a message that is still being written;
	// index is its position in parts, and may be the next one (a new
	// part). Such sockets get message.updated only when the message is
	// finished.
	CMessagePartUpdated = "message.part.updated"
	CChunk              = "chunk"
	CAgentStatus        = "agentStatus"
	CError              = "error"
	CUserJoined         = "user.joined"
	CUserLeft           = "user.left"
	CModels             = "models"
	CPong               = "pong"
	CGitState           = "git-state"
	CFilesChanged       = "files-changed"
	CDiff               = "diff"
	CQueueState         = "queue.state"
	CQueueWithdrawn     = "queue.withdrawn"
	// CPRCreated {pr:{number, url, title, state}}: a pull request was made
	// from the session's branch.
	CPRCreated = "pr-created"
)

// Browser → server frame types.
const (
	BPrompt = "prompt"
	BAbort  = "abort"
	BDiff   = "diff"
	BPing   = "ping"
)

// Part is one piece of a message: text, a tool call, the finish marker or
// an error.
type Part struct {
	Type      string          `json:"type"` // text | tool-call | finish | error
	Text      string          `json:"text,omitempty"`
	Streaming bool            `json:"streaming,omitempty"`
	CallID    string          `json:"callId,omitempty"`
	ToolName  string          `json:"toolName,omitempty"`
	Status    string          `json:"status,omitempty"` // pending | running | completed | error
	Args      json.RawMessage `json:"args,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	Reason    string          `json:"reason,omitempty"` // finish: end_turn | error | canceled
	Message   string          `json:"message,omitempty"`
}

// Tool call statuses.
const (
	ToolPending   = "pending"
	ToolRunning   = "running"
	ToolCompleted = "completed"
	ToolError     = "error"
)

// Finish reasons.
const (
	FinishEndTurn  = "end_turn"
	FinishError    = "error"
	FinishCanceled = "canceled"
)

// Agent statuses.
const (
	AgentIdle        = "idle"
	AgentThinking    = "thinking"
	AgentToolCalling = "tool_calling"
	AgentStreaming   = "streaming"
	AgentError       = "error"
)

// ModelGroup is a provider's models, as runners report them.
type ModelGroup struct {
	Provider string  `json:"provider"`
	Models   []Model `json:"models"`
}

// Model is one model a runner can use.
type Model struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// RunnerFrame is any frame from the runner. Fields are a union over the
// types; each type uses the ones upstream defines for it.
type RunnerFrame struct {
	Type string `json:"type"`
	Seq  int64  `json:"seq,omitempty"`
	// SeqGiven reports whether a decoded frame had a "seq" (Seq alone
	// cannot tell an explicit 0 from none).
	SeqGiven bool `json:"-"`

	TurnID    string          `json:"turnId,omitempty"`
	MessageID string          `json:"messageId,omitempty"`
	Delta     string          `json:"delta,omitempty"`
	CallID    string          `json:"callId,omitempty"`
	ToolName  string          `json:"toolName,omitempty"`
	Status    string          `json:"status,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	FinalText *string         `json:"finalText,omitempty"`
	Detail    string          `json:"detail,omitempty"`
	Models    []ModelGroup    `json:"models,omitempty"`
	RequestID string          `json:"requestId,omitempty"`

	// question
	QuestionID string   `json:"questionId,omitempty"`
	Text       string   `json:"text,omitempty"`
	Options    []string `json:"options,omitempty"`

	// mem-* RPCs
	Path       string          `json:"path,omitempty"`
	Content    string          `json:"content,omitempty"`
	Operations json.RawMessage `json:"operations,omitempty"`
	Query      string          `json:"query,omitempty"`
	Limit      int             `json:"limit,omitempty"`

	// git-state, files-changed and other pass-through payloads
	Branch      string          `json:"branch,omitempty"`
	BaseBranch  string          `json:"baseBranch,omitempty"`
	CommitCount *int            `json:"commitCount,omitempty"`
	Files       json.RawMessage `json:"files,omitempty"`
	// git-state additions: the base commit the session started from, the
	// commit checked out now, and how many files are not committed.
	BaseCommit string `json:"baseCommit,omitempty"`
	HeadCommit string `json:"headCommit,omitempty"`
	DirtyFiles *int   `json:"dirtyFiles,omitempty"`

	// repo:clone-progress and repo:clone-complete
	Phase    string `json:"phase,omitempty"`
	Progress *int   `json:"progress,omitempty"`
	Success  *bool  `json:"success,omitempty"`

	// diff
	Data json.RawMessage `json:"data,omitempty"`

	// workflow-execution-result (see workflow.go)
	ExecutionID string            `json:"executionId,omitempty"`
	Envelope    *WorkflowEnvelope `json:"envelope,omitempty"`

	// message.finalize: the turn's token usage (agentops addition)
	Usage *Usage `json:"usage,omitempty"`
	// agent-session
	AgentSessionID string `json:"agentSessionId,omitempty"`
}

// Usage is a turn's token usage and cost, as the agent reported it; it is
// stored on the assistant message.
type Usage struct {
	InputTokens      int64    `json:"inputTokens"`
	OutputTokens     int64    `json:"outputTokens"`
	CacheReadTokens  *int64   `json:"cacheReadTokens,omitempty"`
	CacheWriteTokens *int64   `json:"cacheWriteTokens,omitempty"`
	CostUSD          *float64 `json:"costUsd,omitempty"`
}

// Add sums o into u (optional fields become set when either has them).
func (u *Usage) Add(o Usage) {
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	addPtr(&u.CacheReadTokens, o.CacheReadTokens)
	addPtr(&u.CacheWriteTokens, o.CacheWriteTokens)
	addPtr(&u.CostUSD, o.CostUSD)
}

func addPtr[T int64 | float64](dst **T, v *T) {
	if v == nil {
		return
	}
	if *dst == nil {
		x := *v
		*dst = &x
		return
	}
	**dst += *v
}

// UnmarshalJSON decodes a frame and records whether it had a "seq".
func (f *RunnerFrame) UnmarshalJSON(b []byte) error {
	type plain RunnerFrame // no methods: no recursion
	aux := struct {
		*plain
		Seq *int64 `json:"seq"` // shallower than plain's: this one is decoded
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	f.Seq, f.SeqGiven = 0, aux.Seq != nil
	if aux.Seq != nil {
		f.Seq = *aux.Seq
	}
	return nil
}

// ServerFrame is any frame the server sends to a runner.
type ServerFrame struct {
	Type string `json:"type"`

	// init
	SessionID string `json:"sessionId,omitempty"`
	LastSeq   *int64 `json:"lastSeq,omitempty"`
	Agent     string `json:"agent,omitempty"`
	// AgentSessionID is the agent's own session id the server stored
	// (agentops addition).
	AgentSessionID string `json:"agentSessionId,omitempty"`

	// ack
	Seq int64 `json:"seq,omitempty"`

	// prompt
	MessageID   string   `json:"messageId,omitempty"`
	Content     string   `json:"content,omitempty"`
	Model       string   `json:"model,omitempty"`
	AuthorID    string   `json:"authorId,omitempty"`
	AuthorEmail string   `json:"authorEmail,omitempty"`
	AuthorName  string   `json:"authorName,omitempty"`
	GitName     string   `json:"gitName,omitempty"`
	GitEmail    string   `json:"gitEmail,omitempty"`
	ModelPrefs  []string `json:"modelPreferences,omitempty"`

	// configuration pushes
	Config        json.RawMessage `json:"config,omitempty"`
	PluginContent json.RawMessage `json:"pluginContent,omitempty"`
	Token         *string         `json:"token,omitempty"`
	GitConfig     json.RawMessage `json:"gitConfig,omitempty"`
	*RepoConfig

	// diff
	Path string `json:"path,omitempty"`

	// git-op
	Op            string `json:"op,omitempty"`
	CommitMessage string `json:"commitMessage,omitempty"`

	// errors and RPC results
	RequestID string `json:"requestId,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`

	// answer
	QuestionID string `json:"questionId,omitempty"`
	Answer     any    `json:"answer,omitempty"`

	// workflow-execute (see workflow.go)
	ExecutionID string            `json:"executionId,omitempty"`
	Workflow    *WorkflowDispatch `json:"payload,omitempty"`
}

// Persisted reports whether a runner frame type always changes durable
// state, so the server writes (and acknowledges) at once. Other frames are
// acknowledged with the next write, which the server makes within its
// flush interval or after a bounded number of frames. Ping frames carry no
// seq and are never acknowledged.
func Persisted(frameType string) bool {
	switch frameType {
	case RMessageCreate, RToolUpdate, RMessageFinalize, RComplete, RAborted, RError, RAgentSession:
		return true
	}
	return false
}
