package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/realtime"
)

// openNotify builds the inbox over pub. Notifications are published on
// the user's pub/sub topic, beside the session events; this is where the
// user event bus plugs in: give notify.New a Publisher that appends to it.
func (a *App) openNotify(pub realtime.PubSub) *notify.Service {
	return notify.New(a.Store, userTopicPublisher{pub}, nil, a.log)
}

// userTopicPublisher publishes an event on session.UserTopic(userID) as
// {type, userId, data, at}. Data that does not fit a pub/sub payload is
// left out: the event is then a hint to reload.
type userTopicPublisher struct{ ps realtime.PubSub }

type userEvent struct {
	Type   string    `json:"type"`
	UserID string    `json:"userId"`
	Data   any       `json:"data,omitempty"`
	At     time.Time `json:"at"`
}

func (p userTopicPublisher) Publish(ctx context.Context, userID, eventType string, data any) error {
	ev := userEvent{Type: eventType, UserID: userID, Data: data, At: time.Now().UTC()}
	b, err := json.Marshal(ev)
	if err != nil || len(b) > realtime.MaxPayloadBytes {
		ev.Data = nil
		b, _ = json.Marshal(ev)
	}
	return p.ps.Publish(ctx, session.UserTopic(userID), b)
}

// approvalNotifier puts a workflow execution's approval request in its
// owner's inbox (an actionable "approval" message), which also publishes
// it on the event bus.
type approvalNotifier struct{ n *notify.Service }

func (a approvalNotifier) ApprovalRequested(ctx context.Context, userID, executionID, sessionID, prompt string) error {
	content := prompt
	if content == "" {
		content = "A workflow execution is waiting for your approval"
	}
	_, err := a.n.Create(ctx, notify.Input{UserID: userID, MessageType: "approval", EventType: "workflow.approval_requested",
		Content: content, ContextSessionID: sessionID, ContextExecutionID: executionID})
	return err
}
