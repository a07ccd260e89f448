package realtime_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/realtime/pubsubtest"
)

// mustRedis returns a Redis PubSub whose connections carry their own
// client name, closed when the test ends. Instances share the prefix
// given (tests on one server must not meet unless they mean to).
func mustRedis(t testing.TB, url string, opts realtime.RedisOptions) *realtime.Redis {
	t.Helper()
	if opts.ClientName == "" {
		opts.ClientName = randomName("pubsubtest-")
	}
	ps, err := realtime.NewRedis(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	return ps
}

// killRedisClients makes the server drop every connection named name.
func killRedisClients(t *testing.T, url, name string) {
	t.Helper()
	ctx := context.Background()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no connection named %s to kill", name)
	}
}

func TestRedisContract(t *testing.T) {
	url := redistest.URL(t)
	prefix := randomName("t") + ":"
	var names sync.Map // PubSub → client name
	newPS := func(t *testing.T) realtime.PubSub {
		name := randomName("pubsubtest-")
		ps := mustRedis(t, url, realtime.RedisOptions{ChannelPrefix: prefix, ClientName: name})
		names.Store(ps, name)
		return ps
	}
	pubsubtest.Run(t, newPS,
		pubsubtest.WithPeer(func(t *testing.T, _ realtime.PubSub) realtime.PubSub { return newPS(t) }),
		pubsubtest.WithConnectionKiller(func(t *testing.T, ps realtime.PubSub) {
			name, _ := names.Load(ps)
			killRedisClients(t, url, name.(string))
		}),
	)
}

// Redis pub/sub ignores the database number: deployments that share a
// server are kept apart by their channel prefix.
func TestRedisPrefixesAreSeparate(t *testing.T) {
	url := redistest.URL(t)
	a := mustRedis(t, url, realtime.RedisOptions{ChannelPrefix: randomName("a") + ":"})
	b := mustRedis(t, url, realtime.RedisOptions{ChannelPrefix: randomName("b") + ":"})
	sa := mustSub(t, a, "shared")
	sb := mustSub(t, b, "shared")
	mustPub(t, a, "shared", "for a")
	mustPub(t, b, "shared", "for b")
	if m := recv(t, sa); string(m.Payload) != "for a" {
		t.Fatalf("a got %q", m.Payload)
	}
	if m := recv(t, sb); string(m.Payload) != "for b" {
		t.Fatalf("b got %q", m.Payload)
	}
	select {
	case m := <-sa.C():
		t.Fatalf("a got %q from the other deployment", m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRedisUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := realtime.NewRedis(ctx, "redis://127.0.0.1:1/0", realtime.RedisOptions{})
	if err == nil || !strings.Contains(err.Error(), "connect to redis") {
		t.Fatalf("err = %v, want a connection error", err)
	}
}
