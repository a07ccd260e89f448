package store_test

import (
	"context"
	"maps"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestCountLiveByStatusAndPoolStats(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		got, err := s.Sessions().CountLiveByStatus(ctx)
		noErr(t, "count on an empty database", err)
		want := map[string]int{"initializing": 0, "running": 0, "hibernating": 0, "hibernated": 0, "restoring": 0}
		if !maps.Equal(got, want) {
			t.Fatalf("empty: %v", got)
		}
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		for _, st := range []string{"running", "running", "hibernated", "terminated", "error", "archived", "initializing"} {
			mkAgentSession(t, s, u.ID, st, base)
		}
		got, err = s.Sessions().CountLiveByStatus(ctx)
		noErr(t, "count", err)
		want["running"], want["hibernated"], want["initializing"] = 2, 1, 1
		if !maps.Equal(got, want) {
			t.Fatalf("counts %v, want %v (terminal statuses left out)", got, want)
		}

		pools := s.PoolStats()
		names := []string{"read", "write"}
		if s.Dialect() == store.Postgres {
			names = []string{"main"}
		}
		if len(pools) != len(names) {
			t.Fatalf("pools: %v", pools)
		}
		for _, n := range names {
			if pools[n].MaxOpenConnections < 1 || pools[n].OpenConnections < 1 {
				t.Fatalf("pool %s: %+v", n, pools[n])
			}
		}
	})
}
