package workflow

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/store"
)

// Delivery is one request to /webhooks/<path>.
type Delivery struct {
	Path   string
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// webhookError is an error reply that keeps upstream's webhook shape:
// received and message beside error and code.
func webhookError(kind apperr.Kind, msg string) error {
	return &apperr.Error{Kind: kind, Message: msg, Extra: map[string]any{"received": true, "message": msg}}
}

// Delivery ids senders put in headers, in the order they are preferred.
var deliveryHeaders = []string{"X-GitHub-Delivery", "X-Request-Id", "X-Webhook-Id"}

// maxDeliveryIDBytes bounds a delivery id used as an idempotency key;
// longer ones are hashed.
const maxDeliveryIDBytes = 200

// Deliver handles a webhook delivery, in upstream's order: the trigger
// (an enabled webhook trigger of an enabled workflow with this path, else
// 404), the method (405), the signature when the trigger has a secret
// (401), then the execution. A repeat of a delivery (the sender's
// delivery id, else the body's hash) returns the execution it started.
func (s *Service) Deliver(ctx context.Context, d Delivery) (*Started, error) {
	t, err := s.st.Triggers().GetByWebhookPath(ctx, d.Path)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !t.Enabled) {
		return nil, webhookError(apperr.KindNotFound, "Webhook not found")
	} else if err != nil {
		return nil, err
	}
	w, err := s.st.Workflows().GetByUID(ctx, t.WorkflowUID)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, webhookError(apperr.KindNotFound, "Webhook not found")
	}
	cfg := ConfigOf(t)
	if cfg.Method != "" && !strings.EqualFold(cfg.Method, d.Method) {
		return nil, webhookError(apperr.KindMethodNotAllowed, "Method "+d.Method+" not allowed")
	}
	if t.WebhookSecret != "" {
		secret, err := s.openSecret(t)
		if err != nil {
			return nil, err
		}
		if err := verifySignature(secret, d.Header, d.Body); err != nil {
			return nil, err
		}
	}

	payload := map[string]any{}
	// The signature covered the body as sent; what is kept of it cannot
	// hold NUL characters (the databases cannot store them).
	if v, err := decodeJSON(jsonnul.Replace(bytes.Clone(d.Body))); err == nil {
		if obj, ok := v.(map[string]any); ok {
			payload = obj
		}
	}
	query := map[string]any{}
	for k, vs := range d.Query {
		if len(vs) > 0 {
			query[k] = vs[0]
		}
	}
	payload["query"] = query
	vars := map[string]any{}
	if len(t.VariableMapping) > 0 {
		var mapping map[string]string
		_ = json.Unmarshal(t.VariableMapping, &mapping)
		ApplyMapping(mapping, payload, vars)
	}
	deliveryID := ""
	for _, h := range deliveryHeaders {
		if v := strings.TrimSpace(d.Header.Get(h)); v != "" {
			deliveryID = v
			break
		}
	}
	sum := sha256.Sum256(d.Body)
	bodyHash := hex.EncodeToString(sum[:])
	key := "webhook:" + t.ID + ":"
	switch {
	case deliveryID == "":
		key += "sha256:" + bodyHash
	case len(deliveryID) > maxDeliveryIDBytes:
		id := sha256.Sum256([]byte(deliveryID))
		key += "id-sha256:" + hex.EncodeToString(id[:])
	default:
		key += "id:" + deliveryID
	}
	trig := map[string]any{"type": store.TriggerWebhook, "triggerId": t.ID, "path": d.Path, "method": d.Method,
		"timestamp": s.now().Format(time.RFC3339Nano)}
	if deliveryID != "" {
		trig["deliveryId"] = deliveryID
	}
	vars["_trigger"] = trig
	vars["_payload"] = payload
	meta := map[string]any{"path": d.Path, "method": d.Method, "deliveryId": nullable(deliveryID), "bodySha256": bodyHash,
		"contentType": nullable(d.Header.Get("Content-Type"))}
	return s.start(ctx, startSpec{userID: t.UserID, wf: w, trigger: t, triggerType: store.TriggerWebhook, variables: vars,
		metadata: meta, key: key}, map[string]any{"received": true, "queued": false, "message": "Too many concurrent workflow executions"})
}

// verifySignature checks the HMAC-SHA256 of the raw body, hex-encoded, in
// X-Webhook-Signature (with or without "sha256=") or X-Hub-Signature-256
// ("sha256=<hex>", GitHub's), in constant time.
func verifySignature(secret []byte, h http.Header, body []byte) error {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	var candidates []string
	if v := strings.TrimSpace(h.Get("X-Webhook-Signature")); v != "" {
		candidates = append(candidates, strings.TrimPrefix(v, "sha256="))
	}
	if v := strings.TrimSpace(h.Get("X-Hub-Signature-256")); v != "" {
		if hexSig, ok := strings.CutPrefix(v, "sha256="); ok {
			candidates = append(candidates, hexSig)
		} else {
			candidates = append(candidates, "")
		}
	}
	if len(candidates) == 0 {
		return webhookError(apperr.KindUnauthorized, "Missing webhook signature")
	}
	ok := false
	for _, c := range candidates {
		got, err := hex.DecodeString(c)
		// hmac.Equal compares in constant time; a malformed signature
		// compares as the empty one.
		if err != nil {
			got = nil
		}
		ok = hmac.Equal(got, want) || ok
	}
	if !ok {
		return webhookError(apperr.KindUnauthorized, "Invalid webhook signature")
	}
	return nil
}
