package blob

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Key rules. A key is 1 to MaxKeyBytes of UTF-8 made of segments separated
// by "/": no empty segment (so no leading, trailing or doubled slash), no
// "." or "..", no backslash, no control character, at most MaxSegmentBytes
// per segment (a file name must fit, with room for the filesystem driver's
// metadata name), and no segment starting with ReservedPrefix (the
// filesystem driver's own files).
const (
	MaxKeyBytes      = 1024
	MaxSegmentBytes  = 200
	ReservedPrefix   = ".agentops-"
	MaxMetadataBytes = 2048
)

// ValidateKey reports whether key may name an object; the error wraps
// ErrInvalidKey and says why.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if err := checkText(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix may start a List: "" or the start
// of a valid key (its complete segments valid, its last one possibly
// partial or empty after a trailing slash).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkText(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	// The last segment may be partial ("a/." may match "a/.env"): List
	// only compares it as text, so it needs no other rule.
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// ValidateCursor checks a List cursor: "" or a key.
func ValidateCursor(cursor string) error {
	if cursor == "" {
		return nil
	}
	return ValidateKey(cursor)
}

func checkText(s string) error {
	if len(s) > MaxKeyBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character %U", ErrInvalidKey, r)
		}
		if r == '\\' {
			return fmt.Errorf("%w: backslash", ErrInvalidKey)
		}
	}
	return nil
}

func checkSegment(seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("%w: empty path segment (leading, trailing or doubled slash)", ErrInvalidKey)
	case seg == "." || seg == "..":
		return fmt.Errorf("%w: %q segment", ErrInvalidKey, seg)
	case len(seg) > MaxSegmentBytes:
		return fmt.Errorf("%w: a segment is longer than %d bytes", ErrInvalidKey, MaxSegmentBytes)
	case strings.HasPrefix(seg, ReservedPrefix):
		return fmt.Errorf("%w: segments starting with %q are reserved", ErrInvalidKey, ReservedPrefix)
	}
	return nil
}

// ValidateMetadata checks Put metadata: keys of lower-case [a-z0-9-]
// starting with a letter or digit, values valid UTF-8 without control
// characters, at most MaxMetadataBytes of keys and values in all.
func ValidateMetadata(md map[string]string) error {
	total := 0
	for k, v := range md {
		total += len(k) + len(v)
		if k == "" || k[0] == '-' {
			return fmt.Errorf("blob: invalid metadata key %q", k)
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("blob: invalid metadata key %q: use lower-case letters, digits and '-'", k)
			}
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("blob: metadata %q is not valid UTF-8", k)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("blob: metadata %q has a control character", k)
			}
		}
	}
	if total > MaxMetadataBytes {
		return fmt.Errorf("blob: metadata is %d bytes; the limit is %d", total, MaxMetadataBytes)
	}
	return nil
}
