package agentops_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Pub/sub settings that cannot work stop serve before it touches
// anything, with a message that says what to change.
func TestServeRefusesBadPubSubSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"unknown driver", map[string]string{"AGENTOPS_PUBSUB": "kafka"}, nil, []string{"--pubsub must be memory, postgres or redis", "kafka"}},
		{"postgres on sqlite", nil, []string{"--pubsub", "postgres"}, []string{"needs a Postgres database"}},
		{"redis without url", nil, []string{"--pubsub", "redis"}, []string{"needs --redis-url", "AGENTOPS_REDIS_URL"}},
		{"url without redis", map[string]string{"AGENTOPS_REDIS_URL": "redis://127.0.0.1:6379/0"}, nil, []string{"--redis-url is set but --pubsub is memory", "AGENTOPS_PUBSUB=redis"}},
		{"malformed url", nil, []string{"--pubsub", "redis", "--redis-url", "http://example.com"}, []string{"--redis-url", "not a Redis URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := filepath.Join(t.TempDir(), "data")
			_, _, err := execute(t, "", append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, tc.args...)...)
			for _, w := range tc.want {
				wantErrContains(t, err, w)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve created its data dir despite the invalid setting (stat err %v)", err)
			}
		})
	}
}

// A Redis that does not answer stops serve at start-up, naming the
// setting.
func TestServeRefusesUnreachableRedis(t *testing.T) {
	isolateEnv(t)
	_, _, err := execute(t, "", "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--pubsub", "redis", "--redis-url", "redis://127.0.0.1:1/0")
	wantErrContains(t, err, "--pubsub redis")
	wantErrContains(t, err, "connect to redis")
}
