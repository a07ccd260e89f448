package events

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// Tickets let clients that cannot send an Authorization header
// (EventSource) open a stream: POST /api/events/ticket with a bearer
// token, then GET /api/events?ticket=…. A ticket acts for the credential
// that issued it (checked on every use and while the stream lasts) until
// it expires, and serves one stream: its first use opens the stream, and
// after that it only resumes that stream (the request carries the
// Last-Event-ID that EventSource sends when it reconnects), and only while
// no connection holds it. Tickets live in the database, hashed, so a
// reconnect may land on any replica.

// TicketPrefix starts every ticket, so that logs and secret scanners know
// one when they see it.
const TicketPrefix = "et_"

// Ticket is an issued ticket.
type Ticket struct {
	Ticket    string
	ExpiresAt time.Time
}

func hashTicket(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// IssueTicket creates a ticket for userID, acting for the credential the
// caller authenticated with (a login session or an API key).
func (b *Bus) IssueTicket(ctx context.Context, userID, authSessionID, apiTokenID string) (Ticket, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Ticket{}, err
	}
	tok := TicketPrefix + hex.EncodeToString(raw)
	now := b.now()
	t := &store.EventTicket{
		TokenHash: hashTicket(tok), UserID: userID, AuthSessionID: authSessionID, APITokenID: apiTokenID,
		ExpiresAt: now.Add(b.cfg.TicketTTL), CreatedAt: now,
	}
	if err := b.st.EventTickets().Create(ctx, t); err != nil {
		return Ticket{}, err
	}
	return Ticket{Ticket: tok, ExpiresAt: t.ExpiresAt}, nil
}

// Errors of ClaimTicket (401s).
var (
	ErrTicketInvalid = apperr.Unauthorized("Invalid or expired ticket")
	ErrTicketUsed    = apperr.Unauthorized("Ticket already used: a ticket opens one stream and then only resumes it (with Last-Event-ID) while no other connection holds it; get a new ticket")
)

// TicketHold is a stream's hold on its ticket: it names the credential to
// act for, and must be refreshed while the stream lasts and released when
// it ends.
type TicketHold struct {
	UserID        string
	AuthSessionID string
	APITokenID    string

	b       *Bus
	hash    string
	holder  string
	expires time.Time
}

// holdFor is how long a hold lasts unless refreshed: a stream refreshes
// it at every recheck, so a replica that died without releasing keeps the
// ticket from resuming for at most this long.
func (b *Bus) holdFor() time.Duration { return b.cfg.Recheck*2 + b.cfg.Recheck/2 }

// ClaimTicket takes a ticket for a connection; resume says whether the
// connection resumes a stream (it carries a Last-Event-ID).
func (b *Bus) ClaimTicket(ctx context.Context, ticket string, resume bool) (*TicketHold, error) {
	if len(ticket) != len(TicketPrefix)+64 {
		return nil, ErrTicketInvalid
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	holder := hex.EncodeToString(raw)
	now := b.now()
	t, err := b.st.EventTickets().Claim(ctx, hashTicket(ticket), holder, resume, now, now.Add(b.holdFor()))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrTicketInvalid
	case errors.Is(err, store.ErrTicketInUse):
		return nil, ErrTicketUsed
	case err != nil:
		return nil, err
	}
	return &TicketHold{UserID: t.UserID, AuthSessionID: t.AuthSessionID, APITokenID: t.APITokenID,
		b: b, hash: t.TokenHash, holder: holder, expires: t.ExpiresAt}, nil
}

// Refresh extends the hold while the ticket could still be claimed; an
// error means another connection took it over (this one was presumed
// dead).
func (h *TicketHold) Refresh(ctx context.Context) error {
	now := h.b.now()
	if !now.Before(h.expires) {
		return nil // nobody can claim an expired ticket: no need to hold it
	}
	err := h.b.st.EventTickets().Refresh(ctx, h.hash, h.holder, now.Add(h.b.holdFor()))
	if errors.Is(err, store.ErrNotFound) {
		return ErrTicketUsed
	}
	return err
}

// Release lets the ticket go, so the stream can resume at once.
func (h *TicketHold) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.b.st.EventTickets().Release(ctx, h.hash, h.holder); err != nil {
		h.b.log.Warn("release event ticket", "err", err)
	}
}
