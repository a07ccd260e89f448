package realtime

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
)

// Topics are forgotten when their last subscription ends, however it ends,
// so a long-running server does not accumulate them.
func TestMemoryForgetsEmptyTopics(t *testing.T) {
	m := NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	for i := range 30 {
		topic := "t" + strconv.Itoa(i)
		sctx, cancel := context.WithCancel(ctx)
		s, err := m.Subscribe(sctx, topic, WithQueueSize(1))
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
			for range 2 { // overflow a queue of 1
				if err := m.Publish(ctx, topic, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		cancel()
	}
	eventually.NoError(t, 10*time.Second, "empty topics to be forgotten", func() error {
		m.mu.RLock()
		n := len(m.topics)
		m.mu.RUnlock()
		if n == 0 {
			return nil
		}
		return fmt.Errorf("%d topics left without subscribers", n)
	})
}
