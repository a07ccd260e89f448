package repos

import (
	"context"
	"errors"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// RefreshJob is the periodic job's name; it runs every minute (on one
// replica) and reads again each open pull request whose turn has come.
const (
	RefreshJob      = "repos.refresh-pull-requests"
	RefreshSchedule = "* * * * *"
	// refreshBatch bounds the pull requests one run reads (GitHub's
	// rate limit is 5000 requests an hour per token).
	refreshBatch = 100
	maxBackoff   = 6 // the interval doubles at most this many times
)

// due reports whether an open pull request's state should be read now: a
// refresh interval after the last check, doubled for each failure since.
func (s *Service) due(pr store.OpenPR, now time.Time) bool {
	if pr.CheckedAt.IsZero() {
		return true
	}
	wait := s.interval << min(pr.Failures, maxBackoff)
	// A little slack, so that a job run a moment early does not skip a
	// whole round.
	return !now.Before(pr.CheckedAt.Add(wait - wait/20))
}

// Refresh reads the state of the open pull requests that are due, with
// each session owner's token, and stores what changed. A rate limit stops
// the run (and the next ones until GitHub's reset); a failure backs the
// pull request off.
func (s *Service) Refresh(ctx context.Context) error {
	now := s.now()
	if now.Before(s.pausedUntil) {
		return nil
	}
	open, err := s.st.GitStates().OpenPRs(ctx, 10*refreshBatch)
	if err != nil {
		return err
	}
	var errs []error
	read := 0
	for _, o := range open {
		if read >= refreshBatch {
			break
		}
		if !s.due(o, now) {
			continue
		}
		read++
		pr, err := s.readPR(ctx, o)
		if err != nil {
			if e, ok := apperr.As(err); ok && e.Code == "GITHUB_RATE_LIMITED" {
				secs, _ := e.Extra["retryAfterSeconds"].(int)
				s.pausedUntil = now.Add(time.Duration(secs) * time.Second)
				s.log.Warn("pull request refresh: GitHub's rate limit is used up; pausing", "retry_after_seconds", secs)
				break
			}
			s.log.Info("pull request refresh failed; backing off", "session_id", o.SessionID, "pr_number", o.Number, "err", err)
			errs = append(errs, s.st.GitStates().PRCheckFailed(ctx, o.SessionID, now))
			continue
		}
		if err := s.st.GitStates().UpdatePR(ctx, o.SessionID, pr, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) readPR(ctx context.Context, o store.OpenPR) (store.PullRequest, error) {
	r, err := s.api.parseRepo(o.RepoURL)
	if err != nil {
		return store.PullRequest{}, err
	}
	tok, err := s.tokens.RepoToken(ctx, o.UserID, o.RepoURL)
	if err != nil {
		return store.PullRequest{}, err
	}
	if tok == "" {
		return store.PullRequest{}, errors.New("the session's owner has no github token")
	}
	c, err := s.api.client(tok)
	if err != nil {
		return store.PullRequest{}, err
	}
	pr, _, err := c.PullRequests.Get(ctx, r.Owner, r.Name, o.Number)
	if err != nil {
		return store.PullRequest{}, apiError(r.FullName()+" pull request", err)
	}
	return store.PullRequest{Number: pr.GetNumber(), Title: pr.GetTitle(), State: prState(pr), URL: pr.GetHTMLURL(),
		MergedAt: pr.GetMergedAt().Time.UTC()}, nil
}
