package protocol

import "unicode/utf8"

// UTF16Len is the length of s in UTF-16 code units, what a browser's
// string.length counts: the unit of chunk offsets.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 && r != utf8.RuneError {
			n += 2
		} else {
			n++
		}
	}
	return n
}
