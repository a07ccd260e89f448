package search

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
)

// isWordRune is what words are made of, in the index and in queries.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// indexWords splits text into folded words of at most maxWordRunes
// runes, as the parser makes query words.
func indexWords(text string) []string {
	ws := strings.FieldsFunc(Fold(text), func(r rune) bool { return !isWordRune(r) })
	for i, w := range ws {
		if utf8.RuneCountInString(w) > maxWordRunes {
			ws[i] = string([]rune(w)[:maxWordRunes])
		}
	}
	return ws
}

// stemPrefix is what a bare query word matches as a prefix: the longest
// common prefix of the word and its English stem (running → run, so it
// also finds runs; happy → happ, also happiness; migrations → migrat).
// Words that are not plain ASCII letters are their own prefix.
func stemPrefix(w string) string {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return w
		}
	}
	s := english.Stem(w, false)
	n := 0
	for n < len(s) && n < len(w) && s[n] == w[n] {
		n++
	}
	if n < minWordRunes {
		return w
	}
	return w[:n]
}

// userKey namespaces a user's tokens in the FTS5 index: 16 hex digits of
// the SHA-256 of the user id. FTS5 keeps terms sorted, so a user's terms
// are contiguous and a prefix query walks only theirs. Two users whose
// keys collided would share doclists, never results: every query also
// filters on the user id.
func userKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(sum[:8])
}

// tokenText is text as it goes into the FTS5 table (tokenizer 'ascii'):
// each word prefixed with the user's key, one token per word, so word
// positions (and phrases) are kept.
func tokenText(key, text string) string {
	ws := indexWords(text)
	var b strings.Builder
	b.Grow(len(text) + len(ws)*(len(key)+1))
	for i, w := range ws {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteString(w)
	}
	return b.String()
}
