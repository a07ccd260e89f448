package tz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/tz"
)

func TestLoad(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"} {
		loc, err := tz.Load(name)
		if err != nil || loc.String() != name {
			t.Errorf("Load(%q) = %v, %v", name, loc, err)
		}
	}
	for _, name := range []string{"", "Local", "Mars/Olympus", "../../etc/passwd", "Europe\\Berlin", "UTC\x00", strings.Repeat("A", 65)} {
		if _, err := tz.Load(name); !errors.Is(err, tz.ErrInvalid) {
			t.Errorf("Load(%q): %v, want ErrInvalid", name, err)
		}
	}
}
