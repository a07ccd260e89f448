package realtime

import "slices"

// waiters are a network driver's listens waiting for the server to
// confirm their channel, by channel. The driver's mutex guards it.
type waiters map[string][]chan error

// add registers a listen of ch and returns where its outcome arrives.
func (ws waiters) add(ch string) chan error {
	w := make(chan error, 1)
	ws[ch] = append(ws[ch], w)
	return w
}

// release tells every listen of ch its outcome (nil: confirmed).
func (ws waiters) release(ch string, err error) {
	for _, w := range ws[ch] {
		w <- err
	}
	delete(ws, ch)
}

// releaseAll tells every waiting listen err.
func (ws waiters) releaseAll(err error) {
	for ch := range ws {
		ws.release(ch, err)
	}
}

// drop forgets the waiter of a listen that gave up, so that waiters of
// topics nobody listens to again do not pile up (during an outage every
// reconnecting subscriber would leave one).
func (ws waiters) drop(ch string, w chan error) {
	if rest := slices.DeleteFunc(ws[ch], func(x chan error) bool { return x == w }); len(rest) > 0 {
		ws[ch] = rest
	} else {
		delete(ws, ch)
	}
}
