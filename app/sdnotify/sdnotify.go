// Package sdnotify speaks systemd's service notification protocol: a
// datagram of newline-separated KEY=VALUE pairs sent to the unix socket
// named by NOTIFY_SOCKET (see sd_notify(3)). It is the few lines the
// protocol needs, so that a Type=notify unit knows when agentops is ready,
// when it is stopping, and that it is alive (the watchdog).
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends notifications to one socket. The zero value, and a
// Notifier made from an environment without NOTIFY_SOCKET, sends nothing.
type Notifier struct {
	socket   string        // path, or "@name" for the abstract namespace
	watchdog time.Duration // WATCHDOG_USEC; 0 when the watchdog is off
}

// FromEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from getenv
// (os.Getenv in production). The watchdog is on only when WATCHDOG_PID is
// unset or names this process, as sd_watchdog_enabled(3) says.
func FromEnv(getenv func(string) string) (*Notifier, error) {
	n := &Notifier{socket: getenv("NOTIFY_SOCKET")}
	if n.socket == "" {
		return n, nil
	}
	if usec := getenv("WATCHDOG_USEC"); usec != "" {
		v, err := strconv.ParseInt(usec, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds", usec)
		}
		pid := getenv("WATCHDOG_PID")
		if pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n, nil
}

// Enabled reports whether a notification socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// WatchdogInterval is the interval systemd expects pings within, or 0.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Send sends one notification, e.g. "READY=1". It does nothing when no
// socket is configured.
func (n *Notifier) Send(state string) error {
	if !n.Enabled() {
		return nil
	}
	name := n.socket
	if name[0] == '@' {
		name = "\x00" + name[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// Ready tells systemd that start-up finished (the server accepts requests).
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1\nSTATUS=" + status + "\nMAINPID=" + strconv.Itoa(os.Getpid()))
}

// Stopping tells systemd that shutdown began.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Watchdog pings the watchdog at half its interval until ctx ends, calling
// alive first each time: a ping is sent only while alive reports no error,
// so that a server whose database is gone is restarted by systemd. It
// returns at once when the watchdog is off. onErr, if set, hears failures.
func (n *Notifier) Watchdog(ctx context.Context, alive func(context.Context) error, onErr func(error)) {
	if n.WatchdogInterval() <= 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if alive != nil {
			actx, cancel := context.WithTimeout(ctx, n.watchdog/2)
			err = alive(actx)
			cancel()
		}
		if err == nil {
			err = n.Send("WATCHDOG=1")
		}
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
}
