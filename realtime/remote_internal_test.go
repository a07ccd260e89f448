package realtime

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store/storetest"
)

// A network driver gives up a topic on the server once its last local
// subscription ends, however it ends, so a long-running replica does not
// keep LISTENs or SUBSCRIBEs for every user that ever connected; and it
// takes the topic again for the next subscriber.
func TestRemoteGivesUpIdleTopics(t *testing.T) {
	drivers := map[string]func(t *testing.T) (*hub, func() int){
		"postgres": func(t *testing.T) (*hub, func() int) {
			p, err := NewPostgres(context.Background(), storetest.PostgresURL(t), PostgresOptions{PublishConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return p.hub, func() int {
				p.l.mu.Lock()
				defer p.l.mu.Unlock()
				return len(p.l.have) + len(p.l.want)
			}
		},
		"redis": func(t *testing.T) (*hub, func() int) {
			r, err := NewRedis(context.Background(), redistest.URL(t), RedisOptions{ChannelPrefix: "idle" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r.hub, func() int {
				r.t.mu.Lock()
				defer r.t.mu.Unlock()
				return len(r.t.acked) + len(r.t.want)
			}
		},
	}
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			h, serverSide := open(t)
			ctx := context.Background()
			for i := range 30 {
				topic := "t" + strconv.Itoa(i)
				sctx, cancel := context.WithCancel(ctx)
				s, err := h.Subscribe(sctx, topic, WithQueueSize(1))
				if err != nil {
					t.Fatal(err)
				}
				switch i % 3 {
				case 0:
					s.Close()
				case 1:
					cancel()
					for range s.C() {
					}
				case 2:
					for range 2 { // overflow a queue of 1 that nobody reads
						if err := h.Publish(ctx, topic, nil); err != nil {
							t.Fatal(err)
						}
					}
					eventually.True(t, 10*time.Second, "the overflowed subscription to be dropped", func() bool { return s.Err() != nil })
				}
				cancel()
			}
			eventually.NoError(t, 10*time.Second, "the idle topics to be given up", func() error {
				if len(h.listenedTopics()) == 0 && serverSide() == 0 {
					return nil
				}
				return fmt.Errorf("state: %s", strings.Join(h.listenedTopics(), ","))
			})

			s, err := h.Subscribe(ctx, "t1")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := h.Publish(ctx, "t1", []byte("again")); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-s.C():
				if string(m.Payload) != "again" {
					t.Fatalf("got %q", m.Payload)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a topic taken again delivers nothing")
			}
		})
	}
}

func TestNotifyEncoding(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("{\"a\":1}"), []byte("=~"), {0}, {0xff, 0xfe}, []byte("é\x00")} {
		enc := encodeNotify(p)
		if strings.ContainsRune(enc, 0) {
			t.Errorf("%q encodes with a NUL byte", p)
		}
		got, err := decodeNotify(enc)
		if err != nil || string(got) != string(p) {
			t.Errorf("%q → %q → %q, %v", p, enc, got, err)
		}
	}
	if _, err := decodeNotify("plain"); err == nil {
		t.Error("a payload without an encoding mark decoded")
	}
	long := strings.Repeat("x", MaxTopicBytes)
	if a, b := pgChannel(long), pgChannel(long[1:]+"y"); len(a) > 63 || a == b {
		t.Errorf("channels of long topics: %q %q", a, b)
	}
}
