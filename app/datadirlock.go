package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// serveLockFile, in the data dir, is locked by the one serve that uses the
// data dir and holds its pid. The lock is an flock: the kernel drops it
// when the process ends, even by kill -9, so a stale file never blocks.
// Other commands (user, token, migrate, backup) take no lock and work
// beside a running server; replicas on Postgres each have a data dir.
const serveLockFile = "serve.lock"

type dirLock struct {
	once sync.Once
	f    *os.File
}

// lockDataDir takes the data dir's serve lock, or says which process holds
// it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, serveLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = "pid " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("another agentops serve (%s) is using the data dir %s: stop it, or give this one its own --data-dir", holder, dir)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock; it may be called more than once, and on nil.
func (l *dirLock) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		// Closing the file drops the flock. The file stays: removing it
		// would race with the next serve that opens it.
		_ = l.f.Close()
	})
}
