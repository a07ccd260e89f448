package main

import (
	"github.com/agentops/agentops/internal/bench/benchkit"

	"context"
	"fmt"
	"time"
)

// fanout streams one turn of o.deltas deltas from one runner to o.sockets
// browser sockets of the same session.
func fanout(ctx context.Context, o options, s *server) error {
	tokens, err := s.Users(ctx, 1)
	if err != nil {
		return err
	}
	bs, err := s.CreateSession(ctx, tokens[0])
	if err != nil {
		return err
	}
	lat := &benchkit.Histogram{}
	// With -replicas, the sockets are spread over the replicas: those on
	// replicas that do not run the session are relayed from its owner.
	var browsers []*benchkit.Browser
	for i, peer := range s.peers {
		n := o.sockets / len(s.peers)
		if i < o.sockets%len(s.peers) {
			n++
		}
		got, err := benchkit.DialBrowsers(ctx, peer.WSURL(bs.ID), bs.Owner, n, o.dialWorkers, o.deltas, o.deltaBytes, lat)
		browsers = append(browsers, got...)
		if err != nil {
			for _, b := range browsers {
				if b != nil {
					b.Conn.CloseNow()
				}
			}
			return err
		}
	}
	defer func() {
		for _, b := range browsers {
			b.Conn.CloseNow()
		}
	}()
	r, err := benchkit.DialRunner(ctx, s.WSURL(bs.ID), bs.RunnerToken, o.window)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Ready(ctx); err != nil {
		return err
	}
	if err := r.Prompted(ctx, s.Client, bs, "bench"); err != nil {
		return err
	}
	const turn = "turn-1"
	seq, err := r.Create(ctx, turn)
	if err != nil {
		return err
	}
	if err := r.WaitAcked(ctx, seq); err != nil {
		return err
	}

	stop, err := profile(o)
	if err != nil {
		return err
	}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	fill := benchkit.Stamped(o.deltaBytes)
	start := time.Now()
	for i := range o.deltas {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if _, err := r.Delta(ctx, turn, fill); err != nil {
			stop()
			return err
		}
	}
	sent := time.Since(start)
	if err := r.Finish(ctx, turn); err != nil {
		stop()
		return err
	}
	for _, b := range browsers {
		select {
		case <-b.Finished:
		case <-ctx.Done():
			stop()
			return fmt.Errorf("waiting for browsers: %w", ctx.Err())
		}
	}
	stop()

	var end time.Time
	var delivered, frames, complete, slow, otherClosed, offsetErrs int
	for _, b := range browsers {
		delivered += b.Got
		frames += b.Frames
		offsetErrs += b.OffsetErrs
		if b.End.After(end) {
			end = b.End
		}
		switch {
		case b.Got >= b.Want:
			complete++
		case b.CloseCode == 4008:
			slow++
		default:
			otherClosed++
		}
	}
	wall := end.Sub(start)
	rate := "as fast as acks allow"
	if o.rate > 0 {
		rate = fmt.Sprintf("%g/s", o.rate)
	}
	fmt.Printf("<!-- %s -->\n", environment(o))
	fmt.Printf("<!-- replicas: %d -->\n", len(s.peers))
	fmt.Println("| browser sockets | deltas | runner rate | runner send time | wall | deltas delivered | chunk frames | deliveries/s | p50 | p99 | max | sockets complete | closed slow (4008) | other ends | offset errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %d | %s | %s | %s | %d of %d | %d | %.0f | %s | %s | %s | %d | %d | %d | %d |\n",
		o.sockets, o.deltas, rate, round(sent), round(wall), delivered, o.sockets*o.deltas, frames,
		float64(delivered)/wall.Seconds(), round(lat.Quantile(0.5)), round(lat.Quantile(0.99)), round(lat.Max()),
		complete, slow, otherClosed, offsetErrs)
	if otherClosed > 0 {
		for _, b := range browsers {
			if b.Got < b.Want && b.CloseCode != 4008 {
				fmt.Printf("<!-- a socket ended after %d chunks: close %d: %v -->\n", b.Got, int(b.CloseCode), b.Err)
				break
			}
		}
	}
	if o.rate == 50 && o.sockets == 1000 { // the aim
		met := lat.Quantile(0.99) < 100*time.Millisecond && complete == o.sockets
		fmt.Printf("\naim p99 < 100 ms at %d sockets × %g deltas/s: %s\n", o.sockets, o.rate, map[bool]string{true: "met", false: "NOT met"}[met])
	}
	return nil
}

// round keeps three significant digits or so.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
