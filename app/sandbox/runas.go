package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// RunAs is the unprivileged user local runners (and so their agents) run
// as when the server runs as root (--runner-user): the runner cannot read
// the server's data dir, its instance key or its database.
type RunAs struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
	Home   string
}

// LookupRunAs resolves a user name (or numeric id) to a RunAs. It refuses
// root (uid 0): that would be no separation at all.
func LookupRunAs(name string) (*RunAs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("runner user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("runner user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("runner user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("runner user %q is root: name an unprivileged user", name)
	}
	r := &RunAs{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != r.GID {
				r.Groups = append(r.Groups, uint32(n))
			}
		}
	}
	return r, nil
}

// Credential is for exec.Cmd.SysProcAttr.Credential: the user, its group
// and its supplementary groups.
func (r *RunAs) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: r.UID, Gid: r.GID, Groups: slices.Clone(r.Groups)}
}

// Env is what replaces the server's HOME, USER and LOGNAME (append it last).
func (r *RunAs) Env() []string {
	home := r.Home
	if home == "" {
		home = "/"
	}
	return []string{"HOME=" + home, "USER=" + r.Name, "LOGNAME=" + r.Name}
}

// own makes dir (created with mode 0700 if missing) belong to the user.
func (r *RunAs) own(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Lchown(dir, int(r.UID), int(r.GID))
}

// CanReach reports whether the user can enter every folder on the way to
// path (search permission on each ancestor, path included when it is a
// folder), and when not, which folder stops it. It reads modes, owners and
// groups; ACLs are not looked at.
func (r *RunAs) CanReach(path string) (ok bool, blocker string, err error) {
	path, err = filepath.Abs(path)
	if err != nil {
		return false, "", err
	}
	var dirs []string
	for d := path; ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) {
			// What does not exist yet is created by the server for the
			// user (or is not there to block anything).
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		if !fi.IsDir() {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		m := fi.Mode().Perm()
		switch {
		case st.Uid == r.UID:
			if m&0o100 == 0 {
				return false, d, nil
			}
		case st.Gid == r.GID || slices.Contains(r.Groups, st.Gid):
			if m&0o010 == 0 {
				return false, d, nil
			}
		default:
			if m&0o001 == 0 {
				return false, d, nil
			}
		}
	}
	return true, "", nil
}
