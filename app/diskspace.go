package app

import (
	"context"
	"fmt"
	"syscall"

	"github.com/agentops/agentops/store"
)

// minFreeBytes is the free space under which the data dir counts as full
// for /ready: SQLite's WAL and the blob store's temporary files need room
// before a write can succeed.
const minFreeBytes = 8 << 20

// checkDiskSpace reports store.ErrStorageFull when the file system of dir
// has less than minFreeBytes available to this process.
func checkDiskSpace(dir string) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return nil // no answer is not a full disk
	}
	free := uint64(fs.Bavail) * uint64(fs.Bsize)
	if free < minFreeBytes {
		return fmt.Errorf("%w: %d bytes free under %s", store.ErrStorageFull, free, dir)
	}
	return nil
}

// ready is /ready's check: the database answers and the data dir has room.
func (a *App) ready(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		return err
	}
	return checkDiskSpace(a.cfg.DataDir)
}
