package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/app/memory"
	"github.com/agentops/agentops/app/tz"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/store"
)

// Limits agentops applies that upstream did not.
const (
	maxTitleBytes = 200
	maxNameBytes  = 200
)

type plan struct {
	users       []*store.User
	links       map[string]bool   // user ids that get a login link
	userMap     map[string]string // upstream id → agentops id (imported, merged or already there)
	sessions    []*store.Session
	sessOK      map[string]string // upstream session id → its owner, for sessions that exist after the import
	sessID      map[string]string // upstream session id → agentops session id
	messages    []*store.Message
	memories    []store.MemoryFile
	creds       []*store.Credential
	wfs         []*store.Workflow
	wfOK        map[string]*store.Workflow
	triggers    []*store.Trigger
	execs       []*store.Execution
	objects     []r2Object
	tokens      []*store.APIToken
	personas    []plannedPersona
	persOK      map[string]bool // persona ids that exist after the import
	gitStates   []*store.SessionGitState
	fileChanges []*store.SessionFileChange
	steps       []*store.ExecutionStep
	invites     []*store.Invite
	versions    map[string][]*store.WorkflowVersion // by workflow uid, oldest first
}

type plannedPersona struct {
	p     *store.Persona
	files []store.PersonaFile
}

func (im *importer) plan(ctx context.Context) error {
	im.p = plan{links: map[string]bool{}, userMap: map[string]string{}, sessOK: map[string]string{}, sessID: map[string]string{}, persOK: map[string]bool{}, wfOK: map[string]*store.Workflow{}}
	steps := []func(context.Context) error{im.planUsers, im.planPersonas, im.planSessions, im.planGitState, im.planMessages, im.planMemories,
		im.planCredentials, im.planOrgKeys, im.planCustomProviders, im.planWorkflows, im.planVersions, im.planTriggers, im.planExecutions, im.planSteps, im.planAPITokens, im.planInvites, im.planR2}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readNew reads upstream's table up, its line of the report, and which of
// its ids agentops' table ours already holds (a re-run skips those).
func (im *importer) readNew(ctx context.Context, up, ours string) ([]row, *TableReport, map[string]bool, error) {
	rows, err := im.readTable(ctx, up)
	if err != nil {
		return nil, nil, nil, err
	}
	existing, err := im.deps.Store.ExistingIDs(ctx, ours, "id", ids(rows, "id"))
	if err != nil {
		return nil, nil, nil, err
	}
	return rows, im.rep.table(up), existing, nil
}

func ids(rows []row, col string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.str(col, nil))
	}
	return out
}

func (im *importer) planUsers(ctx context.Context) error {
	rows, err := im.readTable(ctx, "users")
	if err != nil {
		return err
	}
	tr := im.rep.table("users")
	st := im.deps.Store
	existing, err := st.ExistingIDs(ctx, "users", "id", ids(rows, "id"))
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	var clashes []string
	seen := map[string]bool{}
	for _, r := range rows {
		fixed := false
		id := r.str("id", &fixed)
		email := strings.ToLower(strings.TrimSpace(r.str("email", &fixed)))
		switch {
		case id == "" || email == "":
			tr.skip("without an id or email")
			continue
		case existing[id]:
			im.p.userMap[id] = id
			tr.skip("already imported")
			continue
		case seen[email]:
			tr.skip("duplicate email")
			continue
		}
		seen[email] = true
		other, err := st.Users().GetByEmail(ctx, email)
		if err == nil {
			if !im.opts.MergeUsers {
				clashes = append(clashes, email)
				continue
			}
			im.p.userMap[id] = other.ID
			tr.skip("merged into the existing account with the same email")
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		u := &store.User{ID: id, Email: email, Name: truncate(r.str("name", &fixed), maxNameBytes), AvatarURL: r.str("avatar_url", &fixed),
			Role: store.RoleMember, GitName: r.str("git_name", &fixed), GitEmail: r.str("git_email", &fixed),
			OnboardingCompleted: r.bool("onboarding_completed"), IdleTimeoutSeconds: int(r.int("idle_timeout_seconds")),
			UIQueueMode: r.str("ui_queue_mode", &fixed), Timezone: r.str("timezone", &fixed),
			CreatedAt: orTime(r.time("created_at"), now), UpdatedAt: orTime(r.time("updated_at"), now)}
		if r.str("role", nil) == store.RoleAdmin {
			u.Role = store.RoleAdmin
		}
		if u.IdleTimeoutSeconds <= 0 {
			u.IdleTimeoutSeconds = 900
		}
		switch u.UIQueueMode {
		case "followup", "collect", "steer":
		default:
			u.UIQueueMode = "followup"
		}
		if u.Timezone != "" {
			if _, err := tz.Load(u.Timezone); err != nil {
				im.rep.problem("user %s: time zone %q dropped: %v", email, u.Timezone, err)
				u.Timezone = ""
			}
		}
		var prefs []string
		if json.Unmarshal([]byte(r.str("model_preferences", nil)), &prefs) == nil {
			u.ModelPreferences = prefs
		}
		hash := r.str("password_hash", nil)
		if strings.HasPrefix(hash, "pbkdf2:") {
			u.PasswordHash, u.IdentityProvider = hash, "email"
		} else {
			// Signed in with GitHub or Google: a login link sets a password.
			u.IdentityProvider = "email"
			im.p.links[id] = true
		}
		if fixed {
			im.rep.problem("user %s: NUL characters or invalid UTF-8 removed, or the name shortened", email)
		}
		im.p.userMap[id] = id
		im.p.users = append(im.p.users, u)
		tr.ToImport++
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return refuse("these emails already have an agentops account: %s (rerun with --merge-users to add the upstream data to those accounts)", strings.Join(clashes, ", "))
	}
	return nil
}

// sessionStatus maps upstream's status: live states do not survive an
// export, so a session that was live becomes hibernated (its transcript
// kept; opening it starts a new sandbox).
func sessionStatus(s string) (string, bool) {
	switch s {
	case store.StatusTerminated, store.StatusArchived, store.StatusError, store.StatusHibernated:
		return s, false
	case "initializing", "running", "idle", "hibernating", "restoring":
		return store.StatusHibernated, true
	}
	return store.StatusTerminated, true
}

func (im *importer) planSessions(ctx context.Context) error {
	rows, err := im.readTable(ctx, "sessions")
	if err != nil {
		return err
	}
	tr := im.rep.table("sessions")
	var newIDs []string
	renamed := 0
	for _, r := range rows {
		up := r.str("id", nil)
		id := sessionID(up)
		if id != up {
			renamed++
		}
		im.p.sessID[up] = id
		newIDs = append(newIDs, id)
	}
	if renamed > 0 {
		im.rep.problem("%d sessions had ids that are not UUIDs, which agentops needs: they got new ids (the same on every run)", renamed)
	}
	existing, err := im.deps.Store.ExistingIDs(ctx, "sessions", "id", newIDs)
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	changed := map[string]int{}
	for _, r := range rows {
		fixed := false
		up := r.str("id", nil)
		id := im.p.sessID[up]
		owner, ok := im.p.userMap[r.str("user_id", nil)]
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case !ok:
			tr.skip("owner not imported")
			continue
		case existing[id]:
			im.p.sessOK[up] = owner
			tr.skip("already imported")
			continue
		}
		status, live := sessionStatus(r.str("status", nil))
		if live {
			changed[r.str("status", nil)+" → "+status]++
		}
		purpose := r.str("purpose", nil)
		if purpose != store.PurposeWorkflow {
			purpose = "interactive"
		}
		created := orTime(r.time("created_at"), now)
		last := orTime(r.time("last_active_at"), created)
		s := &store.Session{ID: id, UserID: owner, Workspace: r.str("workspace", &fixed), Title: r.str("title", &fixed),
			Status: status, Purpose: purpose, Agent: "opencode", ErrorMessage: r.str("error_message", &fixed),
			QueueMode: "followup", LastActiveAt: last, ActiveSeconds: max(0, r.int("active_seconds")), CreatedAt: created, UpdatedAt: last}
		if store.IsTerminal(status) {
			s.EndedAt = last
		}
		if pid := r.str("persona_id", nil); im.p.persOK[pid] {
			s.PersonaID = pid
		}
		if s.Workspace == "" {
			s.Workspace = "workspace"
		}
		if len(s.Title) > maxTitleBytes {
			s.Title = truncate(s.Title, maxTitleBytes)
			im.rep.problem("session %s: title shortened to %d bytes", id, maxTitleBytes)
		}
		if fixed {
			im.rep.problem("session %s: NUL characters or invalid UTF-8 removed", id)
		}
		im.p.sessOK[up] = owner
		im.p.sessions = append(im.p.sessions, s)
		tr.ToImport++
	}
	for _, k := range sortedKeys(changed) {
		im.rep.problem("%d sessions were %s: live state is not in an export", changed[k], k)
	}
	return nil
}

// partsOf returns a message's parts as agentops stores them (a JSON
// array): upstream's array as it is, a single object (screenshots) as a
// one-element array, and, without parts, the content as one text part.
func partsOf(raw, content string) (json.RawMessage, bool) {
	b := bytes.TrimSpace([]byte(raw))
	fixed := false
	if jsonnul.Has(b) {
		b, fixed = jsonnul.Replace(b), true
	}
	if len(b) > 0 && json.Valid(b) {
		switch b[0] {
		case '[':
			return b, fixed
		case '{':
			return append(append([]byte{'['}, b...), ']'), fixed
		}
	}
	if content == "" {
		return json.RawMessage("[]"), fixed
	}
	out, _ := json.Marshal([]map[string]string{{"type": "text", "text": content}})
	return out, fixed
}

func (im *importer) planMessages(ctx context.Context) error {
	rows, tr, existing, err := im.readNew(ctx, "messages", "messages")
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	type timed struct {
		m     *store.Message
		epoch int64
		i     int
	}
	var list []timed
	for i, r := range rows {
		fixed := false
		id := r.str("id", nil)
		sid := r.str("session_id", nil)
		role := r.str("role", nil)
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case im.p.sessOK[sid] == "":
			tr.skip("session not imported")
			continue
		case existing[id]:
			tr.skip("already imported")
			continue
		case role != "user" && role != "assistant" && role != "system":
			tr.skip("role " + role + " (legacy v1 tool rows)")
			continue
		}
		content := r.str("content", &fixed)
		parts, pf := partsOf(r.str("parts", nil), content)
		created := r.time("created_at")
		if ep := r.int("created_at_epoch"); ep > 0 {
			created = epoch(ep)
		}
		created = orTime(created, now)
		m := &store.Message{ID: id, SessionID: im.p.sessID[sid], Role: role, Content: content, Parts: parts,
			AuthorID: im.p.userMap[r.str("author_id", nil)], AuthorEmail: r.str("author_email", &fixed),
			AuthorName: r.str("author_name", &fixed), CreatedAt: created, UpdatedAt: created}
		if fixed || pf {
			im.rep.problem("message %s: NUL characters or invalid UTF-8 removed", id)
		}
		list = append(list, timed{m: m, epoch: created.UnixNano(), i: i})
		tr.ToImport++
	}
	sort.SliceStable(list, func(a, b int) bool {
		if list[a].m.SessionID != list[b].m.SessionID {
			return list[a].m.SessionID < list[b].m.SessionID
		}
		return list[a].epoch < list[b].epoch
	})
	for _, t := range list {
		im.p.messages = append(im.p.messages, t.m)
	}
	return nil
}

func (im *importer) planMemories(ctx context.Context) error {
	rows, tr, existing, err := im.readNew(ctx, "orchestrator_memory_files", "memory_files")
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	taken := map[string]bool{}
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		owner, ok := im.p.userMap[r.str("user_id", nil)]
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case !ok:
			tr.skip("owner not imported")
			continue
		case existing[id]:
			tr.skip("already imported")
			continue
		}
		path, err := memory.CheckPath(r.str("path", nil))
		if err != nil {
			tr.skip("invalid path")
			im.rep.problem("memory %s: path %q cannot be a memory path: %v", id, r.str("path", nil), err)
			continue
		}
		if taken[owner+"\x00"+path] {
			tr.skip("duplicate path")
			continue
		}
		if _, err := im.deps.Store.MemoryFiles().Get(ctx, owner, path); err == nil {
			tr.skip("path already in the account's memory")
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		taken[owner+"\x00"+path] = true
		content := r.str("content", &fixed)
		if n := len([]rune(content)); n > memory.MaxContentChars {
			content = string([]rune(content)[:memory.MaxContentChars])
			im.rep.problem("memory %s: content shortened from %d to %d characters", path, n, memory.MaxContentChars)
		}
		title := truncate(r.str("title", &fixed), maxTitleBytes)
		if strings.TrimSpace(title) == "" {
			title = path
		}
		created := orTime(r.time("created_at"), now)
		f := store.MemoryFile{ID: id, UserID: owner, Path: path, Title: title, Content: content,
			Relevance: min(2, max(0, r.float("relevance"))), Pinned: r.bool("pinned"), Version: max(1, int(r.int("version"))),
			CreatedAt: created, UpdatedAt: orTime(r.time("updated_at"), created), LastAccessedAt: orTime(r.time("last_accessed_at"), created)}
		if fixed {
			im.rep.problem("memory %s: NUL characters or invalid UTF-8 removed", path)
		}
		im.p.memories = append(im.p.memories, f)
		tr.ToImport++
	}
	return nil
}

// credentialKey picks the secret out of an upstream credential's data.
func credentialKey(plain []byte) string {
	var data map[string]any
	if json.Unmarshal(plain, &data) != nil {
		return ""
	}
	for _, k := range []string{"api_key", "access_token", "token"} {
		if s, ok := data[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// Providers whose upstream keys become agentops credentials.
var importedProviders = map[string]bool{credentials.Anthropic: true, credentials.OpenAI: true, "google": true, "github": true}

func (im *importer) planCredentials(ctx context.Context) error {
	rows, err := im.readTable(ctx, "credentials")
	if err != nil {
		return err
	}
	tr := im.rep.table("credentials")
	keys, err := newUpstreamKeys(im.opts.UpstreamKey)
	if err != nil {
		return refuse("%v", err)
	}
	kr := im.deps.Keyring
	now := im.opts.Now()
	taken := map[string]bool{}
	for _, r := range rows {
		id := r.str("id", nil)
		provider := r.str("provider", nil)
		owner, ok := im.p.userMap[r.str("owner_id", nil)]
		switch {
		case r.str("owner_type", nil) != "user" || !ok:
			tr.skip("owner not imported")
			continue
		case !importedProviders[provider]:
			tr.skip("service " + provider + " has no agentops equivalent")
			continue
		case keys == nil:
			tr.skip("no --upstream-encryption-key-file given")
			continue
		}
		plain, err := keys.openB(r.str("encrypted_data", nil))
		if err != nil {
			return refuse("the upstream encryption key does not decrypt credential %s (%s): is it the ENCRYPTION_KEY of this deployment?", id, provider)
		}
		key := credentialKey(plain)
		if key == "" {
			tr.skip("no key or token in the credential")
			continue
		}
		if taken[owner+"\x00"+provider] {
			tr.skip("duplicate")
			continue
		}
		if _, err := im.deps.Store.Credentials().Get(ctx, store.UserOwner(owner), provider); err == nil {
			tr.skip("already set")
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c, err := credentials.SealImported(kr, kr.PrimaryID(), store.UserOwner(owner), owner, provider, credentials.Input{Key: key}, now)
		if err != nil {
			tr.skip("key agentops refuses")
			im.rep.problem("credential %s (%s): %v", id, provider, err)
			continue
		}
		taken[owner+"\x00"+provider] = true
		c.CreatedAt, c.UpdatedAt = orTime(r.time("created_at"), c.CreatedAt), orTime(r.time("updated_at"), c.UpdatedAt)
		im.p.creds = append(im.p.creds, c)
		tr.ToImport++
	}
	return nil
}

func (im *importer) planOrgKeys(ctx context.Context) error {
	if _, ok := im.cols["org_api_keys"]; !ok {
		return nil
	}
	rows, err := im.readTable(ctx, "org_api_keys")
	if err != nil {
		return err
	}
	tr := im.rep.table("org_api_keys")
	keys, err := newUpstreamKeys(im.opts.UpstreamKey)
	if err != nil {
		return refuse("%v", err)
	}
	kr := im.deps.Keyring
	now := im.opts.Now()
	for _, r := range rows {
		provider := r.str("provider", nil)
		switch {
		case provider != credentials.Anthropic && provider != credentials.OpenAI && provider != "google":
			tr.skip("provider " + provider + " has no agentops equivalent")
			continue
		case keys == nil:
			tr.skip("no --upstream-encryption-key-file given")
			continue
		}
		plain, err := keys.openA(r.str("encrypted_key", nil))
		if err != nil {
			return refuse("the upstream encryption key does not decrypt the org %s key: is it the ENCRYPTION_KEY of this deployment?", provider)
		}
		if _, err := im.deps.Store.Credentials().Get(ctx, store.OrgOwner, provider); err == nil {
			tr.skip("already set")
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c, err := credentials.SealImported(kr, kr.PrimaryID(), store.OrgOwner, "", provider, credentials.Input{Key: string(plain)}, now)
		if err != nil {
			tr.skip("key agentops refuses")
			im.rep.problem("org %s key: %v", provider, err)
			continue
		}
		c.SetBy = im.p.userMap[r.str("set_by", nil)]
		im.p.creds = append(im.p.creds, c)
		tr.ToImport++
	}
	return nil
}

func (im *importer) planWorkflows(ctx context.Context) error {
	rows, err := im.readTable(ctx, "workflows")
	if err != nil {
		return err
	}
	tr := im.rep.table("workflows")
	all, err := im.deps.Store.ExistingIDs(ctx, "workflows", "uid", ids(rows, "id"))
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		owner, ok := im.p.userMap[r.str("user_id", nil)]
		switch {
		case !ok:
			tr.skip("owner not imported")
			continue
		case !workflow.ValidID(id):
			tr.skip("id agentops does not accept")
			im.rep.problem("workflow %q: agentops ids are up to 100 characters of [A-Za-z0-9._:-]", id)
			continue
		case all[id]:
			w, err := im.deps.Store.Workflows().GetByUID(ctx, id)
			if err != nil {
				return err
			}
			im.p.wfOK[id] = w
			tr.skip("already imported")
			continue
		}
		slug := r.str("slug", &fixed)
		if taken, err := im.workflowTaken(ctx, owner, id, slug); err != nil {
			return err
		} else if taken {
			tr.skip("id or slug already used in the account")
			im.rep.problem("workflow %s: the account it merges into has a workflow with this id or slug", id)
			continue
		}
		def, err := workflow.ParseDefinition(json.RawMessage(jsonnul.Replace([]byte(r.str("data", nil)))))
		if err != nil {
			tr.skip("invalid definition")
			im.rep.problem("workflow %s: %v", id, err)
			continue
		}
		tags := json.RawMessage(r.str("tags", nil))
		if !json.Valid(tags) || len(tags) == 0 || tags[0] != '[' {
			tags = json.RawMessage("[]")
		}
		version := r.str("version", &fixed)
		if version == "" {
			version = "1.0.0"
		}
		created := orTime(r.time("created_at"), now)
		w := &store.Workflow{UID: id, UserID: owner, ID: id, Slug: slug, Name: truncate(r.str("name", &fixed), maxNameBytes),
			Description: r.str("description", &fixed), Version: version, Data: def.Data, Hash: def.Hash,
			Enabled: r.null("enabled") || r.bool("enabled"), Tags: tags, CreatedAt: created, UpdatedAt: orTime(r.time("updated_at"), created)}
		if strings.TrimSpace(w.Name) == "" {
			w.Name = id
		}
		if fixed {
			im.rep.problem("workflow %s: NUL characters or invalid UTF-8 removed", id)
		}
		im.p.wfOK[id] = w
		im.p.wfs = append(im.p.wfs, w)
		tr.ToImport++
	}
	return nil
}

func (im *importer) planTriggers(ctx context.Context) error {
	rows, tr, existing, err := im.readNew(ctx, "triggers", "workflow_triggers")
	if err != nil {
		return err
	}
	kr := im.deps.Keyring
	now := im.opts.Now().UTC()
	paths := map[string]bool{}
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		w := im.p.wfOK[r.str("workflow_id", nil)]
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case w == nil:
			tr.skip("workflow not imported (or none: orchestrator triggers)")
			continue
		case existing[id]:
			tr.skip("already imported")
			continue
		}
		cfg, err := workflow.CheckImportedConfig([]byte(r.str("config", nil)))
		if err != nil {
			tr.skip("config agentops refuses")
			im.rep.problem("trigger %s: %v", id, err)
			continue
		}
		t := &store.Trigger{ID: id, UserID: w.UserID, WorkflowUID: w.UID, Name: truncate(r.str("name", &fixed), maxNameBytes),
			Enabled: r.null("enabled") || r.bool("enabled"), Type: cfg.Type, Config: cfg.Config, WebhookPath: cfg.Path,
			LastRunAt: r.time("last_run_at"), CreatedAt: orTime(r.time("created_at"), now), UpdatedAt: orTime(r.time("updated_at"), now)}
		if strings.TrimSpace(t.Name) == "" {
			t.Name = t.Type
		}
		if mapping, _, err := workflow.ParseMapping(json.RawMessage(r.str("variable_mapping", nil))); err == nil {
			t.VariableMapping = mapping
		} else if r.str("variable_mapping", nil) != "" {
			im.rep.problem("trigger %s: variable mapping dropped: %v", id, err)
		}
		if t.WebhookPath != "" {
			if paths[t.WebhookPath] {
				tr.skip("webhook path used twice")
				continue
			}
			if _, err := im.deps.Store.Triggers().GetByWebhookPath(ctx, t.WebhookPath); err == nil {
				tr.skip("webhook path already used in agentops")
				im.rep.problem("trigger %s: webhook path %s is taken by another trigger", id, t.WebhookPath)
				continue
			}
			paths[t.WebhookPath] = true
		}
		if cfg.Secret != "" {
			if t.WebhookSecret, err = workflow.SealImportedSecret(kr, kr.PrimaryID(), id, cfg.Secret); err != nil {
				return err
			}
		}
		if fixed {
			im.rep.problem("trigger %s: NUL characters or invalid UTF-8 removed", id)
		}
		im.p.triggers = append(im.p.triggers, t)
		tr.ToImport++
	}
	return nil
}

func (im *importer) planExecutions(ctx context.Context) error {
	rows, tr, existing, err := im.readNew(ctx, "workflow_executions", "workflow_executions")
	if err != nil {
		return err
	}
	triggers := map[string]bool{}
	for _, t := range im.p.triggers {
		triggers[t.ID] = true
	}
	now := im.opts.Now().UTC()
	stopped := 0
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		w := im.p.wfOK[r.str("workflow_id", nil)]
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case w == nil:
			tr.skip("workflow not imported")
			continue
		case existing[id]:
			tr.skip("already imported")
			continue
		}
		status := r.str("status", nil)
		errText := r.str("error", &fixed)
		switch status {
		case store.ExecCompleted, store.ExecFailed, store.ExecCancelled, store.ExecSkipped:
		default:
			status, stopped = store.ExecCancelled, stopped+1
			if errText == "" {
				errText = "cancelled by the import from upstream: it was still running"
			}
		}
		jsonOr := func(col, def string) json.RawMessage {
			b := jsonnul.Replace([]byte(r.str(col, nil)))
			if len(b) == 0 || !json.Valid(b) {
				return json.RawMessage(def)
			}
			return b
		}
		started := orTime(r.time("started_at"), now)
		e := &store.Execution{ID: id, UserID: w.UserID, WorkflowUID: w.UID, WorkflowID: w.ID, WorkflowName: w.Name,
			WorkflowVersion: r.str("workflow_version", &fixed), WorkflowHash: r.str("workflow_hash", &fixed),
			Snapshot: jsonOr("workflow_snapshot", string(w.Data)), TriggerType: r.str("trigger_type", nil),
			Variables: jsonOr("variables", "{}"), Status: status, IdempotencyKey: r.str("idempotency_key", &fixed),
			Error: errText, StartedAt: started, CompletedAt: orTime(r.time("completed_at"), started), UpdatedAt: now}
		if m := jsonOr("trigger_metadata", ""); len(m) > 0 {
			e.TriggerMetadata = m
		}
		if o := jsonOr("outputs", ""); len(o) > 0 {
			e.Outputs = o
		}
		if tid := r.str("trigger_id", nil); triggers[tid] {
			e.TriggerID = tid
		}
		if sid := r.str("session_id", nil); im.p.sessOK[sid] != "" {
			e.SessionID = im.p.sessID[sid]
		}
		if e.WorkflowVersion == "" {
			e.WorkflowVersion = w.Version
		}
		if e.WorkflowHash == "" {
			e.WorkflowHash = w.Hash
		}
		switch e.TriggerType {
		case store.TriggerManual, store.TriggerWebhook, store.TriggerSchedule:
		default:
			e.TriggerType = store.TriggerManual
		}
		if fixed {
			im.rep.problem("execution %s: NUL characters or invalid UTF-8 removed", id)
		}
		im.p.execs = append(im.p.execs, e)
		tr.ToImport++
	}
	if stopped > 0 {
		im.rep.problem("%d executions that were still running became cancelled: live state is not in an export", stopped)
	}
	return nil
}

// sessionNamespace names the UUIDs derived for upstream session ids that
// are not UUIDs (agentops' session routes accept only UUIDs).
var sessionNamespace = uuid.MustParse("5b0f3a52-8e4c-4d0e-9a57-6a1f0c2d7e11")

// sessionID keeps a UUID id and derives a stable one (the same on every
// run, so a re-run skips it) from any other.
func sessionID(up string) string {
	if u, err := uuid.Parse(up); err == nil && len(up) == 36 {
		return u.String()
	}
	return uuid.NewSHA1(sessionNamespace, []byte(up)).String()
}

// planAPITokens keeps upstream's API keys: they are "sk_" keys stored as
// the hex SHA-256 of the key, as agentops stores its own, so they keep
// working. Revoked and expired keys are left out.
func (im *importer) planAPITokens(ctx context.Context) error {
	if _, ok := im.cols["api_tokens"]; !ok {
		return nil
	}
	rows, tr, existing, err := im.readNew(ctx, "api_tokens", "api_tokens")
	if err != nil {
		return err
	}
	hashes, err := im.deps.Store.ExistingIDs(ctx, "api_tokens", "token_hash", ids(rows, "token_hash"))
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		hash := strings.ToLower(r.str("token_hash", nil))
		owner, ok := im.p.userMap[r.str("user_id", nil)]
		expires := r.time("expires_at")
		switch {
		case id == "" || len(hash) != 64:
			tr.skip("without an id or a SHA-256 hash")
			continue
		case !ok:
			tr.skip("owner not imported")
			continue
		case existing[id] || hashes[hash]:
			tr.skip("already imported")
			continue
		case !r.null("revoked_at"):
			tr.skip("revoked")
			continue
		case !expires.IsZero() && !expires.After(now):
			tr.skip("expired")
			continue
		}
		var scopes []string
		if json.Unmarshal([]byte(r.str("scopes", nil)), &scopes) != nil || scopes == nil {
			scopes = []string{}
		}
		t := &store.APIToken{ID: id, UserID: owner, Name: truncate(r.str("name", &fixed), maxNameBytes), TokenHash: hash,
			Prefix: r.str("prefix", &fixed), Scopes: scopes, LastUsedAt: r.time("last_used_at"), ExpiresAt: expires,
			CreatedAt: orTime(r.time("created_at"), now)}
		if strings.TrimSpace(t.Name) == "" {
			t.Name = "imported key"
		}
		if fixed {
			im.rep.problem("API key %s: NUL characters or invalid UTF-8 removed", id)
		}
		im.p.tokens = append(im.p.tokens, t)
		tr.ToImport++
	}
	return nil
}

// planPersonas imports personas and their instruction files. A persona
// whose creator was not imported is kept without a creator (shared ones
// stay visible to everyone, as upstream showed them).
func (im *importer) planPersonas(ctx context.Context) error {
	if _, ok := im.cols["agent_personas"]; !ok {
		return nil
	}
	rows, err := im.readTable(ctx, "agent_personas")
	if err != nil {
		return err
	}
	var files []row
	if _, ok := im.cols["agent_persona_files"]; ok {
		if files, err = im.readTable(ctx, "agent_persona_files"); err != nil {
			return err
		}
	}
	tr := im.rep.table("agent_personas")
	ftr := im.rep.table("agent_persona_files")
	existing, err := im.deps.Store.ExistingIDs(ctx, "personas", "id", ids(rows, "id"))
	if err != nil {
		return err
	}
	byPersona := map[string][]row{}
	for _, f := range files {
		byPersona[f.str("persona_id", nil)] = append(byPersona[f.str("persona_id", nil)], f)
	}
	now := im.opts.Now().UTC()
	slugs := map[string]bool{}
	// An imported default persona does not displace agentops' own.
	_, err = im.deps.Store.Personas().Default(ctx)
	sawDefault := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for _, r := range rows {
		fixed := false
		id := r.str("id", nil)
		switch {
		case id == "":
			tr.skip("without an id")
			continue
		case existing[id]:
			im.p.persOK[id] = true
			tr.skip("already imported")
			ftr.Skipped = addSkips(ftr.Skipped, "persona already imported", len(byPersona[id]))
			continue
		}
		creator := im.p.userMap[r.str("created_by", nil)]
		slug := truncate(r.str("slug", &fixed), maxNameBytes)
		if slug == "" || slugs[creator+"\x00"+slug] {
			tr.skip("duplicate or empty slug")
			continue
		}
		taken, err := im.personaSlugTaken(ctx, creator, slug)
		if err != nil {
			return err
		}
		if taken {
			tr.skip("slug already used in agentops")
			im.rep.problem("persona %s: the slug %q is taken", id, slug)
			continue
		}
		slugs[creator+"\x00"+slug] = true
		vis := r.str("visibility", nil)
		if vis != store.PersonaPrivate {
			vis = store.PersonaShared
		}
		created := orTime(r.time("created_at"), now)
		p := &store.Persona{ID: id, Name: truncate(r.str("name", &fixed), maxNameBytes), Slug: slug, Description: r.str("description", &fixed),
			Icon: r.str("icon", &fixed), DefaultModel: r.str("default_model", &fixed), Visibility: vis,
			IsDefault: r.bool("is_default") && !sawDefault, CreatedBy: creator, CreatedAt: created, UpdatedAt: orTime(r.time("updated_at"), created)}
		if p.IsDefault {
			sawDefault = true
		}
		if strings.TrimSpace(p.Name) == "" {
			p.Name = slug
		}
		var pf []store.PersonaFile
		names := map[string]bool{}
		fs := byPersona[id]
		sort.SliceStable(fs, func(a, b int) bool { return fs[a].int("sort_order") < fs[b].int("sort_order") })
		for _, f := range fs {
			name := f.str("filename", &fixed)
			content := f.str("content", &fixed)
			switch {
			case name == "" || len([]rune(name)) > 100 || names[name]:
				ftr.skip("filename agentops does not accept")
				continue
			case content == "":
				ftr.skip("empty")
				continue
			case len(pf) >= 50:
				ftr.skip("over 50 files")
				continue
			}
			if n := len([]rune(content)); n > 100000 {
				content = string([]rune(content)[:100000])
				im.rep.problem("persona %s, file %s: shortened from %d to 100000 characters", slug, name, n)
			}
			names[name] = true
			fc := orTime(f.time("created_at"), created)
			pf = append(pf, store.PersonaFile{ID: f.str("id", nil), PersonaID: id, Filename: name, Content: content,
				SortOrder: int(f.int("sort_order")), CreatedAt: fc, UpdatedAt: orTime(f.time("updated_at"), fc)})
			ftr.ToImport++
		}
		if fixed {
			im.rep.problem("persona %s: NUL characters or invalid UTF-8 removed", slug)
		}
		im.p.persOK[id] = true
		im.p.personas = append(im.p.personas, plannedPersona{p: p, files: pf})
		tr.ToImport++
	}
	return nil
}

func addSkips(m map[string]int, reason string, n int) map[string]int {
	if n == 0 {
		return m
	}
	if m == nil {
		m = map[string]int{}
	}
	m[reason] += n
	return m
}

func (im *importer) personaSlugTaken(ctx context.Context, creator, slug string) (bool, error) {
	list, err := im.deps.Store.Personas().Visible(ctx, creator)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if p.Slug == slug && p.CreatedBy == creator {
			return true, nil
		}
	}
	return false, nil
}

// planInvites keeps invites with their codes (agentops stores them as
// upstream does), so that an invite link sent before the move still
// works at the new URL; accepted ones are kept as the record of who
// invited whom.
func (im *importer) planInvites(ctx context.Context) error {
	if _, ok := im.cols["invites"]; !ok {
		return nil
	}
	rows, tr, existing, err := im.readNew(ctx, "invites", "invites")
	if err != nil {
		return err
	}
	codes, err := im.deps.Store.ExistingIDs(ctx, "invites", "code", ids(rows, "code"))
	if err != nil {
		return err
	}
	now := im.opts.Now().UTC()
	for _, r := range rows {
		id, code := r.str("id", nil), r.str("code", nil)
		expires := r.time("expires_at")
		switch {
		case id == "" || code == "" || expires.IsZero():
			tr.skip("without an id, code or expiry")
			continue
		case existing[id] || codes[code]:
			tr.skip("already imported")
			continue
		}
		role := store.RoleMember
		if r.str("role", nil) == store.RoleAdmin {
			role = store.RoleAdmin
		}
		inv := &store.Invite{ID: id, Code: code, Email: strings.ToLower(strings.TrimSpace(r.str("email", nil))), Role: role,
			InvitedBy: im.p.userMap[r.str("invited_by", nil)], AcceptedAt: r.time("accepted_at"),
			AcceptedBy: im.p.userMap[r.str("accepted_by", nil)], ExpiresAt: expires, CreatedAt: orTime(r.time("created_at"), now)}
		if !inv.AcceptedAt.IsZero() && inv.AcceptedBy == "" {
			tr.skip("accepted by a user not imported")
			continue
		}
		im.p.invites = append(im.p.invites, inv)
		tr.ToImport++
	}
	return nil
}

// planVersions keeps the version history of the workflows this run
// imports, oldest first; the current definition is the last version.
func (im *importer) planVersions(ctx context.Context) error {
	im.p.versions = map[string][]*store.WorkflowVersion{}
	if _, ok := im.cols["workflow_version_history"]; !ok {
		return nil
	}
	rows, err := im.readTable(ctx, "workflow_version_history")
	if err != nil {
		return err
	}
	tr := im.rep.table("workflow_version_history")
	fresh := map[string]*store.Workflow{}
	for _, w := range im.p.wfs {
		fresh[w.UID] = w
	}
	now := im.opts.Now().UTC()
	for _, r := range rows {
		fixed := false
		w := fresh[r.str("workflow_id", nil)]
		if w == nil {
			tr.skip("workflow not imported by this run")
			continue
		}
		def, err := workflow.ParseDefinition(json.RawMessage(jsonnul.Replace([]byte(r.str("workflow_data", nil)))))
		if err != nil {
			tr.skip("invalid definition")
			continue
		}
		source := r.str("source", nil)
		if source != "sync" && source != "rollback" {
			source = "update"
		}
		v := &store.WorkflowVersion{ID: r.str("id", nil), WorkflowUID: w.UID, Version: r.str("workflow_version", &fixed), Name: w.Name,
			Hash: def.Hash, Data: def.Data, Source: source, Notes: r.str("notes", &fixed), CreatedBy: im.p.userMap[r.str("created_by", nil)],
			CreatedAt: orTime(r.time("created_at"), now)}
		if v.ID == "" {
			tr.skip("without an id")
			continue
		}
		if v.Version == "" {
			v.Version = w.Version
		}
		if fixed {
			im.rep.problem("workflow version %s: NUL characters or invalid UTF-8 removed", v.ID)
		}
		im.p.versions[w.UID] = append(im.p.versions[w.UID], v)
		tr.ToImport++
	}
	for _, vs := range im.p.versions {
		sort.SliceStable(vs, func(a, b int) bool { return vs[a].CreatedAt.Before(vs[b].CreatedAt) })
	}
	return nil
}

// workflowTaken reports whether owner already has a workflow with this
// id or slug (an account merged into).
func (im *importer) workflowTaken(ctx context.Context, owner, id, slug string) (bool, error) {
	for _, k := range []string{id, slug} {
		if k == "" {
			continue
		}
		_, err := im.deps.Store.Workflows().Get(ctx, owner, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// planCustomProviders imports the org's OpenAI-compatible endpoints as
// custom-<id> org credentials (base URL, models, key opened with scheme
// A). agentops needs a key: an endpoint without one is listed.
func (im *importer) planCustomProviders(ctx context.Context) error {
	if _, ok := im.cols["custom_providers"]; !ok {
		return nil
	}
	rows, err := im.readTable(ctx, "custom_providers")
	if err != nil {
		return err
	}
	tr := im.rep.table("custom_providers")
	keys, err := newUpstreamKeys(im.opts.UpstreamKey)
	if err != nil {
		return refuse("%v", err)
	}
	kr := im.deps.Keyring
	now := im.opts.Now()
	for _, r := range rows {
		up := r.str("provider_id", nil)
		provider := "custom-" + strings.TrimPrefix(strings.ToLower(up), "custom-")
		switch {
		case !credentials.IsCustom(provider):
			tr.skip("provider id agentops does not accept")
			im.rep.problem("custom provider %q: agentops names them custom-<lower-case letters, digits and dashes, up to 40>", up)
			continue
		case r.null("encrypted_key") || r.str("encrypted_key", nil) == "":
			tr.skip("no key (agentops needs one)")
			continue
		case keys == nil:
			tr.skip("no --upstream-encryption-key-file given")
			continue
		}
		plain, err := keys.openA(r.str("encrypted_key", nil))
		if err != nil {
			return refuse("the upstream encryption key does not decrypt the key of custom provider %s: is it the ENCRYPTION_KEY of this deployment?", up)
		}
		if _, err := im.deps.Store.Credentials().Get(ctx, store.OrgOwner, provider); err == nil {
			tr.skip("already set")
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var models []struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(r.str("models", nil)), &models)
		in := credentials.Input{Key: string(plain), BaseURL: r.str("base_url", nil)}
		for _, m := range models {
			if m.ID != "" && len(in.Models) < credentials.MaxModels {
				in.Models = append(in.Models, m.ID)
			}
		}
		c, err := credentials.SealImported(kr, kr.PrimaryID(), store.OrgOwner, "", provider, in, now)
		if err != nil {
			tr.skip("endpoint agentops refuses")
			im.rep.problem("custom provider %s: %v", up, err)
			continue
		}
		c.SetBy = im.p.userMap[r.str("set_by", nil)]
		c.CreatedAt, c.UpdatedAt = orTime(r.time("created_at"), c.CreatedAt), orTime(r.time("updated_at"), c.UpdatedAt)
		im.p.creds = append(im.p.creds, c)
		tr.ToImport++
	}
	return nil
}
