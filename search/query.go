package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Term is one unit of a parsed query: a phrase (words in order, matched
// exactly) or a bare token (each word a prefix match, all required; a
// token such as foo-bar gives two words).
type Term struct {
	Words  []string // lower case, letters and digits only, never empty
	Phrase bool
}

// Parsed is a query as both engines build it.
type Parsed struct {
	Pos []Term // required (ANDed; ORed on the retry)
	Neg []Term // excluded
}

// Parser limits: a query of any length is accepted; what is past them is
// ignored.
const (
	maxTerms     = 32
	maxWordRunes = 64
	minWordRunes = 2
)

// Parse reads a user's query. Any string parses:
//   - "a quoted phrase" matches those words in order (an unclosed quote
//     runs to the end);
//   - any other whitespace-separated token is split into words at every
//     character that is not a letter or a digit, and each word of two or
//     more characters matches as a prefix;
//   - a leading '-' excludes the token or phrase.
//
// Words are folded (Fold); letters of every script count (upstream kept
// only ASCII word characters).
func Parse(text string) Parsed {
	var p Parsed
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, " ")
	}
	rest := text
	for rest != "" && len(p.Pos)+len(p.Neg) < maxTerms {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		neg := false
		if rest[0] == '-' && len(rest) > 1 && !unicode.IsSpace(rune(rest[1])) {
			neg = true
			rest = rest[1:]
		}
		var t Term
		if rest[0] == '"' {
			body := rest[1:]
			end := strings.IndexByte(body, '"')
			if end < 0 {
				end = len(body)
				rest = ""
			} else {
				rest = body[end+1:]
			}
			// Inside quotes every word counts, and matches exactly.
			t = Term{Words: words(body[:end], 1), Phrase: true}
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			t = Term{Words: words(rest[:end], minWordRunes)}
			rest = rest[end:]
		}
		if len(t.Words) == 0 {
			continue
		}
		if neg {
			p.Neg = append(p.Neg, t)
		} else {
			p.Pos = append(p.Pos, t)
		}
	}
	return p
}

// words splits s at every rune that is not a letter or a digit, lower-
// cases the pieces and drops those shorter than min runes.
func words(s string, min int) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = Fold(w)
		n := utf8.RuneCountInString(w)
		if n < min {
			continue
		}
		if n > maxWordRunes {
			w = string([]rune(w)[:maxWordRunes])
		}
		out = append(out, w)
	}
	return out
}

// Fold lower-cases s and strips its diacritics (café → cafe), as both
// providers see text: FTS5's remove_diacritics does the same, and on
// Postgres, where unaccent is an extension we cannot count on, the
// provider folds the text it indexes.
func Fold(s string) string {
	s = strings.ToLower(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

// Empty reports whether the query has nothing to match.
func (p Parsed) Empty() bool { return len(p.Pos) == 0 }

// PosWords lists the words of the required terms, for snippets and the
// path boost.
func (p Parsed) PosWords() []string {
	var out []string
	for _, t := range p.Pos {
		out = append(out, t.Words...)
	}
	return out
}
