// Package metrics is the server's Prometheus instrumentation: one registry,
// built by the composition root (app.go) and handed to the parts that
// record. Nothing here is package-level state, so tests (and several
// servers in one process) each get their own.
//
// The parts that record know only a narrow interface of their own
// (session.Metrics, jobs.Options.Observe) or are wrapped here (PubSub,
// search.Provider); what can be read at scrape time (pool stats, event
// streams, session counts) is collected then, not kept up to date.
//
// Every metric's name starts with agentops_ (the Go runtime and process
// collectors too); docs/operations.md lists them.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "agentops"

// Metrics holds the registry and the collectors the server records into.
// Its methods are safe on a nil *Metrics (they record nothing), so that
// parts built without one (tests, commands other than serve) need no
// checks.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	sockets       *prometheus.GaugeVec
	slowCloses    prometheus.Counter
	browserDrops  prometheus.Counter
	runnersLost   prometheus.Counter
	turns         *prometheus.CounterVec
	publishes     *prometheus.CounterVec
	publishErrors *prometheus.CounterVec
	subDrops      *prometheus.CounterVec
	jobRuns       *prometheus.CounterVec
	jobDuration   *prometheus.HistogramVec
	searchLatency *prometheus.HistogramVec
	searchErrors  *prometheus.CounterVec
}

// New builds a registry with the server's metrics, the Go runtime's and
// the process's (both renamed under agentops_).
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	prefixed := prometheus.WrapRegistererWithPrefix(namespace+"_", reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg}
	m := &Metrics{reg: reg}
	f.gauge(prometheus.GaugeOpts{Name: "build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": version}}).Set(1)

	m.httpRequests = f.counterVec("http_requests_total", "HTTP requests answered, by route pattern (\"unmatched\" for none), method and status.", "route", "method", "status")
	m.httpDuration = f.histogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern and method (WebSocket upgrades and event streams excluded: they last as long as the client stays).",
		Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, "route", "method")
	m.httpInFlight = f.gauge(prometheus.GaugeOpts{Name: "http_requests_in_flight", Help: "HTTP requests being answered now, sockets and streams included."})

	m.sockets = f.gaugeVec("session_sockets", "Session WebSockets open on this server, by kind (browser, runner).", "kind")
	m.slowCloses = f.counter("session_slow_consumer_closes_total", "Browser sockets closed because their send queue was full (the browser reloads over REST).")
	m.browserDrops = f.counter("session_browser_frames_dropped_total", "Frames a browser socket's full send queue refused (each one closes that socket).")
	m.runnersLost = f.counter("session_runners_lost_total", "Runner sockets that went away while their session was running (a new runner is started after the grace period).")
	m.turns = f.counterVec("agent_turns_total", "Agent turns finished, by agent and outcome (completed, error, canceled, other).", "agent", "outcome")

	m.publishes = f.counterVec("pubsub_publishes_total", "Messages published on the pub/sub, by driver.", "driver")
	m.publishErrors = f.counterVec("pubsub_publish_errors_total", "Publishes that failed, by driver.", "driver")
	m.subDrops = f.counterVec("pubsub_subscriber_drops_total", "Subscribers dropped because they fell behind (they resync from the database), by driver.", "driver")

	m.jobRuns = f.counterVec("job_runs_total", "Runs of scheduled jobs (periodic by name, one-shot by kind), by outcome (ok, error).", "job", "outcome")
	m.jobDuration = f.histogramVec(prometheus.HistogramOpts{Name: "job_duration_seconds", Help: "How long scheduled jobs ran.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 15, 60, 300}}, "job")

	m.searchLatency = f.histogramVec(prometheus.HistogramOpts{Name: "search_duration_seconds", Help: "Time of full-text searches, by provider (fts5, postgres).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, "provider")
	m.searchErrors = f.counterVec("search_errors_total", "Full-text searches that failed, by provider.", "provider")
	return m
}

// Registerer is where other collectors (pool stats, session counts) go.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// GaugeFunc registers a gauge read at scrape time (agentops_<name>).
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	if m == nil {
		return
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, fn)
	if err := m.reg.Register(g); err != nil {
		// A second Serve of the same App reads from its new parts.
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			panic(err)
		}
		m.reg.Unregister(dup.ExistingCollector)
		m.reg.MustRegister(g)
	}
}

// HTTPDone records one answered request. stream marks requests that last
// as long as their client (upgrades, event streams): they are counted but
// kept out of the latency histogram.
func (m *Metrics) HTTPDone(route, method string, status int, took time.Duration, stream bool) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	if !stream {
		m.httpDuration.WithLabelValues(route, method).Observe(took.Seconds())
	}
}

// HTTPInFlight moves the in-flight gauge by d (+1 at start, -1 at end).
func (m *Metrics) HTTPInFlight(d float64) {
	if m == nil {
		return
	}
	m.httpInFlight.Add(d)
}

// SocketOpened and SocketClosed count session sockets of a kind (browser,
// runner).
func (m *Metrics) SocketOpened(kind string) {
	if m != nil {
		m.sockets.WithLabelValues(kind).Inc()
	}
}

// SocketClosed is SocketOpened's other half.
func (m *Metrics) SocketClosed(kind string) {
	if m != nil {
		m.sockets.WithLabelValues(kind).Dec()
	}
}

// SlowConsumerClosed counts a browser socket closed for a full send
// queue, and the frame it refused. (session.Metrics)
func (m *Metrics) SlowConsumerClosed() {
	if m != nil {
		m.slowCloses.Inc()
		m.browserDrops.Inc()
	}
}

// RunnerLost counts a runner that went away from a running session.
// (session.Metrics)
func (m *Metrics) RunnerLost() {
	if m != nil {
		m.runnersLost.Inc()
	}
}

// TurnFinished counts a finished agent turn; reason is the runner's finish
// reason (end_turn, error, canceled). (session.Metrics)
func (m *Metrics) TurnFinished(agent, reason string) {
	if m == nil {
		return
	}
	outcome := "other"
	switch reason {
	case "end_turn", "":
		outcome = "completed"
	case "error":
		outcome = "error"
	case "canceled":
		outcome = "canceled"
	}
	m.turns.WithLabelValues(agent, outcome).Inc()
}

// JobRan records a run of a scheduled job (jobs.Options.Observe).
func (m *Metrics) JobRan(job string, err error, took time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.jobRuns.WithLabelValues(job, outcome).Inc()
	m.jobDuration.WithLabelValues(job).Observe(took.Seconds())
}

// factory registers what it makes, under the agentops_ namespace.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(o prometheus.GaugeOpts) prometheus.Gauge {
	o.Namespace = namespace
	g := prometheus.NewGauge(o)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogramVec(o prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	o.Namespace = namespace
	h := prometheus.NewHistogramVec(o, labels)
	f.reg.MustRegister(h)
	return h
}
