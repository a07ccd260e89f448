package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentops/agentops/app/protocol"
)

// SeedNote opens the first prompt of an agent session that replaces one
// whose state is gone; the transcript so far follows it.
const SeedNote = "[agentops system note] This session was started again without your earlier state (a restored backup, an imported session, or a runner on another machine), so you have no memory of its earlier turns. The conversation so far is below, between <transcript> tags: treat it as what already happened, and do not redo work it reports done without checking the workspace. The user's new message follows it."

// seedTimeout bounds the transcript-read RPC: without an answer (an
// older server, a lost result) the prompt goes without the transcript.
const seedTimeout = 10 * time.Second

// SeedPrompt returns the content of the first prompt of a new agent
// session: p.Content alone when the session has no earlier messages, else
// SeedNote, the transcript before p (from the server, through
// transcript-read) and p.Content. An adapter calls it whenever it starts a
// new agent session (not when it resumes one), so that the agent sees the
// earlier turns when its own state is gone. When the transcript cannot be
// had, it logs why and returns p.Content.
func SeedPrompt(ctx context.Context, out Turn, p Prompt, log *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	res, err := out.Call(ctx, protocol.RunnerFrame{Type: protocol.RTranscript, MessageID: p.MessageID})
	if err != nil {
		log.Warn("no transcript to seed the new agent session with", "err", err)
		return p.Content
	}
	var msgs []struct{ Role, Content string }
	var omitted int
	_ = json.Unmarshal(res["messages"], &msgs)
	_ = json.Unmarshal(res["omitted"], &omitted)
	if len(msgs) == 0 {
		return p.Content
	}
	return FormatSeed(msgs, omitted, p.Content)
}

// FormatSeed writes the seeded prompt: the note, the transcript, the new
// message.
func FormatSeed(msgs []struct{ Role, Content string }, omitted int, content string) string {
	var b strings.Builder
	b.WriteString(SeedNote)
	b.WriteString("\n\n<transcript>\n")
	if omitted > 0 {
		fmt.Fprintf(&b, "(%d earlier messages left out)\n\n", omitted)
	}
	for _, m := range msgs {
		who := "User"
		if m.Role == "assistant" {
			who = "Assistant"
		}
		fmt.Fprintf(&b, "%s: %s\n\n", who, strings.TrimSpace(m.Content))
	}
	b.WriteString("</transcript>\n\nThe user's new message:\n\n")
	b.WriteString(content)
	return b.String()
}
