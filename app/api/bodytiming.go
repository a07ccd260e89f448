package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// BodyTiming bounds how long a request body may take to arrive. A body
// must start within Grace and then keep up MinRate on average: by any
// moment t, Grace + bytes/MinRate must not have passed since the request
// began. Large uploads at any ordinary rate pass; a client that announces
// a body and sends nothing (or a trickle) is cut off, so it cannot hold a
// connection, a descriptor and a goroutine forever.
type BodyTiming struct {
	// Grace is how long the body may take to start (default 10 s).
	Grace time.Duration
	// MinRate is the slowest average rate, in bytes per second, that a
	// body may arrive at after the grace (default 16 KiB/s).
	MinRate int64
}

// Defaults of BodyTiming.
const (
	DefaultBodyGrace   = 10 * time.Second
	DefaultBodyMinRate = 16 << 10
)

func (t *BodyTiming) setDefaults() {
	if t.Grace <= 0 {
		t.Grace = DefaultBodyGrace
	}
	if t.MinRate <= 0 {
		t.MinRate = DefaultBodyMinRate
	}
}

// errBodyTooSlow is what reading a body that fell behind returns; it
// renders as 408.
var errBodyTooSlow = errors.New("request body arrived too slowly")

// withBodyTiming sets a read deadline on the connection of every request
// that has a body and moves it as the body arrives. The deadline also
// bounds what net/http reads after the handler, to reuse the connection.
// An answer given before the body was read to its end closes the
// connection (Connection: close), so that a 401 to a request with an
// unread body goes out at once instead of after net/http has drained the
// body. (Routes check authentication before they read a body; webhooks,
// signed over theirs, read it within the same deadline and a size cap.)
func withBodyTiming(t BodyTiming, next http.Handler) http.Handler {
	t.setDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		b := &timedBody{src: r.Body, rc: rc, t: t, start: time.Now()}
		if err := rc.SetReadDeadline(b.start.Add(t.Grace)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (tests' recorders)
			return
		}
		r2 := r.WithContext(r.Context())
		r2.Body = b
		next.ServeHTTP(&closeIfUnreadWriter{ResponseWriter: w, body: b}, r2)
	})
}

// timedBody moves the read deadline forward as bytes arrive and clears
// it at the end of the body, so that a handler that runs long after
// reading it keeps its connection (net/http watches the connection for a
// client that goes away once the body is read, and would take the
// deadline for one).
type timedBody struct {
	src   io.ReadCloser
	rc    *http.ResponseController
	t     BodyTiming
	start time.Time

	mu   sync.Mutex
	n    int64
	done bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		if !b.done {
			b.done = true
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, errBodyTooSlow
	case err == nil && !b.done:
		allowed := time.Duration(float64(b.n) / float64(b.t.MinRate) * float64(time.Second))
		_ = b.rc.SetReadDeadline(b.start.Add(b.t.Grace + allowed))
	}
	return n, err
}

func (b *timedBody) Close() error { return b.src.Close() }

func (b *timedBody) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// closeIfUnreadWriter adds Connection: close to an answer given before the
// body was read to its end.
type closeIfUnreadWriter struct {
	http.ResponseWriter
	body  *timedBody
	wrote bool
}

func (w *closeIfUnreadWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if code >= 200 && !w.body.finished() {
			// net/http would first read what is left of the body (to
			// reuse the connection) and only then send the answer; a
			// read deadline in the past makes that read fail at once,
			// which makes it send the answer and close the connection.
			w.Header().Set("Connection", "close")
			_ = w.body.rc.SetReadDeadline(time.Now())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closeIfUnreadWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *closeIfUnreadWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *closeIfUnreadWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
