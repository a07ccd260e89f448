// Package jsonnul finds and replaces the NUL character in JSON text. Valid
// JSON cannot hold a raw NUL byte, but a string may hold the escape
// \u0000, and neither SQLite's text nor Postgres' text and jsonb can store
// the character it stands for. The API refuses it (Has); text that comes
// from agents and webhooks, which a user cannot fix, has it replaced
// (Replace) by U+FFFD, the replacement character.
package jsonnul

// Has reports whether the JSON text b has the escape \u0000: a backslash
// that is not itself escaped, then u0000.
func Has(b []byte) bool { return next(b, 0) >= 0 }

// Replace rewrites every \u0000 escape in the JSON text b as \ufffd, in
// place (both are six bytes), and returns b.
func Replace(b []byte) []byte {
	for i := next(b, 0); i >= 0; i = next(b, i+6) {
		copy(b[i+2:i+6], "fffd")
	}
	return b
}

// next returns the index of the first \u0000 escape at or after from, or
// -1. Escapes are skipped whole, so in \\u0000 (an escaped backslash, then
// the text u0000) nothing is found.
func next(b []byte, from int) int {
	for i := from; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+6 <= len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
			return i
		}
		i++ // the escaped character
	}
	return -1
}
