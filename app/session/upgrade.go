package session

import (
	"context"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// After an upgrade, the runners the old binary started are still running
// (systemd's KillMode=process, the local sandbox's own process groups) and
// reconnect to the new server. Each reports its version in the handshake
// (protocol.VersionHeader); once such a runner is idle, with its turn
// ended, the server closes its socket with protocol.CloseRestart. A local
// session's runner is started again at once from the current binary (the
// old one exits on that close); an external runner exits, and whatever
// supervises it starts it again, within the runner-lost grace period.

// restartOutdatedRunner asks the session's runner to restart if it runs
// another version than the server and has nothing to do; it reports
// whether it did (the caller then dispatches nothing to the old runner).
// It asks once per actor: a replacement that still reports another
// version (a local sandbox configured with another binary) is kept.
func (a *actor) restartOutdatedRunner() bool {
	c := a.runner.conn
	want, got := a.m.cfg.Version, a.runner.version
	if c == nil || !a.runner.ready || a.sess.RunnerBusy || a.sess.Status != store.StatusRunning ||
		want == "" || got == "" || got == want {
		return false
	}
	if a.restartAsked {
		if !a.restartWarned {
			a.restartWarned = true
			a.log.Warn("the runner still runs another agentops version after a restart; keeping it",
				"runner_version", got, "server_version", want)
		}
		return false
	}
	a.restartAsked = true
	a.log.Info("runner runs another agentops version: asking it to restart", "runner_version", got, "server_version", want)
	c.Close(protocol.CloseRestart, "restart: the server runs agentops "+want)
	a.runner.detach(c)
	a.broadcast(statusFrame(map[string]any{"runnerConnected": false, "runnerDisconnected": true}))

	// From here on, as for a lost runner: if no new runner reports ready
	// within the grace period, the runner-lost deadline takes over.
	a.sess.RunnerLostAt = a.now()
	if err := a.commit(a.saveSession("runner_lost_at")); err != nil {
		a.log.Error("record runner restart", "err", err)
	}
	if a.m.sandbox != nil && a.m.sandbox.Name() == "local" {
		a.respawnRunner()
	}
	a.armRunnerLost()
	return true
}

// respawnRunner starts a new local runner with a new token (the old one's
// token stops working, so it cannot come back).
func (a *actor) respawnRunner() {
	token := newRunnerToken()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := a.spawnRequest(ctx, token)
	var sb sandbox.Sandbox
	if err == nil {
		sb, err = a.m.sandbox.Restore(ctx, req)
	}
	if err != nil {
		a.log.Error("restart runner with the current binary", "err", err)
		return
	}
	a.sess.SandboxID, a.sess.RunnerTokenHash = sb.ID, hashToken(token)
	if err := a.commit(a.saveSession("sandbox_id", "runner_token_hash")); err != nil {
		a.log.Error("record restarted runner", "err", err)
	}
}
