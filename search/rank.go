package search

import (
	"strings"
)

// snippetContext is how many lines around the best line a snippet shows.
const snippetContext = 2

// maxSnippetBytes bounds a snippet (a file may have very long lines).
const maxSnippetBytes = 2000

// Snippet returns the line of content in which the most query words occur
// (the first such line on a tie), with snippetContext lines on each side;
// "[...]" marks lines left out before or after.
func Snippet(content string, words []string) string {
	lines := strings.Split(content, "\n")
	best, bestScore := 0, -1
	for i, line := range lines {
		lower := Fold(line)
		score := 0
		for _, w := range words {
			if strings.Contains(lower, w) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	start := max(0, best-snippetContext)
	end := min(len(lines), best+snippetContext+1)
	s := strings.TrimSpace(strings.Join(lines[start:end], "\n"))
	if len(s) > maxSnippetBytes {
		s = strings.ToValidUTF8(s[:maxSnippetBytes], "") + "…"
	}
	if start > 0 {
		s = "[...]\n" + s
	}
	if end < len(lines) {
		s += "\n[...]"
	}
	return s
}

// relevance squashes an engine score (larger is better, >= 0) into (0, 1)
// and adds the path boost.
func relevance(score float64, path string, words []string) float64 {
	if score < 0 {
		score = -score
	}
	r := score / (1 + score)
	lp := Fold(path)
	for _, w := range words {
		if strings.Contains(lp, w) {
			r += 0.2
			break
		}
	}
	return min(r, 1)
}
