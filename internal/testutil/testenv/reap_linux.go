package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// becomeSubreaper makes orphaned descendants of this process its children
// (instead of init's), so that endLeftovers can find them.
func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
}

// endLeftovers kills every remaining child of this process, with the
// process group it leads (a runner's agent and tools), and reaps it; the
// descendants that this orphans come back as children and are ended the
// same way, until none is left or timeout passes. It returns the command
// lines of the processes it killed (zombies, already ended, are only
// reaped). Call it when the children this process started itself have been
// waited for: it reaps whatever it finds.
func endLeftovers(timeout time.Duration) []string {
	self, ownGroup := os.Getpid(), syscall.Getpgrp()
	deadline := time.Now().Add(timeout)
	// A child on its way out (Postgres' postmaster right after pg_ctl stop
	// returned) gets a moment to end by itself before it counts as left.
	settle := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(settle) && !allZombies(children(self)) {
		time.Sleep(20 * time.Millisecond)
	}
	var killed []string
	seen := map[int]bool{}
	for time.Now().Before(deadline) {
		kids := children(self)
		if len(kids) == 0 {
			break
		}
		for _, k := range kids {
			if k.state != 'Z' {
				if !seen[k.pid] {
					seen[k.pid] = true
					killed = append(killed, k.cmdline)
				}
				if k.pgid == k.pid && k.pgid != ownGroup {
					_ = syscall.Kill(-k.pgid, syscall.SIGKILL)
				}
				_ = syscall.Kill(k.pid, syscall.SIGKILL)
			}
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(k.pid, &ws, syscall.WNOHANG, nil)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return killed
}

func allZombies(ps []proc) bool {
	for _, p := range ps {
		if p.state != 'Z' {
			return false
		}
	}
	return true
}

type proc struct {
	pid, pgid int
	state     byte
	cmdline   string
}

// children lists the processes whose parent is ppid, from /proc.
func children(ppid int) []proc {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []proc
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		if p, _ := strconv.Atoi(f[1]); p != ppid {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		pgid, _ := strconv.Atoi(f[2])
		cl, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cmdline"))
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		if len(cmd) > 200 {
			cmd = cmd[:200] + "…"
		}
		out = append(out, proc{pid: pid, pgid: pgid, state: f[0][0], cmdline: cmd})
	}
	return out
}
