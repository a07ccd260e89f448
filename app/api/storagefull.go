package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentops/agentops/app/apperr"
)

// errStorageFull is the 507 for a write that found no room.
var errStorageFull = &apperr.Error{Kind: apperr.KindStorageFull,
	Message: "The server's storage is full, so nothing was saved: free disk space on the server (or raise its database's size limit) and try again"}

// storageFullFor is how long after a write that found the storage full
// /ready says so, and how often the log repeats it.
const storageFullFor = time.Minute

// storageWatch remembers writes that found the storage full: /ready
// reports it for a minute after the last, and the log says it once a
// minute, with how many more there were, instead of once per request.
type storageWatch struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	lastFull   time.Time
	lastLog    time.Time
	suppressed int
}

func (s *storageWatch) full(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.lastFull = now
	if !s.lastLog.IsZero() && now.Sub(s.lastLog) < storageFullFor {
		s.suppressed++
		return
	}
	s.log.Error("storage is full: writes fail until space is freed", "err", err, "not_logged_since", s.suppressed)
	s.lastLog, s.suppressed = now, 0
}

// isFull: a write found the storage full within the last minute.
func (s *storageWatch) isFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastFull.IsZero() && s.now().Sub(s.lastFull) < storageFullFor
}

type storageWatchKey struct{}

// withStorageWatch gives writeError the watch through the context (it is
// a function of the request, not of the server).
func withStorageWatch(sw *storageWatch, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), storageWatchKey{}, sw)))
	})
}

func storageWatchFrom(ctx context.Context) *storageWatch {
	sw, _ := ctx.Value(storageWatchKey{}).(*storageWatch)
	return sw
}
