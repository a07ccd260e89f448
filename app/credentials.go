package app

import (
	"context"
	"log/slog"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/store"
)

// openCredentials wires the keyring that follows the key file and the
// credentials sealed with it. A keyring from AGENTOPS_INSTANCE_KEY has no
// file to follow.
func (a *App) openCredentials() {
	path := a.cfg.InstanceKeyFile
	if a.cfg.InstanceKey != "" {
		path = ""
	}
	a.Keys = keys.NewRing(a.Store, a.Keyring, path, a.log)
	a.Credentials = credentials.New(a.Store, a.Keys, nil, a.log)
}

// RotateKeys runs `agentops keys rotate`: a new primary key in the key
// file, every secret re-sealed with it, the old keys dropped (see
// keys.Rotate). Servers may keep running meanwhile.
func RotateKeys(ctx context.Context, cfg Config, log *slog.Logger, opts keys.RotateOptions) (*keys.RotateResult, error) {
	if cfg.InstanceKey != "" {
		return nil, keys.ErrFromEnvironment
	}
	st, err := OpenStore(ctx, cfg, log, Existing)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return keys.Rotate(ctx, st, cfg.InstanceKeyFile, resealers(st, log), opts)
}

// resealers lists every kind of sealed secret a rotation must re-seal.
func resealers(st *store.Store, log *slog.Logger) []keys.Resealer {
	return []keys.Resealer{credentials.New(st, nil, nil, log), workflow.SecretResealer{}}
}
