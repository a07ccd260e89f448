//go:build !linux

package main

import "time"

// Only Linux has child subreapers: elsewhere orphaned processes go to init
// and are not cleaned up.
func becomeSubreaper() error { return nil }

func endLeftovers(time.Duration) []string { return nil }
