package app_test

import (
	"testing"

	"github.com/agentops/agentops/app"
)

func TestPubSubDefaultsFollowTheDatabase(t *testing.T) {
	for _, tc := range []struct{ db, pubsub, redis, want string }{
		{"/tmp/x/agentops.db", "", "", "memory"},
		{"postgres://u@h/db", "", "", "postgres"},
		{"postgresql://u@h/db", "", "", "postgres"},
		{"postgres://u@h/db", "memory", "", "memory"},
		{"/tmp/x/agentops.db", "redis", "redis://localhost:6379/0", "redis"},
		{"postgres://u@h/db", "redis", "rediss://user:pw@redis.example:6380/2", "redis"},
	} {
		cfg := app.Config{DataDir: t.TempDir(), DatabaseURL: tc.db, PubSub: tc.pubsub, RedisURL: tc.redis}
		if err := cfg.Resolve(); err != nil {
			t.Errorf("%+v: %v", tc, err)
			continue
		}
		if cfg.PubSub != tc.want {
			t.Errorf("database %s, --pubsub %q: got %s, want %s", tc.db, tc.pubsub, cfg.PubSub, tc.want)
		}
	}
}
