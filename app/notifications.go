package app

import (
	"context"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/notify"
)

// openNotify builds the inbox; each new notification is published on the
// user event bus as a "notification" event.
func (a *App) openNotify(bus *events.Bus) *notify.Service {
	return notify.New(a.Store, busPublisher{bus}, nil, a.log)
}

// busPublisher adapts the event bus to notify.Publisher.
type busPublisher struct{ bus *events.Bus }

func (p busPublisher) Publish(ctx context.Context, userID, eventType string, data any) error {
	_, err := p.bus.Publish(ctx, userID, events.Input{Type: eventType, Data: data})
	return err
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
