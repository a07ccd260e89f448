package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentops/agentops/app/cluster"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/google/uuid"
)

// DefaultSessionLease is --session-lease's default: with a heartbeat every
// quarter of it, a dead replica's sessions move within 25 s.
const DefaultSessionLease = 20 * time.Second

// resolveReplicas checks the settings of several replicas.
func (c *Config) resolveReplicas() error {
	if c.SessionLease == 0 {
		c.SessionLease = DefaultSessionLease
	}
	if c.SessionLease < time.Second {
		return fmt.Errorf("--session-lease must be at least 1s, not %s", c.SessionLease)
	}
	for _, f := range []struct {
		flag string
		v    *string
	}{{"advertise-url", &c.AdvertiseURL}, {"runner-url", &c.RunnerURL}} {
		if *f.v == "" {
			continue
		}
		u, err := url.Parse(*f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--%s must be an http(s) URL, not %q", f.flag, *f.v)
		}
		*f.v = strings.TrimRight(*f.v, "/")
	}
	if c.AdvertiseURL != "" && !store.IsPostgres(c.DatabaseURL) {
		return fmt.Errorf("--advertise-url is for several replicas on Postgres; a SQLite data dir belongs to one server")
	}
	return nil
}

// replication is the session manager's replica settings: on when
// --advertise-url is set.
func (a *App) replication() (session.Replication, error) {
	if a.cfg.AdvertiseURL == "" {
		return session.Replication{}, nil
	}
	known, err := store.KnownVersions(a.Store.Dialect())
	if err != nil {
		return session.Replication{}, err
	}
	return session.Replication{ID: uuid.NewString(), AdvertiseURL: a.cfg.AdvertiseURL, Release: known[len(known)-1],
		LeaseTTL: a.cfg.SessionLease, Heartbeat: a.cfg.SessionLease / 4}, nil
}

// forwarding wraps h so that requests for sessions another replica runs
// go there. The replicas sign them with a secret derived from the key the
// database records as primary, which every replica has (serve refuses a
// keyring without it), and accept a signature by any key of their
// keyring, so a `keys rotate` does not split replicas started before and
// after it.
func (a *App) forwarding(ctx context.Context, sessions *session.Manager, self string, h http.Handler) (http.Handler, error) {
	if self == "" {
		return h, nil
	}
	recorded, err := a.Store.Meta().Get(ctx, keyringMetaKey)
	if err != nil {
		return nil, err
	}
	id, _, _ := strings.Cut(recorded, ":")
	secret, err := a.Keyring.Derive(id, "replicas v1")
	if err != nil {
		return nil, fmt.Errorf("derive the replicas' secret: %w", err)
	}
	f := &cluster.Forwarder{Self: self, Secret: secret, Owner: sessions.Owner, Log: a.log}
	for _, k := range a.Keyring.IDs() {
		s, err := a.Keyring.Derive(k, "replicas v1")
		if err != nil {
			return nil, err
		}
		f.Accept = append(f.Accept, s)
	}
	return f.Wrap(h), nil
}
