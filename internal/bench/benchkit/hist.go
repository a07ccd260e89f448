// Package benchkit holds what the load programs under internal/bench share:
// a latency histogram, a runner and browser sockets that speak agentops'
// protocols, and a small REST client.
package benchkit

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations (nanoseconds) in log-linear buckets: exact
// below 256 ns, then 128 buckets per power of two (under 0.8% error). It
// is safe for concurrent use.
type Histogram struct {
	counts [256 + 56*128]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v int64) int {
	if v < 256 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 8 // v >> e is in [128, 255]
	return 256 + (e-1)*128 + int(v>>e) - 128
}

// valueOf is the middle of bucket i.
func valueOf(i int) int64 {
	if i < 256 {
		return int64(i)
	}
	e := (i-256)/128 + 1
	m := int64((i-256)%128 + 128)
	return m<<e + (int64(1)<<e)/2
}

// Add records one duration in nanoseconds.
func (h *Histogram) Add(d int64) {
	i := bucketOf(d)
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if d <= m || h.max.CompareAndSwap(m, d) {
			break
		}
	}
}

// Count is how many durations were added.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the q-th quantile (0 < q <= 1).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(valueOf(i))
		}
	}
	return time.Duration(h.max.Load())
}

// Max is the largest duration added.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }
