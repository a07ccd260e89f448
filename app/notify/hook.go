package notify

import (
	"context"
	"fmt"

	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
)

// ownReason reports whether the owner ended the session themselves (no
// notification then).
func ownReason(reason string) bool { return reason == "user_stopped" || reason == "bulk_delete" }

// SessionEvent turns a session's events into notifications of its owner
// (session.EventHook): a question asked while the owner has no browser on
// the session, the session ending (unless the owner ended it), and errors.
func (s *Service) SessionEvent(ctx context.Context, ev session.Event) {
	in, ok := s.fromEvent(ctx, ev)
	if !ok {
		return
	}
	if _, err := s.Create(ctx, in); err != nil && ctx.Err() == nil {
		s.log.Warn("create notification", "type", ev.Type, "session_id", ev.SessionID, "err", err)
	}
}

func (s *Service) fromEvent(ctx context.Context, ev session.Event) (Input, bool) {
	in := Input{UserID: ev.UserID, EventType: ev.Type, ContextSessionID: ev.SessionID, MessageType: store.NoticeNotification}
	switch ev.Type {
	case "question.asked":
		if ev.OwnerConnected {
			return in, false
		}
		in.MessageType = store.NoticeQuestion
		in.Content = fmt.Sprintf("%s asks: %s", s.label(ctx, ev.SessionID), ev.Data.Text)
	case "action.approval_required":
		in.MessageType = store.NoticeApproval
		in.Content = fmt.Sprintf("%s asks to run %s: approve or deny it", s.label(ctx, ev.SessionID), ev.Data.ToolName)
	case "session.completed":
		switch {
		case ownReason(ev.Data.Reason):
			return in, false
		case ev.Data.Reason == "completed" || ev.Data.Reason == "":
			in.Content = fmt.Sprintf("%s completed.", s.label(ctx, ev.SessionID))
		case ev.Data.Reason == "sandbox_lost":
			in.Content = fmt.Sprintf("%s ended: its sandbox was lost.", s.label(ctx, ev.SessionID))
		default:
			in.Content = fmt.Sprintf("%s ended (%s).", s.label(ctx, ev.SessionID), ev.Data.Reason)
		}
	case "session.errored":
		in.Content = fmt.Sprintf("%s hit an error: %s", s.label(ctx, ev.SessionID), ev.Data.Error)
	default:
		return in, false
	}
	return in, true
}

// label names a session for a notification: its title, else its
// workspace, quoted.
func (s *Service) label(ctx context.Context, id string) string {
	sess, err := s.st.Sessions().Get(ctx, id)
	if err != nil {
		return "A session"
	}
	name := sess.Title
	if name == "" {
		name = sess.Workspace
	}
	return fmt.Sprintf("Session %q", Truncate(name, 200))
}
