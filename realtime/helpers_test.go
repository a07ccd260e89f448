package realtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/realtime"
)

func mustSub(t *testing.T, ps realtime.PubSub, topic string) realtime.Subscription {
	t.Helper()
	s, err := ps.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustPub(t *testing.T, ps realtime.PubSub, topic, payload string) {
	t.Helper()
	if err := ps.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

func recv(t *testing.T, s realtime.Subscription) realtime.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	panic("unreachable")
}
