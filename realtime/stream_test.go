package realtime_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentops/agentops/realtime"
)

func TestSSEFraming(t *testing.T) {
	rec := httptest.NewRecorder()
	s := realtime.NewSSE(rec, realtime.SSEOptions{Retry: 1500 * time.Millisecond})
	if s.Started() || rec.Code != 200 || len(rec.Header()) != 0 {
		t.Fatal("the response started before the first write")
	}
	ctx := context.Background()
	if err := s.Send(ctx, realtime.Frame{ID: "e:1", Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	// A field value cannot end its line; data lines are split so that the
	// client joins them back with "\n".
	if err := s.Send(ctx, realtime.Frame{ID: "e:2\nevent: forged", Event: "reset\r", Data: []byte("one\r\ntwo\rthree\nfour")}); err != nil {
		t.Fatal(err)
	}
	if rec.Body.Len() != 0 {
		t.Fatal("Send wrote before Flush")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	want := "retry: 1500\n\n" +
		"id: e:1\ndata: {\"a\":1}\n\n" +
		"id: e:2event: forged\nevent: reset\ndata: one\ndata: two\ndata: three\ndata: four\n\n" +
		": heartbeat\n\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("stream:\n%q\nwant\n%q", got, want)
	}
	h := rec.Header()
	if h.Get("Content-Type") != "text/event-stream; charset=utf-8" || h.Get("X-Accel-Buffering") != "no" || h.Get("Cache-Control") == "" {
		t.Fatalf("headers %v", h)
	}
	if !s.Started() || !rec.Flushed {
		t.Fatal("writes are flushed")
	}
}
