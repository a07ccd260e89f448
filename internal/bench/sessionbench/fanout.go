package main

import (
	"context"
	"fmt"
	"time"
)

// fanout streams one turn of o.deltas deltas from one runner to o.sockets
// browser sockets of the same session.
func fanout(ctx context.Context, o options, s *server) error {
	tokens, err := s.users(ctx, 1)
	if err != nil {
		return err
	}
	bs, err := s.createSession(ctx, tokens[0])
	if err != nil {
		return err
	}
	lat := &histogram{}
	// With -replicas, the sockets are spread over the replicas: those on
	// replicas that do not run the session are relayed from its owner.
	var browsers []*browser
	for i, peer := range s.peers {
		n := o.sockets / len(s.peers)
		if i < o.sockets%len(s.peers) {
			n++
		}
		got, err := dialBrowsers(ctx, peer, bs.id, bs.owner, n, o.dialWorkers, o.deltas, o.deltaBytes, lat)
		browsers = append(browsers, got...)
		if err != nil {
			for _, b := range browsers {
				if b != nil {
					b.c.CloseNow()
				}
			}
			return err
		}
	}
	defer func() {
		for _, b := range browsers {
			b.c.CloseNow()
		}
	}()
	r, err := dialRunner(ctx, s, bs, o.window)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.ready(ctx); err != nil {
		return err
	}
	const turn = "turn-1"
	seq, err := r.create(ctx, turn)
	if err != nil {
		return err
	}
	if err := r.waitAcked(ctx, seq); err != nil {
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
	fill := stamped(o.deltaBytes)
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
		if _, err := r.delta(ctx, turn, fill); err != nil {
			stop()
			return err
		}
	}
	sent := time.Since(start)
	if err := r.finish(ctx, turn); err != nil {
		stop()
		return err
	}
	for _, b := range browsers {
		select {
		case <-b.finished:
		case <-ctx.Done():
			stop()
			return fmt.Errorf("waiting for browsers: %w", ctx.Err())
		}
	}
	stop()

	var end time.Time
	var delivered, frames, complete, slow, otherClosed, offsetErrs int
	for _, b := range browsers {
		delivered += b.got
		frames += b.frames
		offsetErrs += b.offsetErrs
		if b.end.After(end) {
			end = b.end
		}
		switch {
		case b.got >= b.want:
			complete++
		case b.closeCode == 4008:
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
		float64(delivered)/wall.Seconds(), round(lat.quantile(0.5)), round(lat.quantile(0.99)), round(lat.maximum()),
		complete, slow, otherClosed, offsetErrs)
	if otherClosed > 0 {
		for _, b := range browsers {
			if b.got < b.want && b.closeCode != 4008 {
				fmt.Printf("<!-- a socket ended after %d chunks: close %d: %v -->\n", b.got, int(b.closeCode), b.err)
				break
			}
		}
	}
	if o.rate == 50 && o.sockets == 1000 { // the aim
		met := lat.quantile(0.99) < 100*time.Millisecond && complete == o.sockets
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
