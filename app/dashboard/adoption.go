package dashboard

import (
	"context"
	"math"
	"time"

	"github.com/agentops/agentops/app/apperr"
)

// Adoption is GET /api/dashboard/adoption's answer (upstream's shape).
type Adoption struct {
	TotalPRsCreated int `json:"totalPRsCreated"`
	TotalPRsMerged  int `json:"totalPRsMerged"`
	MergeRate       int `json:"mergeRate"` // whole percent of the created that are merged
	TotalCommits    int `json:"totalCommits"`
}

// Adoption counts, over the last period days (default 30, 1–365), the
// pull requests sessions created and how many are merged, and the commits
// their pushes sent (org-wide, as upstream).
func (s *Service) Adoption(ctx context.Context, period int) (*Adoption, error) {
	if period == 0 {
		period = 30
	}
	if period < 1 || period > 365 {
		return nil, apperr.Invalid("period", "period must be a whole number of days from 1 to 365")
	}
	from := s.now().UTC().Add(-time.Duration(period) * 24 * time.Hour)
	a, err := s.st.GitStates().Adoption(ctx, from)
	if err != nil {
		return nil, err
	}
	out := &Adoption{TotalPRsCreated: a.PRsCreated, TotalPRsMerged: a.PRsMerged, TotalCommits: a.Commits}
	if a.PRsCreated > 0 {
		out.MergeRate = int(math.Round(float64(a.PRsMerged) / float64(a.PRsCreated) * 100))
	}
	return out, nil
}
