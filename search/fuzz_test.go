package search_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// FuzzSearch: any string is a valid query and any string a valid path
// prefix, on both providers: no input may produce an error (an FTS5 or
// tsquery syntax error would be one). `make test` runs the seeds; run
// the fuzzer with
//
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go test -tags sqlite_fts5 -run '^$' -fuzz FuzzSearch -fuzztime 60s -fuzzminimizetime 2s ./search/
//
// (each input makes four database queries, so minimizing an interesting
// input with the default budget of 60 s looks like a stall)
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{
		"", " ", "-", "--", "\"", "\"\"", "\"unclosed phrase", "a", "control plane", "-control", "contr* pla*",
		"NOT", "AND OR NOT", "(", ")", "{path} : x", "owner : x", "path:x", "col:*", "x:*", "!x", "a & b | c",
		"'quoted'", "''", "\\", "NEAR(a b)", "^start", "a+b", "café zürich", "日本語のテキスト", "emoji 🎉 party",
		"\x00\x01\x02", "\xff\xfe", "rank", "rowid", "bm25(search_fts)", "'); DROP TABLE users; --", "%_%",
		"the", "a the of", "\"the\"", "-\"a phrase\"", "1e5 0x1f 3.14", "ǅ ǈ ǋ", "İstanbul", "ß straße",
	} {
		f.Add(seed, "")
		f.Add(seed, seed)
	}
	stores := map[store.Dialect]*store.Store{}
	users := map[store.Dialect]string{}
	for _, d := range storetest.Dialects {
		s := storetest.Open(f, d)
		stores[d] = s
		users[d] = mustUser(f, s)
		mustIndex(f, s,
			search.Doc{ID: "f1", UserID: users[d], Path: "notes/a.md", Title: "Notes", Content: "control plane\nNOT and OR are words here"},
			search.Doc{ID: "f2", UserID: users[d], Path: "path%/x_y.md", Title: "Odd path", Content: "café zürich 日本語"},
		)
	}
	f.Fuzz(func(t *testing.T, text, prefix string) {
		for d, s := range stores {
			// A query that runs for seconds on two short documents is a
			// bug too (a blow-up in the engine's query evaluation).
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			_, err := s.Search().Search(ctx, s.DB(), search.Query{UserID: users[d], Text: text, PathPrefix: prefix})
			cancel()
			if err != nil {
				t.Fatalf("%s: query %q prefix %q: %v", d, text, prefix, err)
			}
		}
	})
}
