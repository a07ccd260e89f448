package workflow

import (
	"context"
	"fmt"

	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// secretAAD binds a sealed webhook secret to its trigger.
func secretAAD(triggerID string) []byte { return []byte("webhook-secret:" + triggerID) }

// SecretResealer re-seals triggers' webhook secrets in a key rotation (it
// is an app/keys Resealer).
type SecretResealer struct{}

// Reseal opens, with kr, every webhook secret that key id did not seal and
// seals it again with key id, inside tx; it returns how many.
func (SecretResealer) Reseal(ctx context.Context, tx *store.Store, kr *keyring.Keyring, id string) (int, error) {
	secrets, err := tx.Triggers().Secrets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range secrets {
		if k, err := keyring.KeyOf(s.Sealed); err == nil && k == id {
			continue
		}
		plain, err := kr.Open(s.Sealed, secretAAD(s.ID))
		if err != nil {
			return n, fmt.Errorf("open the webhook secret of trigger %s: %w", s.ID, err)
		}
		sealed, err := kr.SealWith(id, plain, secretAAD(s.ID))
		if err != nil {
			return n, err
		}
		ok, err := tx.Triggers().ResealSecret(ctx, s.ID, s.Sealed, sealed)
		if err != nil {
			return n, err
		}
		if !ok {
			return n, fmt.Errorf("the webhook secret of trigger %s changed during the re-seal", s.ID)
		}
		n++
	}
	return n, nil
}

// CountByKey returns how many webhook secrets each key sealed.
func (SecretResealer) CountByKey(ctx context.Context, st *store.Store) (map[string]int, error) {
	secrets, err := st.Triggers().Secrets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range secrets {
		k, err := keyring.KeyOf(s.Sealed)
		if err != nil {
			return nil, fmt.Errorf("the webhook secret of trigger %s: %w", s.ID, err)
		}
		out[k]++
	}
	return out, nil
}

// ImportedTrigger is an imported trigger's config checked as CreateTrigger
// checks one: Config is what is stored (without the secret).
type ImportedTrigger struct {
	Type   string
	Config []byte
	Path   string
	Secret string // "" when the trigger has none
}

// CheckImportedConfig validates a trigger config from another deployment
// (import-upstream) by the rules of CreateTrigger.
func CheckImportedConfig(raw []byte) (*ImportedTrigger, error) {
	cc, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out := &ImportedTrigger{Type: cc.cfg.Type, Config: cc.stored}
	if cc.cfg.Type == store.TriggerWebhook {
		out.Path = cc.cfg.Path
	}
	if cc.secret != nil {
		out.Secret = *cc.secret
	}
	return out, nil
}

// SealImportedSecret seals an imported webhook secret for trigger
// triggerID with key id of kr, as the service seals one it is given, so
// that senders' signatures made with it keep verifying.
func SealImportedSecret(kr *keyring.Keyring, id, triggerID, secret string) (string, error) {
	return kr.SealWith(id, []byte(secret), secretAAD(triggerID))
}
