package metrics

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/search"
)

// PubSub wraps ps so that its publishes, failed publishes and dropped
// (slow) subscribers are counted under driver. A nil m returns ps.
func (m *Metrics) PubSub(driver string, ps realtime.PubSub) realtime.PubSub {
	if m == nil {
		return ps
	}
	return &countedPubSub{PubSub: ps, m: m, driver: driver}
}

type countedPubSub struct {
	realtime.PubSub
	m      *Metrics
	driver string
}

func (p *countedPubSub) Publish(ctx context.Context, topic string, payload []byte) error {
	err := p.PubSub.Publish(ctx, topic, payload)
	if err != nil {
		p.m.publishErrors.WithLabelValues(p.driver).Inc()
	} else {
		p.m.publishes.WithLabelValues(p.driver).Inc()
	}
	return err
}

func (p *countedPubSub) Subscribe(ctx context.Context, topic string, opts ...realtime.SubscribeOption) (realtime.Subscription, error) {
	s, err := p.PubSub.Subscribe(ctx, topic, opts...)
	if err != nil {
		return nil, err
	}
	return &countedSub{Subscription: s, drops: p.m.subDrops.WithLabelValues(p.driver)}, nil
}

// countedSub counts its end by ErrSlowSubscriber once. Subscribers read Err
// after C closes to learn why (that is how they know to resync), which is
// when the drop is seen.
type countedSub struct {
	realtime.Subscription
	drops prometheus.Counter
	once  sync.Once
}

func (s *countedSub) Err() error {
	err := s.Subscription.Err()
	if errors.Is(err, realtime.ErrSlowSubscriber) {
		s.once.Do(s.drops.Inc)
	}
	return err
}

// Search wraps p so that the time and failures of Search are recorded. A
// nil m returns p.
func (m *Metrics) Search(p search.Provider) search.Provider {
	if m == nil {
		return p
	}
	return &timedSearch{Provider: p, latency: m.searchLatency.WithLabelValues(p.Name()), errs: m.searchErrors.WithLabelValues(p.Name())}
}

type timedSearch struct {
	search.Provider
	latency prometheus.Observer
	errs    prometheus.Counter
}

func (s *timedSearch) Search(ctx context.Context, db bun.IDB, q search.Query) ([]search.Hit, error) {
	start := time.Now()
	hits, err := s.Provider.Search(ctx, db, q)
	if err != nil {
		s.errs.Inc()
	} else {
		s.latency.Observe(time.Since(start).Seconds())
	}
	return hits, err
}

// Pools registers a collector of database pool statistics, read at scrape
// time from stats (pool name → sql.DBStats).
func (m *Metrics) Pools(stats func() map[string]sql.DBStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(poolCollector{stats: stats})
}

var (
	poolOpen     = prometheus.NewDesc("agentops_db_pool_open_connections", "Open connections of a database pool (in use and idle).", []string{"pool"}, nil)
	poolInUse    = prometheus.NewDesc("agentops_db_pool_in_use_connections", "Connections of a database pool in use now.", []string{"pool"}, nil)
	poolIdle     = prometheus.NewDesc("agentops_db_pool_idle_connections", "Idle connections of a database pool.", []string{"pool"}, nil)
	poolMax      = prometheus.NewDesc("agentops_db_pool_max_open_connections", "The most connections a database pool may open.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc("agentops_db_pool_waits_total", "Times a query waited for a free connection of a pool.", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc("agentops_db_pool_wait_seconds_total", "Time queries spent waiting for a free connection of a pool.", []string{"pool"}, nil)
)

type poolCollector struct {
	stats func() map[string]sql.DBStats
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolMax, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(s.OpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.WaitDuration.Seconds(), name)
	}
}

// SessionCounts registers a collector of sessions by status, read at
// scrape time from count (status → sessions), with a short timeout.
// Errors leave the metric out of that scrape.
func (m *Metrics) SessionCounts(count func(ctx context.Context) (map[string]int, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(sessionCollector{count: count})
}

var sessionsDesc = prometheus.NewDesc("agentops_sessions", "Sessions that are not terminal, by status, as the database has them (every replica reports the same).", []string{"status"}, nil)

type sessionCollector struct {
	count func(ctx context.Context) (map[string]int, error)
}

func (c sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), status)
	}
}
