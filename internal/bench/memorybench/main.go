// Command memorybench measures memory search: it bulk-loads memory files
// spread over -users users into a fresh database (SQLite in a temporary
// directory, or Postgres created on -postgres-url / the testenv server),
// growing it to each size of -sizes, and at each size times -queries
// searches of two kinds, printing p50/p99 as markdown rows:
//
//   - selective: a word that occurs in exactly one file of the whole
//     memory (the searching user's);
//   - common: "project" (in half of every user's files) and "note" (in
//     every file), alternately;
//   - common-absent: "quarterly", which is in half of all files (every file
//     of every other user) but in none of the searching user's: the
//     worst case for FTS5, which then falls back to prefixes (see
//     search/fts5.go).
//
// Searches go through the store as the API's do (one user, no path
// filter, limit 20), one at a time. Files are loaded with multi-row
// inserts and bypass the per-user cap (the run has 200 files per user at
// 1M). Every loop is bounded.
//
//	go run -tags sqlite_fts5 ./internal/bench/memorybench -db sqlite
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/memorybench -db postgres
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"

	"github.com/google/uuid"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
)

func main() {
	var (
		db      = flag.String("db", "sqlite", "sqlite or postgres")
		pgURL   = flag.String("postgres-url", os.Getenv("AGENTOPS_TEST_POSTGRES_URL"), "admin URL of a Postgres server to create a throwaway database on")
		sizes   = flag.String("sizes", "10000,100000,1000000", "comma-separated numbers of memory files to measure at")
		users   = flag.Int("users", 5000, "users the files are spread over")
		queries = flag.Int("queries", 2000, "searches per kind and size")
		seed    = flag.Uint64("seed", 1, "random seed (the corpus and the queries)")
		explain = flag.Bool("explain", false, "on Postgres, print the plan of one query of each kind at each size")
	)
	flag.Parse()
	if err := run(*db, *pgURL, *sizes, *users, *queries, *seed, *explain); err != nil {
		fmt.Fprintln(os.Stderr, "memorybench:", err)
		os.Exit(1)
	}
}

func run(db, pgURL, sizeList string, users, queries int, seed uint64, explain bool) error {
	var sizes []int
	for _, f := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < users {
			return fmt.Errorf("-sizes: %q must be numbers of at least -users (%d)", f, users)
		}
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	ctx := context.Background()
	dbURL, cleanup, err := database(ctx, db, pgURL)
	if err != nil {
		return err
	}
	defer cleanup()
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	ids, err := mkUsers(ctx, st, users)
	if err != nil {
		return err
	}
	c := corpus{rng: mrand.New(mrand.NewPCG(seed, seed+1)), users: ids}
	fmt.Printf("| database | files | users | query | p50 | p99 | mean hits |\n|---|---|---|---|---|---|---|\n")
	loaded := 0
	for _, n := range sizes {
		start := time.Now()
		for loaded < n {
			batch := c.files(loaded, min(n-loaded, 5000))
			if err := st.MemoryFiles().InsertMany(ctx, batch); err != nil {
				return err
			}
			loaded += len(batch)
		}
		if st.Dialect() == store.Postgres {
			// As autovacuum would after a load this size.
			if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "memorybench: %s: %d files loaded in %s\n", st.Dialect(), n, time.Since(start).Round(time.Millisecond))
		if explain && st.Dialect() == store.Postgres {
			for _, text := range []string{uniqueWord(7), "project", "quarterly"} {
				if err := printPlan(ctx, st, c.users[7], text); err != nil {
					return err
				}
			}
		}
		qr := mrand.New(mrand.NewPCG(seed+2, uint64(n)))
		for _, kind := range []string{"selective", "common", "common-absent"} {
			lat, hits, err := measure(ctx, st, c, qr, kind, n, queries)
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %d | %d | %s | %s | %s | %.1f |\n", st.Dialect(), n, users, kind,
				pct(lat, 0.50), pct(lat, 0.99), hits)
		}
	}
	return nil
}

// measure runs q searches of one kind over the first n files, after a
// warm-up of q/10.
func measure(ctx context.Context, st *store.Store, c corpus, rng *mrand.Rand, kind string, n, q int) ([]time.Duration, float64, error) {
	lat := make([]time.Duration, 0, q)
	total := 0
	for i := -q / 10; i < q; i++ {
		doc := rng.IntN(n)
		text := uniqueWord(doc)
		switch kind {
		case "common":
			text = []string{"project", "note"}[i&1]
		case "common-absent":
			text = "quarterly"
			if doc%len(c.users)%2 == 0 { // a user with it: take the next one, who has none
				doc = (doc + 1) % n
			}
		}
		start := time.Now()
		hits, err := st.MemoryFiles().Search(ctx, search.Query{UserID: c.users[doc%len(c.users)], Text: text, Limit: 20})
		d := time.Since(start)
		if err != nil {
			return nil, 0, err
		}
		if kind == "selective" && (len(hits) != 1 || hits[0].Path != c.path(doc)) {
			return nil, 0, fmt.Errorf("selective query %q found %d hits, want file %s", text, len(hits), c.path(doc))
		}
		if kind == "common-absent" && len(hits) != 0 {
			return nil, 0, fmt.Errorf("%q found %d files of a user who has none", text, len(hits))
		}
		if i >= 0 {
			lat = append(lat, d)
			total += len(hits)
		}
	}
	return lat, float64(total) / float64(q), nil
}

// printPlan prints Postgres' plan for the provider's query (its SQL as
// search/postgres.go builds it for one prefix word).
func printPlan(ctx context.Context, st *store.Store, userID, word string) error {
	var lines []string
	err := st.DB().NewRaw(`EXPLAIN (ANALYZE, COSTS OFF) SELECT d.doc_id, ts_rank('{0.1, 0.1, 0.5, 1.0}', d.tsv, qq.q, 1) AS score
		FROM search_tsv AS d, (SELECT to_tsquery('english', ?) AS q) AS qq
		WHERE d.user_id = ? AND d.tsv @@ qq.q ORDER BY score DESC LIMIT 20`, word+":*", userID).Scan(ctx, &lines)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "plan for %q:\n  %s\n", word, strings.Join(lines, "\n  "))
	return nil
}

func pct(lat []time.Duration, p float64) string {
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return fmt.Sprintf("%.2f ms", float64(s[max(i, 0)].Microseconds())/1000)
}

// database returns a fresh database URL and what removes it.
func database(ctx context.Context, db, pgURL string) (string, func(), error) {
	switch db {
	case "sqlite":
		dir, err := os.MkdirTemp("", "memorybench")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "agentops.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		if pgURL == "" {
			return "", nil, errors.New("-db postgres needs -postgres-url or AGENTOPS_TEST_POSTGRES_URL (run under go run ./internal/testutil/testenv --)")
		}
		return pgtest.CreateDatabase(ctx, pgURL, "memorybench")
	}
	return "", nil, fmt.Errorf("-db must be sqlite or postgres, not %q", db)
}

func mkUsers(ctx context.Context, st *store.Store, n int) ([]string, error) {
	now := store.Now()
	us := make([]store.User, n)
	ids := make([]string, n)
	for i := range us {
		ids[i] = uuid.NewString()
		us[i] = store.User{ID: ids[i], Email: fmt.Sprintf("user%d@example.com", i), Role: store.RoleMember,
			IdleTimeoutSeconds: 900, UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	}
	for i := 0; i < n; i += 500 {
		part := us[i:min(i+500, n)]
		if _, err := st.DB().NewInsert().Model(&part).Exec(ctx); err != nil {
			return nil, fmt.Errorf("create users: %w", err)
		}
	}
	return ids, nil
}

// corpus makes file i: owned by user i mod users, about 60 words over
// four lines drawn from a Zipf-distributed vocabulary of 20000 words,
// with "note" in every file, "project" in every other file of each user,
// "quarterly" in every file of every other user, and one word of its own
// (uniqueWord).
type corpus struct {
	rng   *mrand.Rand
	users []string
}

var topics = []string{"deploy", "database", "frontend", "review", "meeting", "incident", "design", "release", "budget", "hiring"}

func (c corpus) path(i int) string {
	return fmt.Sprintf("%s/%s-%d.md", topics[i%len(topics)], topics[(i/7)%len(topics)], i)
}

// uniqueWord is the one word only file i has: letters only, so no
// stemmer changes it.
func uniqueWord(i int) string {
	var b strings.Builder
	b.WriteString("zq")
	for n := i + 1; n > 0; n /= 21 {
		b.WriteByte("bcdfghjklmnpqrstvwxyz"[n%21])
	}
	return b.String()
}

// vocab is a word of the synthetic vocabulary: consonant-vowel
// syllables, so that every word is a plausible token for both stemmers.
func vocab(k int) string {
	const cons, vows = "bdfgklmnprstvz", "aeiou"
	var b strings.Builder
	for n := k + 1; n > 0; n /= len(cons) * len(vows) {
		d := n % (len(cons) * len(vows))
		b.WriteByte(cons[d/len(vows)])
		b.WriteByte(vows[d%len(vows)])
	}
	b.WriteByte('r')
	return b.String()
}

func (c corpus) files(from, n int) []store.MemoryFile {
	now := store.Now()
	zipf := mrand.NewZipf(c.rng, 1.1, 1, 19999)
	out := make([]store.MemoryFile, n)
	for j := range out {
		i := from + j
		var lines []string
		title := vocab(int(zipf.Uint64())) + " " + vocab(int(zipf.Uint64()))
		lines = append(lines, "# "+title)
		for l := 0; l < 4; l++ {
			words := make([]string, 15)
			for w := range words {
				words[w] = vocab(int(zipf.Uint64()))
			}
			lines = append(lines, strings.Join(words, " "))
		}
		lines[1] += " note " + uniqueWord(i)
		if (i/len(c.users))%2 == 0 {
			lines[2] += " project"
		}
		if i%len(c.users)%2 == 0 {
			lines[3] += " quarterly"
		}
		out[j] = store.MemoryFile{ID: uuid.NewString(), UserID: c.users[i%len(c.users)], Path: c.path(i), Title: title,
			Content: strings.Join(lines, "\n"), Relevance: 1, Version: 1, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now}
	}
	return out
}
