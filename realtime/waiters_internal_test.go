package realtime

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store/storetest"
)

// TestAbandonedListensLeaveNoWaiters: a subscribe that gives up (its ctx
// ends first) leaves nothing behind, also for a topic nobody listens to again.
func TestAbandonedListensLeaveNoWaiters(t *testing.T) {
	type drv struct {
		h       *hub
		waiters func() (chans, entries int)
	}
	drivers := map[string]func(t *testing.T) drv{
		"postgres": func(t *testing.T) drv {
			p, err := NewPostgres(context.Background(), storetest.PostgresURL(t), PostgresOptions{PublishConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return drv{p.hub, func() (int, int) {
				p.l.mu.Lock()
				defer p.l.mu.Unlock()
				n := 0
				for _, ws := range p.l.waiters {
					n += len(ws)
				}
				return len(p.l.waiters), n
			}}
		},
		"redis": func(t *testing.T) drv {
			r, err := NewRedis(context.Background(), redistest.URL(t), RedisOptions{ChannelPrefix: "aw" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return drv{r.hub, func() (int, int) {
				r.t.mu.Lock()
				defer r.t.mu.Unlock()
				n := 0
				for _, ws := range r.t.waiters {
					n += len(ws)
				}
				return len(r.t.waiters), n
			}}
		},
	}
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			failed := 0
			for i := range 500 {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Microsecond)
				s, err := d.h.Subscribe(ctx, "topic"+strconv.Itoa(i))
				cancel()
				if err != nil {
					failed++
				} else {
					s.Close()
				}
			}
			time.Sleep(2 * time.Second) // let confirmations and sweeps settle
			ch, n := d.waiters()
			t.Logf("%d subscribes gave up; waiters left: %d entries over %d channels", failed, n, ch)
			if n > 0 {
				t.Errorf("%d waiters left behind for topics nobody listens to", n)
			}
		})
	}
}
