package auth

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
)

// hashGate bounds concurrent argon2id computations. Each one holds
// argonMemoryKiB (19 MiB) for its duration, so a burst of a hundred
// logins would otherwise ask for nearly 2 GB at once; with one slot per
// core, the burst queues and takes as long as the cores need anyway.
//
// When the last computation of a burst ends, the memory it used is given
// back to the operating system at once: Go's background scavenger would
// keep it for minutes, which is most of an idle server's resident set.
type hashGate struct {
	slots chan struct{}

	mu       sync.Mutex
	inFlight int
}

func newHashGate(n int) *hashGate {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return &hashGate{slots: make(chan struct{}, n)}
}

// do runs fn in a slot, waiting for one unless ctx ends first.
func (g *hashGate) do(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.inFlight++
	g.mu.Unlock()
	fn()
	<-g.slots
	g.mu.Lock()
	g.inFlight--
	last := g.inFlight == 0 && len(g.slots) == 0
	g.mu.Unlock()
	if last {
		debug.FreeOSMemory()
	}
	return nil
}

// hashPassword is HashPassword in a slot.
func (s *Service) hashPassword(ctx context.Context, pw string) (hash string, err error) {
	if gerr := s.hashing.do(ctx, func() { hash, err = HashPassword(pw) }); gerr != nil {
		return "", gerr
	}
	return hash, err
}

// checkPassword is CheckPassword in a slot.
func (s *Service) checkPassword(ctx context.Context, hash, pw string) (ok bool, err error) {
	if gerr := s.hashing.do(ctx, func() { ok, err = CheckPassword(hash, pw) }); gerr != nil {
		return false, gerr
	}
	return ok, err
}
