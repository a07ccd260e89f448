package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// Webhook methods a trigger may require (upstream allows POST and GET).
var webhookMethods = map[string]bool{"POST": true, "GET": true, "PUT": true, "PATCH": true, "DELETE": true}

// Trigger limits.
const (
	maxWebhookPathBytes = 200
	maxSecretBytes      = 256
	// NextRunsShown is how many next run times schedule triggers report.
	NextRunsShown = 5
)

// TriggerConfig is a trigger's config, as clients send it (secret only
// ever comes in) and as it is stored (without the secret).
type TriggerConfig struct {
	Type string `json:"type"`
	// webhook
	Path    string            `json:"path,omitempty"`
	Method  string            `json:"method,omitempty"`
	Secret  *string           `json:"secret,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// schedule
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Target   string `json:"target,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
}

// ValidWebhookPath reports whether p can name a webhook: 1 to 200
// characters of [A-Za-z0-9._~-] in segments separated by single slashes.
func ValidWebhookPath(p string) bool {
	if p == "" || len(p) > maxWebhookPathBytes {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~-", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// checkedConfig is a parsed, validated trigger config.
type checkedConfig struct {
	stored json.RawMessage // without the secret
	cfg    TriggerConfig
	// secret: nil keeps the current one (a webhook config sent without
	// "secret"); "" removes it.
	secret *string
}

func parseConfig(raw json.RawMessage) (*checkedConfig, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, apperr.Invalid("config", "config is required")
	}
	var present map[string]json.RawMessage
	var c TriggerConfig
	if json.Unmarshal(raw, &present) != nil || json.Unmarshal(raw, &c) != nil {
		return nil, apperr.Invalid("config", "config must be an object such as {\"type\":\"webhook\",\"path\":\"…\"}")
	}
	out := &checkedConfig{}
	switch c.Type {
	case store.TriggerWebhook:
		if !ValidWebhookPath(c.Path) {
			return nil, apperr.Invalid("config.path", "config.path must be 1 to %d characters of letters, digits, '.', '_', '~' and '-' in segments separated by '/'", maxWebhookPathBytes)
		}
		c.Method = strings.ToUpper(c.Method)
		if c.Method == "" {
			c.Method = "POST"
		}
		if !webhookMethods[c.Method] {
			return nil, apperr.Invalid("config.method", "config.method must be POST, GET, PUT, PATCH or DELETE")
		}
		if _, ok := present["secret"]; ok {
			sec := ""
			if c.Secret != nil {
				sec = *c.Secret
			}
			if len(sec) > maxSecretBytes {
				return nil, apperr.Invalid("config.secret", "config.secret must be at most %d characters", maxSecretBytes)
			}
			out.secret = &sec
		}
		c = TriggerConfig{Type: c.Type, Path: c.Path, Method: c.Method, Headers: c.Headers}
	case store.TriggerSchedule:
		if c.Target != "" && c.Target != "workflow" {
			return nil, apperr.Invalid("config.target", "config.target must be workflow: agentops has no orchestrator to send prompts to")
		}
		sched, err := ParseSchedule(c.Cron, c.Timezone)
		if err != nil {
			return nil, err
		}
		c = TriggerConfig{Type: c.Type, Cron: sched.Cron, Timezone: sched.Timezone, Target: "workflow"}
	case store.TriggerManual:
		c = TriggerConfig{Type: c.Type}
	default:
		return nil, apperr.Invalid("config.type", "config.type must be webhook, schedule or manual")
	}
	var err error
	if out.stored, err = Canonical(c); err != nil {
		return nil, err
	}
	out.cfg = c
	return out, nil
}

// ConfigOf decodes a stored trigger config.
func ConfigOf(t *store.Trigger) TriggerConfig {
	var c TriggerConfig
	_ = json.Unmarshal(t.Config, &c)
	return c
}

// TriggerInput is POST /api/triggers.
type TriggerInput struct {
	WorkflowID      string // id or slug
	Name            string
	Enabled         *bool
	Config          json.RawMessage
	VariableMapping json.RawMessage
}

// TriggerView is a trigger with what its JSON shows beside it.
type TriggerView struct {
	*store.Trigger
	WorkflowID   string
	WorkflowName string
	Config       TriggerConfig
	HasSecret    bool
	// NextRuns are a schedule's next run times.
	NextRuns []time.Time
}

func (s *Service) view(t *store.Trigger, w *store.Workflow) *TriggerView {
	v := &TriggerView{Trigger: t, Config: ConfigOf(t), HasSecret: t.WebhookSecret != ""}
	if w != nil {
		v.WorkflowID, v.WorkflowName = w.ID, w.Name
	}
	if t.Type == store.TriggerSchedule {
		if sched, err := s.crons.get(v.Config.Cron, v.Config.Timezone); err == nil {
			v.NextRuns = sched.NextN(s.now(), NextRunsShown)
		}
	}
	return v
}

// WebhookURL is where a webhook trigger receives deliveries.
func (s *Service) WebhookURL(path string) string { return s.cfg.PublicURL + "/webhooks/" + path }

func (s *Service) seal(triggerID, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	return s.sealer.Seal([]byte(secret), secretAAD(triggerID))
}

func (s *Service) openSecret(t *store.Trigger) ([]byte, error) {
	return s.sealer.Open(t.WebhookSecret, secretAAD(t.ID))
}

func pathTaken(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return apperr.Invalid("config.path", "Webhook path already in use")
	}
	return err
}

func checkTriggerName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > maxNameBytes {
		return apperr.Invalid("name", "name must be 1 to %d characters", maxNameBytes)
	}
	return nil
}

// CreateTrigger adds a trigger to one of the user's workflows.
func (s *Service) CreateTrigger(ctx context.Context, userID string, in TriggerInput) (*TriggerView, error) {
	if strings.TrimSpace(in.WorkflowID) == "" {
		return nil, apperr.Invalid("workflowId", "workflowId is required")
	}
	if err := checkTriggerName(in.Name); err != nil {
		return nil, err
	}
	cc, err := parseConfig(in.Config)
	if err != nil {
		return nil, err
	}
	mapping, _, err := ParseMapping(in.VariableMapping)
	if err != nil {
		return nil, err
	}
	w, err := s.Get(ctx, userID, in.WorkflowID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &store.Trigger{ID: newID(), UserID: userID, WorkflowUID: w.UID, Name: in.Name, Enabled: true, Type: cc.cfg.Type,
		Config: cc.stored, VariableMapping: mapping, CreatedAt: now, UpdatedAt: now}
	if in.Enabled != nil {
		t.Enabled = *in.Enabled
	}
	if t.Type == store.TriggerWebhook {
		t.WebhookPath = cc.cfg.Path
		if cc.secret != nil {
			if t.WebhookSecret, err = s.seal(t.ID, *cc.secret); err != nil {
				return nil, err
			}
		}
	}
	if err := s.st.Triggers().Insert(ctx, t); err != nil {
		return nil, pathTaken(err)
	}
	return s.view(t, w), nil
}

// trigger returns the user's trigger; others' are not found.
func (s *Service) trigger(ctx context.Context, userID, id string) (*store.Trigger, error) {
	t, err := s.st.Triggers().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.UserID != userID) {
		return nil, apperr.NotFound("Trigger")
	}
	return t, err
}

// GetTrigger returns one of the user's triggers.
func (s *Service) GetTrigger(ctx context.Context, userID, id string) (*TriggerView, error) {
	t, err := s.trigger(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	w, err := s.st.Workflows().GetByUID(ctx, t.WorkflowUID)
	if err != nil {
		return nil, err
	}
	return s.view(t, w), nil
}

// ListTriggers returns the user's triggers; workflowID (id or slug)
// narrows to one workflow's.
func (s *Service) ListTriggers(ctx context.Context, userID, workflowID string) ([]*TriggerView, error) {
	uid := ""
	if workflowID != "" {
		w, err := s.Get(ctx, userID, workflowID)
		if err != nil {
			return nil, err
		}
		uid = w.UID
	}
	ts, err := s.st.Triggers().List(ctx, userID, uid)
	if err != nil {
		return nil, err
	}
	ws, err := s.st.Workflows().List(ctx, userID)
	if err != nil {
		return nil, err
	}
	byUID := make(map[string]*store.Workflow, len(ws))
	for i := range ws {
		byUID[ws[i].UID] = &ws[i]
	}
	out := make([]*TriggerView, 0, len(ts))
	for i := range ts {
		out = append(out, s.view(&ts[i], byUID[ts[i].WorkflowUID]))
	}
	return out, nil
}

// TriggerPatch is PATCH /api/triggers/:id: every field optional.
// variableMapping may be null (cleared). A webhook config without
// "secret" keeps the current secret; "secret": null or "" removes it.
type TriggerPatch struct {
	WorkflowID      *string
	Name            *string
	Enabled         *bool
	Config          json.RawMessage
	VariableMapping Optional[json.RawMessage]
}

// UpdateTrigger applies a partial update, checking it as a create would.
func (s *Service) UpdateTrigger(ctx context.Context, userID, id string, p TriggerPatch) (*TriggerView, error) {
	t, err := s.trigger(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	var cols []string
	if p.Name != nil {
		if err := checkTriggerName(*p.Name); err != nil {
			return nil, err
		}
		t.Name, cols = *p.Name, append(cols, "name")
	}
	if p.Enabled != nil {
		t.Enabled, cols = *p.Enabled, append(cols, "enabled")
	}
	if p.WorkflowID != nil {
		w, err := s.Get(ctx, userID, *p.WorkflowID)
		if err != nil {
			return nil, err
		}
		t.WorkflowUID, cols = w.UID, append(cols, "workflow_uid")
	}
	if p.VariableMapping.Set {
		mapping, _, err := ParseMapping(p.VariableMapping.Value)
		if err != nil {
			return nil, err
		}
		if p.VariableMapping.Null {
			mapping = nil
		}
		t.VariableMapping, cols = mapping, append(cols, "variable_mapping")
	}
	if len(p.Config) > 0 {
		cc, err := parseConfig(p.Config)
		if err != nil {
			return nil, err
		}
		wasWebhook := t.Type == store.TriggerWebhook
		t.Type, t.Config = cc.cfg.Type, cc.stored
		cols = append(cols, "type", "config", "webhook_path", "webhook_secret")
		switch {
		case t.Type != store.TriggerWebhook:
			t.WebhookPath, t.WebhookSecret = "", ""
		case cc.secret != nil:
			t.WebhookPath = cc.cfg.Path
			if t.WebhookSecret, err = s.seal(t.ID, *cc.secret); err != nil {
				return nil, err
			}
		default:
			t.WebhookPath = cc.cfg.Path
			if !wasWebhook {
				t.WebhookSecret = ""
			}
		}
	}
	if len(cols) > 0 {
		t.UpdatedAt = s.now()
		if err := s.st.Triggers().Update(ctx, t, cols...); err != nil {
			return nil, pathTaken(err)
		}
	}
	w, err := s.st.Workflows().GetByUID(ctx, t.WorkflowUID)
	if err != nil {
		return nil, err
	}
	return s.view(t, w), nil
}

// DeleteTrigger removes one of the user's triggers.
func (s *Service) DeleteTrigger(ctx context.Context, userID, id string) error {
	if _, err := s.trigger(ctx, userID, id); err != nil {
		return err
	}
	return s.st.Triggers().Delete(ctx, id)
}

// SetTriggerEnabled enables or disables one of the user's triggers.
func (s *Service) SetTriggerEnabled(ctx context.Context, userID, id string, enabled bool) error {
	t, err := s.trigger(ctx, userID, id)
	if err != nil {
		return err
	}
	if t.Enabled == enabled {
		return nil
	}
	t.Enabled, t.UpdatedAt = enabled, s.now()
	return s.st.Triggers().Update(ctx, t, "enabled")
}
