package main

import (
	"github.com/agentops/agentops/internal/bench/benchkit"

	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// many runs o.sessions sessions at once, each with its own runner sending
// one turn of o.deltas deltas as fast as acks allow, then checks every
// transcript over REST.
func many(ctx context.Context, o options, s *server) error {
	tokens, err := s.Users(ctx, (o.sessions+9)/10)
	if err != nil {
		return err
	}
	sessions, err := s.CreateSessions(ctx, tokens, o.sessions, 8)
	if err != nil {
		return err
	}
	runners := make([]*benchkit.Runner, len(sessions))
	defer func() {
		for _, r := range runners {
			if r != nil {
				r.Close()
			}
		}
	}()
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(o.dialWorkers, len(sessions)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(sessions) {
					return
				}
				r, err := benchkit.DialRunner(ctx, s.WSURL(sessions[i].ID), sessions[i].RunnerToken, o.window)
				if err == nil {
					runners[i] = r
					err = r.Ready(ctx)
				}
				if err == nil {
					err = r.Prompted(ctx, s.Client, sessions[i], "bench")
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("runner %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}

	// The same text in every session: delta i is its number and filler.
	deltas := make([]string, o.deltas)
	var want strings.Builder
	for i := range deltas {
		d := fmt.Sprintf("%07d ", i)
		for len(d) < o.deltaBytes {
			d += string(rune('a' + len(d)%26))
		}
		deltas[i] = d
		want.WriteString(d)
	}

	stop, err := profile(o)
	if err != nil {
		return err
	}
	ends := make([]time.Time, len(runners))
	errs := make([]error, len(runners))
	start := time.Now()
	for i, r := range runners {
		wg.Go(func() {
			errs[i] = turn(ctx, r, deltas)
			ends[i] = time.Now()
		})
	}
	wg.Wait()
	stop()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
	}
	var end time.Time
	durations := make([]time.Duration, len(ends))
	for i, e := range ends {
		durations[i] = e.Sub(start)
		if e.After(end) {
			end = e
		}
	}
	slices.Sort(durations)
	wall := end.Sub(start)

	// Every transcript, over REST: one assistant message with all the text
	// and its finish part.
	complete, bytes := 0, 0
	var bad []string
	for _, bs := range sessions {
		var out struct {
			Messages []struct {
				Role    string
				Content string
				Parts   []struct{ Type string }
			}
		}
		if err := s.Call(ctx, "GET", "/api/sessions/"+bs.ID+"/messages", bs.Owner, nil, &out, 200); err != nil {
			return err
		}
		ok := len(out.Messages) == 2 && out.Messages[0].Role == "user" && out.Messages[1].Role == "assistant" && out.Messages[1].Content == want.String()
		if ok {
			parts := out.Messages[1].Parts
			ok = len(parts) == 2 && parts[0].Type == "text" && parts[1].Type == "finish"
		}
		if ok {
			complete++
		} else if len(bad) < 3 {
			got := 0
			if len(out.Messages) > 0 {
				got = len(out.Messages[len(out.Messages)-1].Content)
			}
			bad = append(bad, fmt.Sprintf("%s: %d messages, last content %d bytes (want %d)", bs.ID, len(out.Messages), got, want.Len()))
		}
		for _, m := range out.Messages {
			if m.Role == "assistant" {
				bytes += len(m.Content)
			}
		}
	}
	total := o.deltas * len(sessions)
	fmt.Printf("<!-- %s -->\n", environment(o))
	fmt.Println("| database | sessions | deltas each | bytes per delta | wall | deltas/s persisted | session turn time min / median / max | transcripts complete (REST) | bytes checked |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %s | %d | %d | %d | %s | %.0f | %s / %s / %s | %d of %d | %d of %d |\n",
		o.db, len(sessions), o.deltas, o.deltaBytes, round(wall), float64(total)/wall.Seconds(),
		round(durations[0]), round(durations[len(durations)/2]), round(durations[len(durations)-1]),
		complete, len(sessions), bytes, want.Len()*len(sessions))
	for _, b := range bad {
		fmt.Printf("<!-- incomplete: %s -->\n", b)
	}
	if complete != len(sessions) {
		return fmt.Errorf("%d of %d transcripts are incomplete", len(sessions)-complete, len(sessions))
	}
	return nil
}

// turn streams one assistant turn and waits until it is persisted.
func turn(ctx context.Context, r *benchkit.Runner, deltas []string) error {
	const id = "turn-1"
	if _, err := r.Create(ctx, id); err != nil {
		return err
	}
	for _, d := range deltas {
		if _, err := r.Delta(ctx, id, func(b []byte) []byte { return append(b, d...) }); err != nil {
			return err
		}
	}
	return r.Finish(ctx, id)
}
