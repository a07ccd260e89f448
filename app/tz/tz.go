// Package tz loads IANA time zones named by users: a name that a client
// sends (a profile setting, a query parameter, a schedule's zone).
package tz

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxNameLen bounds a zone name; the longest IANA names are about 30.
const MaxNameLen = 64

// ErrInvalid is wrapped by every error of Load.
var ErrInvalid = errors.New("not an IANA time zone")

// Load returns the zone called name. Unlike time.LoadLocation it refuses
// "" and "Local" (which would mean this server's own zone, something no
// client can know), and names with a backslash or a NUL or over
// MaxNameLen bytes, before touching the zone database.
func Load(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > MaxNameLen || strings.ContainsAny(name, "\\\x00") {
		return nil, fmt.Errorf("%q: %w", name, ErrInvalid)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, ErrInvalid)
	}
	return loc, nil
}
